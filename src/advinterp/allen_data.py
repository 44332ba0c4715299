"""The Allen Brain Map human MTG data as Le et al. (2022) prepared it — the data of the paper's Fig. 5c.

Le, Peng, Uy, Carrillo, Zhang, Aevermann & Scheuermann, "Machine learning for cell type
classification from single nucleus RNA sequencing data", PLoS ONE 17(9): e0275070 (2022).

- :func:`read_allen_zip` reads ``human_MTG_gene_expression_matrices_2018-06-14.zip`` (exon and intron
  matrices, genes × nuclei, summed; gene and sample metadata) in chunks of genes into a sparse AnnData.
- :func:`preprocess_allen` is Le et al.'s preprocessing: log2(CPM + 1), the "no class" nuclei dropped,
  genes with a zero total or constant per-cluster medians dropped.
- :func:`split_stratified` is their 60/20/20 stratified split.

No torch here (the data env runs it); their network is :mod:`advinterp.allen_mlp`. Where this follows
Le et al.'s scripts and where it departs from them is said at each function; the published numbers to
compare a full run against are in :data:`PUBLISHED`.
"""

from __future__ import annotations

import itertools
import logging
import math
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

log = logging.getLogger(__name__)

# Published facts for the full data set (Le et al. 2022 scripts; Sadria et al. 2023, section 3.4).
# ``n_genes_kept``: Sadria et al. and one comment of Le's notebook say 13,944; Le's R script
# (``round(13945*0.15)``) and another notebook comment imply 13,945. ``n_genes_total``: the rows of
# the exon and intron matrices.
PUBLISHED = {
    "n_nuclei": 15928,
    "n_no_class": 325,
    "n_cells_kept": 15603,
    "n_genes_total": 50281,
    "n_genes_kept": 13944,
    "n_genes_kept_alternative": 13945,
    "n_clusters": 75,
}

# The four members of the Allen zip, found by how their names end (the date prefix may differ).
MEMBER_SUFFIXES = {
    "exon": "exon-matrix.csv",
    "intron": "intron-matrix.csv",
    "genes": "genes-rows.csv",
    "samples": "samples-columns.csv",
}
# Columns of genes-rows.csv that may hold the matrices' gene ids (human MTG 2018: ``entrez_id``).
GENE_ID_COLUMNS = ("entrez_id", "gene_entrez_id")
NO_CLASS = "no class"


# --- reading the zip ---------------------------------------------------------------------------------

def _first(items, n: int = 5) -> str:
    items = list(items)
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(repr(i) for i in items[:n]) + more


def zip_members(path: str | Path) -> dict[str, str]:
    """Map ``exon``, ``intron``, ``genes``, ``samples`` to the zip's member names (matched by suffix)."""
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]
    members = {}
    for key, suffix in MEMBER_SUFFIXES.items():
        found = [n for n in names if n.endswith(suffix)]
        if not found:
            raise ValueError(f"{path}: no member ending in {suffix!r} (the Allen human MTG zip has one); "
                             f"members: {_first(names, 10)}")
        if len(found) > 1:
            raise ValueError(f"{path}: several members end in {suffix!r}: {_first(found)}")
        members[key] = found[0]
    return members


def _integer_counts(frame: pd.DataFrame, member: str) -> np.ndarray:
    values = frame.to_numpy()
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    if values.dtype.kind != "f" or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise ValueError(f"{member}: expected integer read counts; genes {_first(frame.index[:5])}… hold other "
                         "values (missing, non-numeric or fractional)")
    return values.astype(np.int64)


def _check_same(what: str, exon: pd.Index, intron: pd.Index, members: dict[str, str], offset: int = 0) -> None:
    """An error naming the first position where the exon and intron matrices' genes (or samples) differ."""
    if len(exon) != len(intron) or not exon.equals(intron):
        n = min(len(exon), len(intron))
        diff = np.flatnonzero(exon[:n].astype(str) != intron[:n].astype(str))
        at = int(diff[0]) if len(diff) else n
        e = str(exon[at]) if at < len(exon) else "<none>"
        i = str(intron[at]) if at < len(intron) else "<none>"
        raise ValueError(f"{members['exon']} and {members['intron']} differ in {what} order: {what} "
                         f"{offset + at + 1} is {e!r} in the exon matrix but {i!r} in the intron matrix")


def read_count_matrices(path: str | Path, chunksize: int = 500) -> tuple[sp.csr_matrix, pd.Index, pd.Index]:
    """exon + intron counts as a sparse CSR matrix (cells × genes), with the sample and gene ids.

    Both CSVs (genes × nuclei) are streamed from the zip ``chunksize`` genes at a time, in
    step; each chunk is summed, checked (same genes and samples, in the same order, integer
    counts) and kept only in sparse form. Peak memory is about twice the sparse result (the
    final conversion to row-compressed cells × genes) plus three dense chunks of ``chunksize`` ×
    nuclei int64 — never the dense matrix (50,281 × 15,928 int64 would be 6.4 GB for the full data).
    The data are int32 when the largest count fits, else int64.
    """
    if chunksize < 1:
        raise ValueError(f"chunksize must be >= 1, got {chunksize}")
    members = zip_members(path)
    blocks: list[sp.csc_matrix] = []  # int32 where the counts fit; hstack upcasts if one block does not
    genes: list[pd.Index] = []
    samples = None
    with zipfile.ZipFile(path) as zf, zf.open(members["exon"]) as fe, zf.open(members["intron"]) as fi:
        exon = pd.read_csv(fe, index_col=0, chunksize=chunksize)
        intron = pd.read_csv(fi, index_col=0, chunksize=chunksize)
        for ce, ci in itertools.zip_longest(exon, intron):
            done = sum(len(g) for g in genes)
            if ce is None or ci is None:
                longer = members["intron"] if ce is None else members["exon"]
                raise ValueError(f"{members['exon']} and {members['intron']} have different numbers of genes: "
                                 f"{longer} has more than {done}")
            if samples is None:
                _check_same("sample", ce.columns, ci.columns, members)
                samples = ce.columns
            _check_same("gene", ce.index, ci.index, members, offset=done)
            counts = _integer_counts(ce, members["exon"]) + _integer_counts(ci, members["intron"])
            genes.append(ce.index)
            del ce, ci
            block = sp.csr_matrix(counts).T  # cells × this chunk's genes, column-compressed; O(nnz)
            del counts
            if block.nnz and np.abs(block.data).max() <= np.iinfo(np.int32).max:
                block.data = block.data.astype(np.int32)
            blocks.append(block)
    if samples is None:
        raise ValueError(f"{path}: {members['exon']} holds no genes")
    x = sp.hstack(blocks, format="csc")
    del blocks
    x = x.tocsr()
    gene_index = genes[0].append(genes[1:]) if len(genes) > 1 else genes[0]
    return x, pd.Index(samples.astype(str)), pd.Index(gene_index.astype(str))


def _aligned_obs(samples: pd.DataFrame, names: pd.Index, member: str) -> pd.DataFrame:
    if "sample_name" not in samples:
        raise ValueError(f"{member}: no 'sample_name' column; columns: {list(samples.columns)}")
    key = samples["sample_name"].astype(str)
    dup = key[key.duplicated()].unique()
    if len(dup):
        raise ValueError(f"{member}: duplicated sample_name {_first(dup)}")
    missing = names.difference(pd.Index(key), sort=False)
    extra = pd.Index(key).difference(names, sort=False)
    if len(missing) or len(extra):
        raise ValueError(f"{member} does not match the matrices' samples: in the matrices but not in {member}: "
                         f"{_first(missing) or 'none'}; in {member} but not in the matrices: {_first(extra) or 'none'}")
    obs = samples.set_index(key).loc[names]
    obs.index.name = None
    return obs


def _aligned_var(genes: pd.DataFrame, gene_ids: pd.Index, member: str) -> pd.DataFrame:
    if "gene" not in genes:
        raise ValueError(f"{member}: no 'gene' (symbol) column; columns: {list(genes.columns)}")
    if len(genes) != len(gene_ids):
        raise ValueError(f"{member} has {len(genes)} genes but the matrices have {len(gene_ids)}")
    for column in GENE_ID_COLUMNS:
        if column in genes:
            ids = genes[column]
            if ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
                ids = ids.astype(np.int64)  # integer ids read as floats (a missing value elsewhere)
            ids = ids.astype(str).to_numpy()
            bad = np.flatnonzero(ids != gene_ids.to_numpy())
            if len(bad):
                at = int(bad[0])
                raise ValueError(f"{member} is not in the matrices' gene order: row {at + 1} has {column} "
                                 f"{ids[at]!r} but the matrices' gene id is {gene_ids[at]!r} "
                                 f"({len(bad)} rows differ)")
            break
    var = genes.copy()
    var.index = pd.Index(genes["gene"].astype(str), name=None)
    var["gene_id"] = gene_ids.to_numpy()
    return var


def read_allen_zip(path: str | Path, chunksize: int = 500) -> ad.AnnData:
    """The Allen human MTG zip as an AnnData: cells × genes, X = exon + intron read counts (sparse CSR).

    ``obs``: samples-columns.csv (``sample_name`` as the index, ``cluster`` …) in the matrices'
    column order; every nucleus must be described exactly once (else an error naming the samples
    that do not match). ``var``: genes-rows.csv, indexed by the symbol column ``gene`` (made unique
    if needed), with the matrices' own gene ids in ``gene_id``; genes-rows is taken to be in the
    matrices' row order, as the Allen readme and Le et al.'s R script assume, and checked against
    its ``entrez_id`` column when it has one. See :func:`read_count_matrices` for the chunking.
    """
    members = zip_members(path)
    with zipfile.ZipFile(path) as zf:  # the small tables first: a wrong one fails before the long read
        with zf.open(members["samples"]) as f:
            sample_table = pd.read_csv(f)
        with zf.open(members["genes"]) as f:
            gene_table = pd.read_csv(f)
    for table, column in ((sample_table, "sample_name"), (gene_table, "gene")):
        if column not in table:
            member = members["samples" if table is sample_table else "genes"]
            raise ValueError(f"{member}: no {column!r} column; columns: {list(table.columns)}")
    x, samples, gene_ids = read_count_matrices(path, chunksize)
    obs = _aligned_obs(sample_table, samples, members["samples"])
    var = _aligned_var(gene_table, gene_ids, members["genes"])
    adata = ad.AnnData(X=x, obs=obs, var=var)
    if not adata.var_names.is_unique:
        log.warning("%s: %d duplicated gene symbols made unique", members["genes"],
                    int(adata.var_names.duplicated().sum()))
        adata.var_names_make_unique()
    adata.uns["allen_source"] = {"zip": Path(path).name, **members, "chunksize": int(chunksize)}
    return adata


# --- preprocessing (Le et al.) -------------------------------------------------------------------------

def library_sizes(x) -> np.ndarray:
    """Each cell's total count over all genes given (float64); an error if a cell has none."""
    totals = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    if np.any(totals <= 0):
        raise ValueError(f"{int(np.sum(totals <= 0))} cells have no counts: their CPM is undefined")
    return totals


def log2_cpm(x, totals: np.ndarray | None = None, dtype=np.float64) -> sp.csr_matrix:
    """log2(CPM + 1) as sparse CSR, CPM = count / library size × 1e6 (edgeR ``cpm`` on a plain matrix).

    ``totals``: the cells' library sizes, when ``x`` holds only some of the genes (Le et al. take
    them over all genes); by default ``x``'s row sums. Computed in float64, returned as ``dtype``.
    """
    x = sp.csr_matrix(x)
    totals = library_sizes(x) if totals is None else np.asarray(totals, dtype=np.float64)
    data = x.data.astype(np.float64) * np.repeat(1e6 / totals, np.diff(x.indptr))
    np.log2(data + 1.0, out=data)
    return sp.csr_matrix((data.astype(dtype, copy=False), x.indices.copy(), x.indptr.copy()), shape=x.shape)


def sparse_column_medians(x) -> np.ndarray:
    """Median of each column of a non-negative sparse matrix, without densifying it.

    Within each column the stored values are sorted; the implicit zeros come first (all
    values are ≥ 0), so the k-th smallest value is 0 for k < n_zeros, else the (k − n_zeros)-th
    stored value. The median is the mean of the two middle values (as R's and NumPy's).
    """
    x = sp.csc_matrix(x)
    n_rows, n_cols = x.shape
    if n_rows == 0:
        raise ValueError("median of an empty set of cells")
    if x.nnz and x.data.min() < 0:
        raise ValueError("sparse_column_medians needs non-negative values")
    counts = np.diff(x.indptr)
    column = np.repeat(np.arange(n_cols), counts)
    values = x.data[np.lexsort((x.data, column))]
    zeros = n_rows - counts

    def kth(k: int) -> np.ndarray:
        pos = x.indptr[:-1] + k - zeros
        stored = k >= zeros
        out = np.zeros(n_cols)
        out[stored] = values[pos[stored]]
        return out

    return (kth((n_rows - 1) // 2) + kth(n_rows // 2)) / 2


def preprocess_allen(adata: ad.AnnData, cluster_key: str = "cluster", no_class: str = NO_CLASS) -> ad.AnnData:
    """Le et al.'s preprocessing of the human MTG counts (exon + intron, :func:`read_allen_zip`).

    1. log2(CPM + 1), the library size of each nucleus taken over all genes (edgeR ``cpm`` on the
       plain matrix: no TMM), before any filter.
    2. Nuclei whose ``cluster`` is ``"no class"`` (failed QC) are dropped and counted.
    3. Genes kept: non-zero total over all nuclei (the "no class" ones included, as in Le's R
       script) **and** non-zero variance across the remaining clusters of the per-cluster medians
       of log2(CPM + 1). The variance test is "not all medians equal" — exact, where a computed
       variance can be a rounding error away from 0; medians come from float64 values, cluster by
       cluster on the sparse matrix.

    Returns cells × kept genes with X = log2(CPM + 1) as float32 CSR, and
    ``uns["allen_preprocess"]`` with ``n_cells_in``, ``n_no_class``, ``n_cells_kept``,
    ``n_genes_in``, ``n_genes_nonzero``, ``n_genes_kept``, ``n_clusters`` and the ``published``
    numbers. Published (full data): 15,928 nuclei → 15,603 after dropping 325 "no class";
    ~13,944 genes kept (Le's own comments say 13,944 or 13,945); 75 clusters.
    Not done here: Le's network script then keeps only genes whose var/mean of the cluster medians
    exceeds 3.5 (``cov_filtered_3.5``); Sadria et al.'s 13,944 genes are this unfiltered set.
    """
    if cluster_key not in adata.obs:
        raise ValueError(f"no obs column {cluster_key!r}; obs columns: {list(adata.obs.columns)}")
    clusters = adata.obs[cluster_key]
    if clusters.isna().any():
        raise ValueError(f"obs[{cluster_key!r}] has {int(clusters.isna().sum())} missing labels")
    clusters = clusters.astype(str).to_numpy()
    raw = sp.csr_matrix(adata.X)
    totals = library_sizes(raw)  # over all genes and all cells, before any filter
    nonzero = np.asarray(raw.sum(axis=0)).ravel() > 0
    keep_cells = clusters != no_class
    names = sorted(set(clusters[keep_cells]))
    if not names:
        raise ValueError(f"every cell is {no_class!r}")

    def logged(rows: np.ndarray, genes: np.ndarray | None = None, dtype=np.float64) -> sp.csr_matrix:
        # one slice at a time, so the whole matrix is never held in float64
        sub = raw[rows] if genes is None else raw[rows][:, genes]
        return log2_cpm(sub, totals[rows], dtype)

    medians = np.vstack([sparse_column_medians(logged(np.flatnonzero(clusters == c))) for c in names])
    varies = medians.max(axis=0) > medians.min(axis=0)
    keep_genes = nonzero & varies
    x = logged(np.flatnonzero(keep_cells), np.flatnonzero(keep_genes), np.float32)
    out = ad.AnnData(X=x, obs=adata.obs.loc[keep_cells].copy(), var=adata.var.loc[keep_genes].copy())
    out.uns["allen_preprocess"] = {
        "cluster_key": cluster_key,
        "n_cells_in": int(adata.n_obs),
        "n_no_class": int((~keep_cells).sum()),
        "n_cells_kept": int(keep_cells.sum()),
        "n_genes_in": int(adata.n_vars),
        "n_genes_nonzero": int(nonzero.sum()),
        "n_genes_kept": int(keep_genes.sum()),
        "n_clusters": len(names),
        "published": dict(PUBLISHED),
    }
    log.info("Allen preprocessing: %(n_cells_in)d cells, %(n_no_class)d 'no class' dropped; %(n_genes_in)d genes, "
             "%(n_genes_kept)d kept; %(n_clusters)d clusters", out.uns["allen_preprocess"])
    return out


def encode_labels(labels) -> tuple[np.ndarray, list[str]]:
    """Integer codes of ``labels`` in the sorted order of the class names (Le's labels.csv order)."""
    names = sorted({str(v) for v in labels})
    lookup = {n: i for i, n in enumerate(names)}
    return np.array([lookup[str(v)] for v in labels], dtype=np.int64), names


def split_stratified(labels, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                     seed: int = 314) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test indices (each sorted), stratified by ``labels``.

    As Le et al.: scikit-learn ``train_test_split`` twice — first the validation + test share off
    the training cells, then that share split into validation and test — each stratified and with
    ``random_state=seed`` (theirs: 314).
    """
    labels = np.asarray(labels)
    train_f, val_f, test_f = (float(f) for f in fractions)
    if min(train_f, val_f, test_f) <= 0 or not math.isclose(train_f + val_f + test_f, 1.0):
        raise ValueError(f"split fractions {list(fractions)} must be three positive numbers summing to 1")
    index = np.arange(len(labels))
    train, held = train_test_split(index, test_size=val_f + test_f, stratify=labels, random_state=seed)
    val, test = train_test_split(held, test_size=test_f / (val_f + test_f), stratify=labels[held],
                                 random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


SPLITS = ("train", "val", "test")


def annotator_data(adata: ad.AnnData, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 314,
                   cluster_key: str = "cluster") -> ad.AnnData:
    """Le et al.'s input to their MLP: :func:`preprocess_allen`, then their stratified split
    (:func:`split_stratified`) in ``obs['split']`` (``train``/``val``/``test``), recorded in
    ``uns['allen_split']``."""
    out = preprocess_allen(adata, cluster_key=cluster_key)
    parts = split_stratified(out.obs[cluster_key].astype(str).to_numpy(), tuple(fractions), seed)
    split = np.empty(out.n_obs, dtype=object)
    for name, index in zip(SPLITS, parts, strict=True):
        split[index] = name
    out.obs["split"] = pd.Categorical(split, categories=list(SPLITS))
    out.uns["allen_split"] = {"fractions": [float(f) for f in fractions], "seed": int(seed),
                              "cluster_key": cluster_key, **{name: int(len(i)) for name, i in zip(SPLITS, parts,
                                                                                                  strict=True)}}
    return out
