"""Loaders of the registry's datasets (issue #5); each returns integer counts in ``X``."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp

PBMC68K_MAX_RELATIVE_RESIDUAL = 1e-3


def recover_counts(log_normalized, n_counts, target_sum: float = 1e4) -> tuple[np.ndarray, float]:
    """Integer counts from log1p(counts / n_counts · target_sum): round(expm1(x) · n_counts / target_sum).

    Returns the counts and the largest residual relative to the rounded count (|c - round(c)| /
    max(round(c), 1)); the caller checks it, since a matrix that was not normalised this
    way gives large residuals.
    """
    x = log_normalized.toarray() if sp.issparse(log_normalized) else np.asarray(log_normalized)
    raw = np.expm1(x.astype(np.float64)) * np.asarray(n_counts, dtype=np.float64)[:, None] / target_sum
    counts = np.rint(raw)
    residual = float((np.abs(raw - counts) / np.maximum(counts, 1)).max()) if raw.size else 0.0
    return counts, residual


def load_pbmc68k() -> ad.AnnData:
    """scanpy's embedded ``pbmc68k_reduced`` (700 PBMCs, 765 genes) with its counts recovered.

    The file ships ``.X`` scaled and ``.raw`` log-normalised (target sum 1e4 of the cell's
    ``n_counts`` over *all* of its genes), so counts = round(expm1(raw.X) · n_counts / 1e4).
    The file stores those values rounded to 3 decimals, so the recovered values sit within
    7.6e-4 (relative) of an integer — up to 0.08 absolute at the largest counts (~260);
    anything above 1e-3 relative is an error. Labels in ``obs['bulk_labels']``.
    """
    import scanpy as sc

    src = sc.datasets.pbmc68k_reduced()
    counts, residual = recover_counts(src.raw.X, src.obs["n_counts"].to_numpy())
    if residual > PBMC68K_MAX_RELATIVE_RESIDUAL:
        raise ValueError(f"pbmc68k: counts recovered from raw.X are off by {residual:.2g} (relative) from "
                         f"integers; the scanpy file is not normalised as expected")
    out = ad.AnnData(X=counts.astype(np.float32), obs=src.obs.copy(), var=src.raw.var.copy())
    out.var_names = src.raw.var_names
    return out


def read_mtx_dataset(matrix: str, obs_csv: str, var_csv: str, gene_column: str = "x") -> ad.AnnData:
    """A dataset published as a Matrix Market file plus two CSVs (e.g. GSE124872, the SingleCellNet
    lung query): ``matrix`` (.mtx or .mtx.gz, genes × cells or cells × genes: the orientation is
    read off the two tables), ``obs_csv`` (one row per cell, its first column the cell id) and
    ``var_csv`` (one row per gene, the names in ``gene_column``). Counts stay sparse (CSR).
    """
    import pandas as pd
    import scipy.io

    try:
        x = scipy.io.mmread(matrix)
    except (OSError, ValueError) as err:
        raise ValueError(f"{matrix} is not a readable Matrix Market file ({type(err).__name__}: {err})") from None
    obs = pd.read_csv(obs_csv)
    obs = obs.set_index(obs.columns[0])
    obs.index = obs.index.astype(str)
    genes = pd.read_csv(var_csv)
    if gene_column not in genes.columns:
        raise ValueError(f"{var_csv} has no column {gene_column!r} with the gene names; columns: {list(genes.columns)}")
    names = genes[gene_column].astype(str)
    shape = (len(obs), len(names))
    if x.shape == shape[::-1]:
        x = x.T
    elif x.shape != shape:
        raise ValueError(f"{matrix} is {x.shape[0]} × {x.shape[1]}, but {obs_csv} lists {len(obs)} cells and "
                         f"{var_csv} {len(names)} genes; the three files do not belong together")
    out = ad.AnnData(X=sp.csr_matrix(x), obs=obs, var=pd.DataFrame(index=pd.Index(names.to_numpy(), name=None)))
    out.var_names_make_unique()
    return out


def read_source(entry: dict, path: str | list[str] | None) -> ad.AnnData:
    """The dataset's AnnData as stored: scanpy's pbmc68k, a downloaded .h5ad/.loom, Matrix Market
    dataset (``path`` = its matrix, cell table and gene table) or Allen zip, or the user's .h5ad."""
    source = entry.get("source", "path")
    if source == "scanpy":
        return load_pbmc68k()
    fmt = entry.get("format") or ("loom" if str(path).endswith(".loom") else "h5ad")
    if fmt == "mtx":
        matrix, obs, var = path
        return read_mtx_dataset(matrix, obs, var, gene_column=entry.get("gene_column", "x"))
    if fmt == "allen_zip":
        from advinterp.allen_data import read_allen_zip

        return read_allen_zip(path)
    try:
        if fmt == "loom":
            return ad.read_loom(path, sparse=True)
        return ad.read_h5ad(path)
    except (OSError, KeyError, ValueError) as err:  # h5py: "file signature not found" and kin
        raise ValueError(f"{path} is not a readable .{fmt} file ({type(err).__name__}: {err}); check that the "
                         f"file is complete (an interrupted copy or download) and really is {fmt.upper()}") from None


def check_expected(adata: ad.AnnData, entry: dict, name: str) -> None:
    """The registry's expected cell count and label set, checked after loading."""
    label_key = entry["label_key"]
    if "n_cells" in entry and adata.n_obs != entry["n_cells"]:
        raise ValueError(f"dataset {name}: {adata.n_obs} cells, the registry expects {entry['n_cells']}; "
                         f"the file is not the published one (check workflow/resources/datasets.yaml)")
    if "labels" in entry:
        found = set(adata.obs[label_key].dropna().astype(str))
        if found != set(entry["labels"]):
            raise ValueError(f"dataset {name}: obs[{label_key!r}] labels {sorted(found)} differ from the "
                             f"registry's {sorted(entry['labels'])} (missing: {sorted(set(entry['labels']) - found)}, "
                             f"unexpected: {sorted(found - set(entry['labels']))})")


def apply_cell_filter(adata: ad.AnnData, cell_filter: dict, source: str) -> ad.AnnData:
    """Cells whose obs columns reach the registry's minimums (e.g. ``{"nGene": 500}``)."""
    keep = np.ones(adata.n_obs, dtype=bool)
    for column, minimum in cell_filter.items():
        if column not in adata.obs:
            raise ValueError(f"{source}: cell_filter names obs column {column!r}, which the data do not have; "
                             f"columns: {list(adata.obs.columns)}")
        keep &= adata.obs[column].to_numpy() >= minimum
    return adata[keep].copy()


def load_dataset(name: str, entry: dict, path: str | list[str] | None, min_cells_per_class: int,
                 small_classes: str = "error") -> ad.AnnData:
    """A dataset ready for :func:`advinterp.preprocess.preprocess`, checked before any heavy work.

    Takes the values from ``counts_layer`` (or ``X``), keeps the label column, checks the
    values (counts: finite, non-negative integers; normalised: finite, non-negative;
    log-normalised: finite, non-negative, on a log scale), at least two classes,
    duplicate genes, the registry's cell count and labels, and classes smaller than
    ``min_cells_per_class`` (an error, or dropped with a warning). The result records its
    provenance in ``uns['dataset']``. The registry's ``cell_filter`` is applied first.
    """
    from advinterp.preprocess import check_values, enforce_min_cells, require_label_key

    source = f"dataset {name}"
    try:
        raw = read_source(entry, path)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    label_key = entry["label_key"]
    require_label_key(raw, label_key, source)
    if entry.get("cell_filter"):
        raw = apply_cell_filter(raw, entry["cell_filter"], source)
    layer = entry.get("counts_layer")
    if layer and layer not in raw.layers:
        raise ValueError(f"{source}: counts_layer {layer!r} is not a layer; available: {list(raw.layers)}")
    x = raw.layers[layer] if layer else raw.X
    out = ad.AnnData(X=x, obs=raw.obs[[label_key]].copy(), var=raw.var[[]].copy())
    values = entry.get("values", "counts")
    check_values(out, label_key, values, source)
    out.obs[label_key] = out.obs[label_key].astype(str).astype("category")
    check_expected(out, entry, name)
    out = enforce_min_cells(out, label_key, min_cells_per_class, small_classes, source)
    classes = out.obs[label_key].nunique()
    if classes < 2:
        raise ValueError(f"{source}: obs[{label_key!r}] has {classes} class{'es' if classes != 1 else ''}; a "
                         f"cell-type classifier needs at least two (check label_key)")
    out.uns["dataset"] = {"name": name, "label_key": label_key, "values": values,
                          "organism": entry.get("organism", "none"), "source": entry.get("source", "path")}
    return out
