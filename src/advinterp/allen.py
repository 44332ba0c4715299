"""The Allen Brain Map human MTG data and the MLP of Le et al. (2022) — the paper's Fig. 5c.

Le, Peng, Uy, Carrillo, Zhang, Aevermann & Scheuermann, "Machine learning for cell type
classification from single nucleus RNA sequencing data", PLoS ONE 17(9): e0275070 (2022).
Sadria et al. attack this published classifier with FGSM (F1 per cell type, clean vs attacked).

- :func:`read_allen_zip` reads ``human_MTG_gene_expression_matrices_2018-06-14.zip`` (exon and intron
  matrices, genes × nuclei, summed; gene and sample metadata) in chunks of genes into a sparse AnnData.
- :func:`preprocess_allen` is Le et al.'s preprocessing: log2(CPM + 1), the "no class" nuclei dropped,
  genes with a zero total or constant per-cluster medians dropped.
- :class:`AllenMLP` / :class:`AllenMLPSpec` / :func:`train_allen_mlp` are their network and its Keras
  training (early stopping on the validation loss), optionally with Madry-style adversarial training
  (beyond the paper), and :func:`split_stratified` their 60/20/20 stratified split.
- :func:`f1_per_class`, :func:`attacked_f1` and :func:`f1_sweep` give per-type F1, clean and under the
  white-box attacks of :mod:`advinterp.attacks`.

Where this follows Le et al.'s scripts and where it departs from them is said at each function; the
published numbers to compare a full run against are in :data:`PUBLISHED`.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

from advinterp.attacks import attack as run_attack
from advinterp.device import model_device
from advinterp.io import atomic_path
from advinterp.model import as_float_tensor, predict, predict_logits
from advinterp.specs import ATTACKS, AttackSpec, _build

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
HISTORY_COLUMNS = ["epoch", "loss", "val_loss", "train_accuracy", "val_accuracy"]
F1_COLUMNS = ["class", "f1", "support"]


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


# --- the network ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllenMLPSpec:
    """Le et al.'s network and its Keras training.

    3 hidden Dense(100, relu) layers with L2 ``l2`` on their kernels (``regularizers.l2(1e-5)``: adds
    ``l2 · Σw²`` to the loss), Adam (Keras defaults: ``learning_rate`` 1e-3, ``adam_epsilon`` 1e-7), batch
    32, at most 30 epochs, early stopping on the validation loss (``patience`` 5, ``min_delta`` 0).
    ``restore_best``: Le's script leaves Keras' ``restore_best_weights=False``, so the last epoch's
    weights are kept. ``split``: train/validation/test fractions (stratified).
    """

    SECTION: ClassVar[tuple[str, ...]] = ("allen_mlp",)

    hidden: tuple[int, ...] = (100, 100, 100)
    l2: float = 1e-5
    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-7
    batch_size: int = 32
    max_epochs: int = 30
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = False
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    eval_batch_size: int = 4096

    def __post_init__(self):
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"allen_mlp.hidden={list(self.hidden)}: give one or more positive layer widths")
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ValueError("allen_mlp.batch_size, max_epochs and patience must be >= 1")
        if self.l2 < 0 or self.min_delta < 0 or self.learning_rate < 0:
            raise ValueError("allen_mlp.l2, min_delta and learning_rate must be >= 0")
        if len(self.split) != 3:
            raise ValueError(f"allen_mlp.split={list(self.split)}: give train, validation and test fractions")

    @classmethod
    def from_config(cls, section: dict) -> AllenMLPSpec:
        """From its config section; an unknown key is an error naming it."""
        return _build(cls, section, {"hidden": lambda v: tuple(int(h) for h in v), "split": lambda v: tuple(
            float(f) for f in v), "l2": float, "learning_rate": float, "adam_epsilon": float, "min_delta": float})


@dataclass(frozen=True)
class AllenAdversarialSpec:
    """Madry-style adversarial training of the Allen MLP (beyond the paper): in every mini-batch the
    second half of the cells is replaced by ``attack`` (``fgsm``, ``pgd``; :mod:`advinterp.attacks`) at
    ``epsilon`` against the network being trained. PGD: ``pgd_steps`` steps of ``pgd_step_size``
    (None: ε/4), from a random point of the ball if ``pgd_random_start``."""

    SECTION: ClassVar[tuple[str, ...]] = ("allen_mlp", "adversarial")

    epsilon: float
    attack: str = "fgsm"
    pgd_steps: int = 10
    pgd_step_size: float | None = None
    pgd_random_start: bool = False

    def __post_init__(self):
        if self.attack not in ATTACKS:
            raise ValueError(f"allen_mlp.adversarial.attack={self.attack!r}; use one of {list(ATTACKS)}")
        if not self.epsilon > 0:
            raise ValueError(f"allen_mlp.adversarial.epsilon={self.epsilon} must be > 0")

    @classmethod
    def from_config(cls, section: dict) -> AllenAdversarialSpec:
        """From its config section (``epsilon`` required); an unknown key is an error naming it."""
        if "epsilon" not in section:
            raise ValueError("allen_mlp.adversarial needs an 'epsilon'")
        return _build(cls, section, {"epsilon": float})

    def attack_spec(self) -> AttackSpec:
        return AttackSpec(pgd_steps=self.pgd_steps, pgd_step_size=self.pgd_step_size,
                          pgd_random_start=self.pgd_random_start)


class AllenMLP(nn.Module):
    """input → ``hidden`` × (Linear + ReLU) → Linear(n_classes) logits (softmax in the loss).

    Initialised as Keras' Dense layers are: Glorot-uniform kernels (``xavier_uniform_``, gain 1),
    zero biases — not PyTorch's default (Kaiming-uniform, non-zero biases).
    """

    def __init__(self, n_inputs: int, n_classes: int, hidden: tuple[int, ...] = (100, 100, 100)):
        super().__init__()
        widths = [n_inputs, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.out = nn.Linear(widths[-1], n_classes)
        for layer in [*self.hidden, self.out]:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)

    def l2_penalty(self) -> torch.Tensor:
        """Σw² over the hidden layers' kernels (not their biases, not the output layer), as Keras'
        ``kernel_regularizer`` on the hidden Dense layers; multiply by the spec's ``l2``."""
        return sum((layer.weight ** 2).sum() for layer in self.hidden)


def _tensor(x, device: torch.device) -> torch.Tensor:
    if sp.issparse(x):
        x = x.toarray()
    return as_float_tensor(x).to(device)


def _labels(y, device: torch.device) -> torch.Tensor:
    return (y.long() if torch.is_tensor(y) else torch.as_tensor(np.asarray(y), dtype=torch.long)).to(device)


@torch.no_grad()
def evaluate_allen(model: AllenMLP, x, y, l2: float = 0.0, batch_size: int = 4096) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` on (x, y) in eval mode; loss = mean cross-entropy + ``l2`` · Σw²
    over hidden kernels — Keras' ``val_loss``, which includes the regularisation term."""
    device = model_device(model)
    logits = predict_logits(model, x.toarray() if sp.issparse(x) else x, device, batch_size)
    y = _labels(y, torch.device("cpu"))
    loss = F.cross_entropy(logits, y).item() + l2 * float(model.l2_penalty())
    return loss, float((logits.argmax(1) == y).float().mean())


def train_allen_mlp(x_train, y_train, x_val, y_val, spec: AllenMLPSpec | None = None, seed: int = 0,
                    device: torch.device | str = "cpu", adversarial: AllenAdversarialSpec | None = None,
                    n_classes: int | None = None) -> tuple[AllenMLP, pd.DataFrame]:
    """Train :class:`AllenMLP` as Le et al.'s Keras script does; returns ``(model in eval mode, history)``.

    Each epoch: the training cells shuffled (seeded), mini-batches of ``batch_size`` (the last one
    partial), loss = mean cross-entropy + ``l2`` · Σw² over hidden kernels (an explicit penalty, not
    Adam weight decay), Adam with ``eps=adam_epsilon`` (PyTorch adds ε after the bias correction,
    Keras before: a negligible difference). Then the validation loss (with the penalty, as Keras)
    decides early stopping: an improvement is ``val_loss − min_delta < best``; training stops once
    ``patience`` epochs in a row bring none. The last epoch's weights are returned unless
    ``restore_best`` (then those of the best validation loss — restored whether or not training stopped
    early, as Keras ≥ 2.11; Keras 2.10 restored only on an early stop).

    ``adversarial``: see :class:`AllenAdversarialSpec`; the attacked half of each batch is crafted
    with :func:`advinterp.attacks.attack` against the current weights (seed ``seed + step``), no
    clipping to the data's range. ``n_classes`` defaults to the largest label + 1.

    History columns: ``epoch``, ``loss`` (mean over the epoch's training cells as trained on, penalty
    included — Keras' ``loss``), ``val_loss``, ``train_accuracy`` (on the batches as trained on, like
    Keras' running ``accuracy``), ``val_accuracy``; ``history.attrs`` holds ``best_epoch``,
    ``stopped_early`` and ``restored_best``. Deterministic on the CPU for a given seed (and thread count).
    """
    spec = spec or AllenMLPSpec()
    device = torch.device(device)
    y_train_np, y_val_np = np.asarray(y_train), np.asarray(y_val)
    if n_classes is None:
        n_classes = int(max(y_train_np.max(), y_val_np.max())) + 1
    torch.manual_seed(seed)
    model = AllenMLP(x_train.shape[1], n_classes, spec.hidden).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=spec.learning_rate, eps=spec.adam_epsilon)
    xt, yt = _tensor(x_train, device), _labels(y_train_np, device)
    xv = x_val.toarray() if sp.issparse(x_val) else x_val
    attack_spec = adversarial.attack_spec() if adversarial is not None else None
    gen = torch.Generator().manual_seed(seed)
    rows, best, best_epoch, best_state, wait, step = [], math.inf, 0, None, 0, 0
    stopped = False
    for epoch in range(1, spec.max_epochs + 1):
        model.train()
        order = torch.randperm(len(xt), generator=gen).to(device)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(xt), spec.batch_size):
            idx = order[i:i + spec.batch_size]
            xb, yb = xt[idx], yt[idx]
            if adversarial is not None:
                half = len(idx) // 2
                x_adv = run_attack(adversarial.attack, model, xb[half:], yb[half:], adversarial.epsilon,
                                   attack_spec, seed=seed + step)
                xb = torch.cat([xb[:half], x_adv])
                model.train()
            step += 1
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb) + spec.l2 * model.l2_penalty()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1) == yb).sum())
        val_loss, val_acc = evaluate_allen(model, xv, y_val_np, spec.l2, spec.eval_batch_size)
        rows.append((epoch, loss_sum / len(xt), val_loss, correct / len(xt), val_acc))
        log.info("epoch %d loss %.4f val_loss %.4f accuracy %.4f val_accuracy %.4f", *rows[-1])
        if val_loss - spec.min_delta < best:
            best, best_epoch, wait = val_loss, epoch, 0
            if spec.restore_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            wait += 1
            if wait >= spec.patience:
                stopped = True
                log.info("early stop after epoch %d (best val_loss %.4f at epoch %d)", epoch, best, best_epoch)
                break
    if spec.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    history.attrs.update(best_epoch=best_epoch, stopped_early=stopped,
                         restored_best=bool(spec.restore_best and best_state is not None))
    return model, history


def save_allen_model(path: str | Path, model: AllenMLP, class_names: list[str], gene_names: list[str],
                     spec: AllenMLPSpec, **meta) -> None:
    """State dict, input size, hidden widths, class and gene names, the spec and ``meta``."""
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "n_inputs": int(model.hidden[0].in_features),
        "hidden": [int(layer.out_features) for layer in model.hidden],
        "class_names": list(class_names),
        "gene_names": list(gene_names),
        "spec": asdict(spec),
        "meta": meta,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_allen_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[AllenMLP, dict]:
    """Rebuild a model saved by :func:`save_allen_model`: ``(model in eval mode, payload)``."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model = AllenMLP(payload["n_inputs"], len(payload["class_names"]), tuple(payload["hidden"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


# --- evaluation -------------------------------------------------------------------------------------------

def f1_per_class(y_true, y_pred, class_names: list[str]) -> pd.DataFrame:
    """``class, f1, support`` for every class (sklearn F1 per label, 0 where undefined; support = true cells)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.arange(len(class_names))
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    support = np.bincount(y_true, minlength=len(class_names))[:len(class_names)]
    return pd.DataFrame({"class": list(class_names), "f1": f1.astype(float), "support": support.astype(int)})


def attacked_f1(model: nn.Module, x, y, class_names: list[str], attack: str, epsilon: float,
                spec: AttackSpec | None = None, seed: int = 0) -> pd.DataFrame:
    """:func:`f1_per_class` of ``model`` on ``x`` attacked white-box against ``model`` itself.

    ``attack``: ``fgsm`` | ``pgd`` (| ``apgd``) from :mod:`advinterp.attacks`, untargeted, with the
    true labels ``y`` (ART, which Sadria et al. used, takes the model's predictions when no labels
    are given), in the model's input space (log2 CPM), no clipping; ``epsilon`` 0 gives clean F1.
    """
    x = x.toarray() if sp.issparse(x) else x
    x_adv = run_attack(attack, model, x, np.asarray(y), epsilon, spec, seed=seed)
    y_pred = predict(model, x_adv, model_device(model), (spec or AttackSpec()).batch_size)
    return f1_per_class(y, y_pred, class_names)


def f1_sweep(model: nn.Module, x, y, class_names: list[str], attacks: list[str], epsilons: list[float],
             spec: AttackSpec | None = None, seed: int = 0) -> pd.DataFrame:
    """Long table ``attack, epsilon, class, f1, support``: clean rows (``attack`` "none", ε 0), then
    every attack at every ε > 0 (:func:`attacked_f1`)."""
    x = x.toarray() if sp.issparse(x) else x
    clean = f1_per_class(y, predict(model, x, model_device(model)), class_names)
    tables = [clean.assign(attack="none", epsilon=0.0)]
    for name in attacks:
        for eps in epsilons:
            if eps > 0:
                table = attacked_f1(model, x, y, class_names, name, float(eps), spec, seed)
                tables.append(table.assign(attack=name, epsilon=float(eps)))
    return pd.concat(tables, ignore_index=True)[["attack", "epsilon", *F1_COLUMNS]]
