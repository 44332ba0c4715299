"""Preprocessing shared by every dataset (paper section 2.3).

counts → gene filter (≥ ``min_counts`` total counts) → library-size normalisation →
log1p → top ``n_hvg`` highly variable genes → stratified train/test split →
per-gene z-scoring with mean and SD of the *training* cells only.

Inputs that are already log-normalised (``values="log_normalized"``, e.g. log2(TPM+1) from
SMART-seq) skip normalisation and log1p; their gene filter keeps genes expressed in at least
``min_cells`` cells (there are no counts to sum), and HVG selection must use a flavour made for
log data (``seurat`` or ``cell_ranger``; ``seurat_v3`` models counts). Library-size-normalised
values that are not logged (``values="normalized"``: TPM, CPM) are log1p-transformed first, then
take the same path.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from advinterp.specs import MAX_LOG_VALUE, PreprocessSpec
from advinterp.store import STORE_VALUES, mark_samples, zscore_fit

log = logging.getLogger(__name__)


def require_label_key(adata: ad.AnnData, label_key: str, source: str = "dataset") -> None:
    """An error listing the obs keys when ``label_key`` is not one of them."""
    if label_key not in adata.obs:
        raise ValueError(
            f"{source}: label key {label_key!r} is not in obs; available keys: {list(adata.obs.columns)}"
        )


def check_values(adata: ad.AnnData, label_key: str, values: str = "counts", source: str = "dataset") -> None:
    """One clear error for inputs the preprocessing cannot use, before any work.

    Always: the label column exists and has no missing labels, X is finite and non-negative,
    gene names are unique. ``values="counts"``: integers (else: which setting fits);
    ``"log_normalized"``: at most ``MAX_LOG_VALUE`` (larger values are not logged: use
    ``normalized``); ``"normalized"``: any non-negative values (TPM, CPM).
    """
    require_label_key(adata, label_key, source)
    if adata.obs[label_key].isna().any():
        raise ValueError(f"{source}: obs[{label_key!r}] has missing labels; drop or label those cells")
    x = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{source}: X contains NaN or infinite values")
    if (x < 0).any():
        if values == "counts":
            raise ValueError(f"{source}: X contains negative values but counts are expected")
        raise ValueError(f"{source}: X contains negative values, but log-normalised values (log(x + 1) >= 0) "
                         f"are expected; pass unscaled values (not z-scores)")
    if values == "counts" and not np.allclose(x, np.round(x)):
        raise ValueError(f"{source}: X holds non-integer values (e.g. {_first_fraction(x):g}) but values: counts "
                         f"expects integer counts; set values: normalized for TPM/CPM-like values, or values: "
                         f"log_normalized if they are already logged (max {x.max() if x.size else 0:g})")
    if values == "log_normalized" and x.size and x.max() > MAX_LOG_VALUE:
        raise ValueError(f"{source}: X reaches {x.max():g}, beyond any log scale (values: log_normalized expects "
                         f"log(x + 1) values, at most {MAX_LOG_VALUE:g}); these look like unlogged values: set "
                         f"values: normalized for TPM/CPM, or values: counts for integer counts")
    if not adata.var_names.is_unique:
        dup = adata.var_names[adata.var_names.duplicated()].unique()[:5].tolist()
        raise ValueError(f"{source}: duplicate gene names, e.g. {dup}; make var_names unique")


def _first_fraction(x: np.ndarray) -> float:
    frac = x[~np.isclose(x, np.round(x))]
    return float(frac.flat[0]) if frac.size else float("nan")


def enforce_min_cells(adata: ad.AnnData, label_key: str, min_cells: int, action: str = "error",
                      source: str = "dataset") -> ad.AnnData:
    """Classes with fewer than ``min_cells`` cells: an error naming them (``action="error"``) or
    dropped with a warning (``"drop"``). Returns ``adata`` unchanged when every class is large enough."""
    if action not in ("error", "drop"):
        raise ValueError(f"{source}: min_cells_per_class action {action!r}; use 'error' or 'drop'")
    counts = adata.obs[label_key].astype(str).value_counts()
    small = counts[counts < min_cells]
    if small.empty:
        return adata
    listing = ", ".join(f"{c} ({n})" for c, n in small.sort_index().items())
    if action == "error":
        raise ValueError(f"{source}: classes with fewer than {min_cells} cells (min_cells_per_class): {listing}; "
                         f"lower min_cells_per_class or set it to drop them")
    if len(small) >= len(counts) - 1:
        raise ValueError(f"{source}: dropping the classes with fewer than {min_cells} cells ({listing}) "
                         f"would leave fewer than two classes")
    log.warning("%s: dropping classes with fewer than %d cells: %s", source, min_cells, listing)
    keep = ~adata.obs[label_key].astype(str).isin(small.index).to_numpy()
    out = adata[keep].copy()
    if hasattr(out.obs[label_key], "cat"):
        out.obs[label_key] = out.obs[label_key].cat.remove_unused_categories()
    return out


def stratified_split(labels: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """'train'/'test' per cell, stratified by label, reproducible from ``seed``."""
    idx = np.arange(len(labels))
    _, test = train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)
    split = np.full(len(labels), "train", dtype=object)
    split[test] = "test"
    return split


def drop_zero_cells(adata: ad.AnnData, spec: PreprocessSpec, gene_filter: str, min_cells_per_class: int = 2,
                    source: str = "dataset") -> tuple[ad.AnnData, int]:
    """Cells left with nothing (all zero) by the gene filter: dropped with a logged count
    (``spec.zero_cells="drop"``) or a ValueError naming ``source``, their number and the setting
    (``"error"``). Returns the cells kept and the number dropped.

    Dropping may leave a class with fewer than ``min_cells_per_class`` cells (or none): that is
    an error naming the classes, not a failure of the split downstream.
    """
    x = adata.X
    totals = np.asarray(x.sum(axis=1)).ravel() if sp.issparse(x) else np.asarray(x).sum(axis=1)
    zero = totals == 0
    n_zero = int(zero.sum())
    if not n_zero:
        return adata, 0
    where = (f"{n_zero} of {adata.n_obs} cells have zero counts after the gene filter (it keeps genes that "
             f"{gene_filter})")
    if spec.zero_cells == "error":
        raise ValueError(f"{source}: {where}; set preprocess.zero_cells: drop (in the config, or in this dataset's "
                         f"preprocess overrides) to drop them, or lower the gene filter")
    labels = adata.obs[spec.label_key].astype(str)
    before, after = labels.value_counts(), labels[~zero].value_counts()
    short = {c: int(after.get(c, 0)) for c in before.index if after.get(c, 0) < min_cells_per_class}
    if short:
        listing = ", ".join(f"{c} ({n} left of {before[c]})" for c, n in sorted(short.items()))
        raise ValueError(f"{source}: {where}; dropping them (preprocess.zero_cells: drop) leaves classes with fewer "
                         f"than {min_cells_per_class} cells (min_cells_per_class): {listing}; lower the gene filter "
                         f"or remove those cells or classes from the input")
    log.warning("%s: %s; dropping them (preprocess.zero_cells: drop)", source, where)
    out = adata[~zero].copy()
    if hasattr(out.obs[spec.label_key], "cat"):
        out.obs[spec.label_key] = out.obs[spec.label_key].cat.remove_unused_categories()
    return out, n_zero


def preprocess(adata: ad.AnnData, spec: PreprocessSpec, seed: int, min_cells_per_class: int = 2,
               source: str = "dataset", samples: dict[str, int | None] | None = None,
               copy: bool = True) -> ad.AnnData:
    """Counts AnnData → model-ready AnnData.

    Output, the preprocessed store (:mod:`advinterp.store`): ``X`` the log-normalised values of the
    HVGs (sparse CSR, float32), ``var['highly_variable']`` and scanpy's HVG statistics,
    ``var['train_mean']``/``var['train_std']`` (the z-scoring, fitted on the training cells; the
    model input is :func:`advinterp.store.zscored`), ``obs['split']``, and
    ``uns['preprocess']``: the spec, the seed, ``x`` (what ``X`` holds), ``samples`` (the
    stratified samples of at most ``samples[name]`` cells marked in ``obs['sample_{name}']``,
    :func:`advinterp.store.mark_samples`), the gene counts at each step and the number of
    cells dropped for zero counts after the gene filter (:func:`drop_zero_cells`). ``source``
    names the dataset in errors and log messages. ``copy=False`` works on ``adata`` itself, which
    is left changed (saves a copy of the input: the workflow's rule, at atlas scale).
    """
    spec.check()
    log_input = spec.values != "counts"
    check_values(adata, spec.label_key, spec.values, source)
    if copy:
        adata = adata.copy()
    x = adata.X
    adata.X = sp.csr_matrix(x, dtype=np.float32) if sp.issparse(x) else np.asarray(x, dtype=np.float32)
    n_genes_in = adata.n_vars
    if spec.values == "normalized":  # TPM/CPM-like: log1p, then the log-normalised path
        sc.pp.log1p(adata)

    if log_input:
        sc.pp.filter_genes(adata, min_cells=spec.min_cells)
        gene_filter = f"are expressed in >= {spec.min_cells} cells (preprocess.min_cells)"
    else:
        if spec.hvg_flavor == "seurat_v3":  # it models the counts (a copy: atlas-sized inputs, only then)
            adata.layers["counts"] = adata.X.copy()
        sc.pp.filter_genes(adata, min_counts=spec.min_counts)
        gene_filter = f"have >= {spec.min_counts} counts (preprocess.min_counts)"
    if adata.n_vars == 0:
        raise ValueError(f"{source}: no gene is left: none {gene_filter}; lower it or check the input")
    n_genes_filtered = adata.n_vars
    n_cells_in = adata.n_obs
    adata, n_zero_cells = drop_zero_cells(adata, spec, gene_filter, min_cells_per_class, source)
    if not log_input:
        sc.pp.normalize_total(adata, target_sum=spec.target_sum)
        sc.pp.log1p(adata)

    n_top = min(spec.n_hvg, adata.n_vars)
    if n_top < spec.n_hvg:
        log.warning(
            "only %d genes pass the gene filter, fewer than n_hvg=%d: keeping them all", adata.n_vars, spec.n_hvg,
        )
        adata.var["highly_variable"] = True
    else:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor=spec.hvg_flavor,
                                    layer="counts" if spec.hvg_flavor == "seurat_v3" else None)
        adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()

    labels = adata.obs[spec.label_key].astype(str).to_numpy()
    split = stratified_split(labels, spec.test_size, seed)
    adata.obs["split"] = pd.Categorical(split, categories=["train", "test"])

    # the store: log-normalised values, sparse; the model input is z-scored from them on demand
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    for layer in ("counts", "log_normalized"):
        adata.layers.pop(layer, None)
    mean, std = zscore_fit(adata.X, np.flatnonzero(split == "train"))
    adata.var["train_mean"] = mean.astype(np.float64)
    adata.var["train_std"] = std.astype(np.float64)
    adata.uns["preprocess"] = {
        **{k: v for k, v in asdict(spec).items() if v is not None},
        "seed": int(seed),
        "x": STORE_VALUES,
        "n_genes_input": int(n_genes_in),
        "n_genes_min_counts": int(n_genes_filtered),
        "n_genes_model": int(adata.n_vars),
        "n_cells_input": int(n_cells_in),
        "zero_cells_dropped": int(n_zero_cells),
    }
    adata.uns["preprocess"]["samples"] = mark_samples(adata, samples or {}, seed)
    log.info(
        "%s: preprocessed %d cells: %d -> %d genes, %d train / %d test", source,
        adata.n_obs, n_genes_in, adata.n_vars, int((split == "train").sum()), int((split == "test").sum()),
    )
    return adata
