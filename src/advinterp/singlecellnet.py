"""SingleCellNet (Tan & Cahan 2019) with an SVM, and white-box attacks on it (paper Fig. 5a, b).

A re-implementation of the pySCN tutorial's classifier, written from a description of its
behaviour (not from its code), with the random forest replaced by a scikit-learn SVM as in
Sadria et al. 2023:

1. per class, ``min(n_class - cells_reserved, n_train_per_class)`` training cells
   (:func:`split_per_class`); the rest is held out;
2. on the training cells only, and only to *select* genes and pairs: counts scaled to
   ``counts_per_cell_after`` per cell, log1p, highly variable genes (scanpy, ``flavor='seurat'``),
   per-gene z-score clipped above at ``scale_max`` (:func:`zscore`);
3. class genes: a pre-filter on the z-scored matrix (:func:`gene_prefilter`), then per class the
   ``n_top_genes`` genes most positively and the ``n_top_genes`` most negatively correlated with the
   class indicator (point-biserial correlation, :func:`class_correlation`);
4. gene pairs: every pair within a class's gene list, scored by the correlation of its indicator
   ``z_i > z_j`` with the class, accepted greedily (positive correlations only, each gene in at most
   ``max_pairs_per_gene`` pairs) up to ``n_top_pairs`` per class (:func:`select_pairs`); the union
   over classes is the feature set. Pairs are ``(i, j)`` index tuples into :attr:`SCNModel.genes`;
5. features: the binary top-pair transform ``1 if x_i > x_j else 0`` (ties -> 0) on each cell's
   expression (:func:`pair_transform`). It is computed on counts or log1p-CPM, which give the same
   features (per-cell scaling and log1p are monotone within a cell), not on the z-scored matrix
   the pairs were chosen on -- an inconsistency of the original, kept;
6. ``n_rand`` random profiles as an extra class ``"rand"`` (:func:`random_profiles`), then
   ``SVC(kernel, C, gamma, decision_function_shape="ovr")`` on training features + random rows.

A cell's label is the argmax of the SVM's one-vs-rest ``decision_function`` over all classes,
``"rand"`` included (:func:`classify`, :func:`predict_pairs`). ``SVC.predict`` is not used: it
counts one-vs-one votes and breaks ties by class order, whereas the ovr decision function breaks
them by the summed confidences, so the two can differ on ties.

Attacks (L∞, untargeted, white-box, on the true labels), in two input spaces:

* **pair-feature space** (:func:`fgsm_pairs`, :func:`pgd_pairs`): the SVM's own input, which is
  what an attack through ART's ``ScikitlearnSVC`` (the paper's toolbox) perturbs. Features are
  clipped to [0, 1] and stop being binary, so such inputs do not correspond to any expression
  profile;
* **expression space with BPDA** (Athalye et al. 2018; :func:`fgsm_bpda`, :func:`pgd_bpda`):
  log1p-CPM expression of the model's genes, kept >= 0; the forward pass is the exact binary
  transform, the backward pass the gradient of ``sigmoid((e_i - e_j) / tau)`` per pair.

Both maximise the multi-class margin loss of :func:`ovo_margin_loss` through a differentiable
torch copy of the fitted SVC's one-vs-one decision values (:class:`TorchOvOSVC`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import precision_recall_fscore_support
from sklearn.svm import SVC
from torch import nn

from advinterp.device import select_device

log = logging.getLogger(__name__)

RAND = "rand"
PRECISION_RECALL_COLUMNS = ["class", "precision", "recall", "support"]


@dataclass(frozen=True)
class SCNSpec:
    """SingleCellNet's parameters: the pySCN tutorial's (``scn_train(nTopGenes=100, nRand=100,
    nTopGenePairs=100, stratify=True, limitToHVG=True)``, ``splitCommonAnnData(ncells=200)``) with
    scikit-learn's ``SVC()`` defaults for the classifier, plus the attacks' settings.

    ``n_top_genes``: genes per class *and direction* (up to 2 × 100 per class). ``n_top_pairs``:
    pairs accepted per class -- 100 as the issue says; pySCN's acceptance loop stops at n - 1, so
    it keeps 99. ``scale_max``: z-scores are clipped above only (scanpy <= 1.9, which the paper ran).
    Attacks: PGD takes ``attack_steps`` steps of ``attack_step_size`` (None = ε/4) with no random
    start; ``bpda_tau`` is the surrogate's temperature in log1p-CPM units; ``batch_size`` cells at
    a time.
    """

    SECTION: ClassVar[tuple[str, ...]] = ("singlecellnet", "model")

    n_train_per_class: int = 200
    cells_reserved: int = 3
    n_top_genes: int = 100
    n_top_pairs: int = 100
    max_pairs_per_gene: int = 3
    n_rand: int = 100
    counts_per_cell_after: float = 1e4
    hvg_min_mean: float = 0.0125
    hvg_max_mean: float = 4.0
    hvg_min_disp: float = 0.5
    limit_to_hvg: bool = True
    scale_max: float = 10.0
    svm_c: float = 1.0
    svm_kernel: str = "rbf"
    svm_gamma: str | float = "scale"
    bpda_tau: float = 0.1
    attack_steps: int = 10
    attack_step_size: float | None = None
    batch_size: int = 1024

    KERNELS: ClassVar[tuple[str, ...]] = ("rbf", "linear", "poly", "sigmoid")

    def __post_init__(self):
        for name in ("n_train_per_class", "n_top_genes", "n_top_pairs", "max_pairs_per_gene", "attack_steps",
                     "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{self._key(name)}={getattr(self, name)} must be >= 1")
        for name in ("cells_reserved", "n_rand"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{self._key(name)}={getattr(self, name)} must be >= 0")
        if self.svm_kernel not in self.KERNELS:
            raise ValueError(f"{self._key('svm_kernel')}={self.svm_kernel!r}; use one of {list(self.KERNELS)}")
        if isinstance(self.svm_gamma, str) and self.svm_gamma not in ("scale", "auto"):
            raise ValueError(f"{self._key('svm_gamma')}={self.svm_gamma!r}; use 'scale', 'auto' or a number")
        if self.bpda_tau <= 0 or self.svm_c <= 0 or self.counts_per_cell_after <= 0:
            raise ValueError(f"{self._key('bpda_tau')}, {self._key('svm_c')} and "
                             f"{self._key('counts_per_cell_after')} must be > 0")

    def _key(self, name: str) -> str:
        return ".".join(self.SECTION + (name,))

    @classmethod
    def from_config(cls, section: dict) -> SCNSpec:
        """From the ``singlecellnet`` section; absent keys take the defaults, unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - names)
        if unknown:
            raise ValueError(f"unknown {'.'.join(cls.SECTION)} keys {unknown}; known: {sorted(names)}")
        section = dict(section)
        for key in ("counts_per_cell_after", "hvg_min_mean", "hvg_max_mean", "hvg_min_disp", "scale_max", "svm_c",
                    "bpda_tau"):
            if key in section:
                section[key] = float(section[key])
        if section.get("attack_step_size") is not None:
            section["attack_step_size"] = float(section["attack_step_size"])
        gamma = section.get("svm_gamma")
        if gamma is not None and not isinstance(gamma, str):
            section["svm_gamma"] = float(gamma)
        return cls(**section)


@dataclass
class SCNModel:
    """A trained SingleCellNet: the genes it reads, its pairs, its classes and the fitted SVC.

    ``pairs[k] = (i, j)``: feature k is ``1 if expr[genes[i]] > expr[genes[j]] else 0``.
    ``classes`` is ``svc.classes_`` (sorted, ``"rand"`` included). ``class_genes`` and
    ``class_pairs`` keep each class's own selection (gene names, and pairs as index tuples into
    ``genes``), for reporting.
    """

    genes: np.ndarray
    pairs: np.ndarray
    classes: np.ndarray
    svc: SVC
    spec: SCNSpec
    seed: int
    n_hvg: int
    class_genes: dict[str, list[str]] = field(default_factory=dict)
    class_pairs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def pair_names(self) -> list[str]:
        """``"geneI_geneJ"``, for display only (gene symbols may contain ``_``)."""
        return [f"{self.genes[i]}_{self.genes[j]}" for i, j in self.pairs]


@dataclass
class Classification:
    """What :func:`classify` returns: labels, the ovr decision values, and how many of the model's
    genes the query lacked (read as 0)."""

    labels: np.ndarray
    scores: pd.DataFrame
    n_missing_genes: int


# --------------------------------------------------------------------------------------------- data


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def split_per_class(labels, n: int, reserved: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out cell indices: per class (in sorted order), ``min(n_class - reserved, n)``
    cells drawn without replacement from ``rng``; every other cell is held out. Both sorted.

    A class with ``reserved`` cells or fewer leaves nothing to train on: ValueError naming it.
    """
    labels = np.asarray(labels)
    train = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        if len(idx) <= reserved:
            raise ValueError(f"class {cls!r} has {len(idx)} cells; SingleCellNet's split needs more than "
                             f"cells_reserved={reserved}")
        train.append(rng.choice(idx, size=min(len(idx) - reserved, n), replace=False))
    train_idx = np.sort(np.concatenate(train)) if train else np.array([], dtype=int)
    held_out = np.setdiff1d(np.arange(len(labels)), train_idx)
    return train_idx, held_out


def log1p_cpm(counts, target_sum: float = 1e4) -> np.ndarray:
    """log1p of counts scaled to ``target_sum`` per cell (dense float64; all-zero cells stay 0).

    The library size is each row's sum over the columns given, so pass all of a cell's genes and
    subset afterwards (:func:`align_genes`).
    """
    x = _dense(counts).astype(np.float64)
    totals = x.sum(axis=1, keepdims=True)
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    return np.log1p(x * scale)


def align_genes(x, gene_names, genes) -> tuple[np.ndarray, int]:
    """``x`` (cells × ``gene_names``) reindexed to ``genes`` (dense), missing genes as 0, and how many
    were missing. Duplicated query gene names are an error (which column would be meant?)."""
    names = pd.Index(np.asarray(gene_names).astype(str))
    if names.has_duplicates:
        raise ValueError(f"duplicated gene names in the query: {list(names[names.duplicated()].unique()[:5])}")
    pos = names.get_indexer(np.asarray(genes).astype(str))
    present = pos >= 0
    out = np.zeros((x.shape[0], len(genes)), dtype=np.float64)
    if present.any():
        out[:, present] = _dense(x[:, pos[present]])
    return out, int((~present).sum())


# -------------------------------------------------------------------------------------- selection


def zscore(x: np.ndarray, max_value: float | None) -> np.ndarray:
    """Per-gene z-score (ddof=1; a constant gene becomes 0), clipped **above** at ``max_value``.

    Upper-only clipping is scanpy's ``pp.scale(max_value=...)`` up to 1.9 (the version the paper
    ran); scanpy >= 1.10 also clips below at ``-max_value``. The two differ only for values more
    than ``max_value`` standard deviations below a gene's mean.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
    std[std == 0] = 1.0
    z = (x - mean) / std
    if max_value is not None:
        np.minimum(z, max_value, out=z)
    return z


def gene_prefilter(z: np.ndarray, alpha1: float = 0.05, alpha2: float = 0.001, mu: float = 2.0) -> np.ndarray:
    """pySCN's pre-filter on the z-scored matrix: keep a gene when the fraction of cells above 0
    exceeds ``alpha1``, or exceeds ``alpha2`` with the mean of those values above ``mu``."""
    pos = z > 0
    frac = pos.mean(axis=0)
    n_pos = pos.sum(axis=0)
    mean_pos = np.divide(np.where(pos, z, 0).sum(axis=0), n_pos, out=np.zeros(z.shape[1]), where=n_pos > 0)
    return (frac > alpha1) | ((frac > alpha2) & (mean_pos > mu))


def class_correlation(x: np.ndarray, indicator: np.ndarray) -> np.ndarray:
    """Point-biserial (Pearson) correlation of a 0/1 class indicator with every column of ``x``.

    This is pySCN's ``cval`` (sqrt(R²)·sign(t) of the regression of each gene on the indicator).
    A constant column gives NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    p = np.asarray(indicator, dtype=np.float64)
    pc = p - p.mean()
    xc = x - x.mean(axis=0)
    num = pc @ xc
    den = np.sqrt((pc @ pc) * np.einsum("ij,ij->j", xc, xc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    r[den == 0] = np.nan
    return r


def top_bottom_genes(cval: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest then the ``n`` smallest values of ``cval`` (NaN dropped), in
    descending order (the most negative gene comes last). Ties keep column order (a stable sort;
    pySCN's order of ties is arbitrary). If fewer than 2n genes remain the two halves overlap; a
    gene is then listed once (pySCN would list it twice)."""
    valid = np.flatnonzero(~np.isnan(cval))
    order = valid[np.argsort(-cval[valid], kind="stable")]
    picked = np.concatenate([order[:n], order[max(len(order) - n, 0):]])
    _, first = np.unique(picked, return_index=True)
    return picked[np.sort(first)]


def pair_correlation(z: np.ndarray, gene_idx: np.ndarray, indicator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(gene_idx[a], gene_idx[b])``, a < b (list order, as ``itertools.combinations``),
    and the correlation (phi) of each pair's indicator ``z_i > z_j`` with the class indicator."""
    gene_idx = np.asarray(gene_idx, dtype=int)
    a, b = np.triu_indices(len(gene_idx), k=1)
    pairs = np.stack([gene_idx[a], gene_idx[b]], axis=1)
    ind = np.asarray(indicator, dtype=bool)
    n, n_class = len(ind), int(ind.sum())
    # one gene against all later ones at a time: memory of cells × genes, not cells × pairs
    zc = z[:, gene_idx]
    n1 = np.empty(len(pairs))
    n11 = np.empty(len(pairs))
    start = 0
    for k in range(len(gene_idx) - 1):
        bits = zc[:, [k]] > zc[:, k + 1:]
        stop = start + bits.shape[1]
        n1[start:stop] = bits.sum(axis=0)
        n11[start:stop] = bits[ind].sum(axis=0)
        start = stop
    den = np.sqrt(n1 * (n - n1) * n_class * (n - n_class))
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = (n * n11 - n1 * n_class) / den
    phi[den == 0] = np.nan
    return pairs, phi


def select_pairs(pairs: np.ndarray, score: np.ndarray, n: int, max_per_gene: int) -> list[tuple[int, int]]:
    """Greedy acceptance: by ``score`` descending (ties in the given order), positive scores only,
    a pair is taken when both of its genes are in fewer than ``max_per_gene`` accepted pairs; stop
    at ``n`` pairs. (pySCN walks on into non-positive scores when too few positive pairs fit, and
    stops at n - 1 pairs.)"""
    keep = np.flatnonzero(np.nan_to_num(score, nan=-np.inf) > 0)
    order = keep[np.argsort(-score[keep], kind="stable")]
    used: dict[int, int] = {}
    out: list[tuple[int, int]] = []
    for k in order:
        i, j = int(pairs[k, 0]), int(pairs[k, 1])
        if used.get(i, 0) < max_per_gene and used.get(j, 0) < max_per_gene:
            out.append((i, j))
            used[i] = used.get(i, 0) + 1
            used[j] = used.get(j, 0) + 1
            if len(out) == n:
                break
    return out


def highly_variable(logx, spec: SCNSpec) -> np.ndarray:
    """Boolean mask of highly variable genes: scanpy ``highly_variable_genes(flavor='seurat')`` on
    log1p-normalised data with the spec's thresholds (``n_bins=20``)."""
    import anndata as ad
    import scanpy as sc

    adata = ad.AnnData(sp.csr_matrix(logx) if not sp.issparse(logx) else logx.tocsr())
    df = sc.pp.highly_variable_genes(adata, flavor="seurat", min_mean=spec.hvg_min_mean, max_mean=spec.hvg_max_mean,
                                     min_disp=spec.hvg_min_disp, inplace=False)
    return np.asarray(df["highly_variable"], dtype=bool)


# ------------------------------------------------------------------------------------- transform


def pair_transform(expr, pairs: np.ndarray) -> np.ndarray:
    """The top-pair transform: ``out[c, k] = 1.0 if expr[c, pairs[k, 0]] > expr[c, pairs[k, 1]] else 0.0``.

    Strict ``>``: ties (0 vs 0 included) give 0. ``expr`` is cells × the model's genes, counts or
    log1p-CPM (the same result).
    """
    x = _dense(expr)
    pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    return (x[:, pairs[:, 0]] > x[:, pairs[:, 1]]).astype(np.float64)


def shuffle_rows_then_columns(mat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """pySCN's randomisation: each row's values permuted across columns, then each column's values
    permuted across rows (both from ``rng``)."""
    step1 = rng.permuted(np.asarray(mat), axis=1)
    return rng.permuted(step1, axis=0)


def random_profiles(pair_matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The ``"rand"`` class: the first ``n`` rows of :func:`shuffle_rows_then_columns` of the
    training pair matrix."""
    if n > len(pair_matrix):
        raise ValueError(f"n_rand={n} random profiles need at least as many training cells ({len(pair_matrix)})")
    return shuffle_rows_then_columns(pair_matrix, rng)[:n]


# -------------------------------------------------------------------------------------- training


def train_scn(counts, labels, gene_names, spec: SCNSpec | None = None, seed: int = 0) -> SCNModel:
    """Train SingleCellNet with an SVM on exactly the cells given (raw counts, cells × genes).

    Split first with :func:`split_per_class` (or use :func:`fit_reference`). ``seed`` draws the
    random profiles (``np.random.default_rng([seed, 2])``); the SVC itself is deterministic.
    """
    spec = spec or SCNSpec()
    labels = np.asarray(labels).astype(str)
    gene_names = np.asarray(gene_names).astype(str)
    if counts.shape != (len(labels), len(gene_names)):
        raise ValueError(f"counts are {counts.shape}; expected {len(labels)} cells × {len(gene_names)} genes")
    if RAND in set(labels):
        raise ValueError(f"a training class is called {RAND!r}, the name of SingleCellNet's random class")
    classes = [str(c) for c in np.unique(labels)]
    if len(classes) < 2:
        raise ValueError(f"SingleCellNet needs at least 2 classes; got {classes}")

    # selection matrix: training cells with counts (scanpy's normalize_per_cell drops empty cells)
    x = counts.tocsr().astype(np.float64) if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    totals = np.asarray(x.sum(axis=1)).ravel()
    keep = totals > 0
    if not keep.all():
        log.info("%d training cells without counts are left out of gene and pair selection", int((~keep).sum()))
    sel = x[keep]
    scale = spec.counts_per_cell_after / totals[keep]
    sel = sp.diags(scale) @ sel if sp.issparse(sel) else sel * scale[:, None]
    sel = sel.log1p() if sp.issparse(sel) else np.log1p(sel)
    genes_idx = np.arange(len(gene_names))
    if spec.limit_to_hvg:
        hvg = highly_variable(sel, spec)
        genes_idx = genes_idx[hvg]
        sel = sel[:, hvg]
        log.info("%d highly variable genes of %d", len(genes_idx), len(gene_names))
    if len(genes_idx) < 2:
        raise ValueError(f"only {len(genes_idx)} gene(s) left for selection (limit_to_hvg={spec.limit_to_hvg})")
    z = zscore(_dense(sel), spec.scale_max)
    sel_labels = labels[keep]

    passed = gene_prefilter(z)
    z_f, genes_f = z[:, passed], genes_idx[passed]

    # per class: class genes (indices into genes_f), then pairs among them
    per_class_genes: dict[str, np.ndarray] = {}
    per_class_pairs: dict[str, list[tuple[int, int]]] = {}
    for cls in classes:
        ind = sel_labels == cls
        cgenes = top_bottom_genes(class_correlation(z_f, ind), spec.n_top_genes)
        per_class_genes[cls] = cgenes
        pairs, phi = pair_correlation(z_f, cgenes, ind)
        per_class_pairs[cls] = select_pairs(pairs, phi, spec.n_top_pairs, spec.max_pairs_per_gene)
        if len(per_class_pairs[cls]) < spec.n_top_pairs:
            log.warning("class %r: %d gene pairs with a positive correlation fit (asked for %d)", cls,
                        len(per_class_pairs[cls]), spec.n_top_pairs)

    # the model's genes: the union of class genes, sorted by name; pairs re-indexed into them
    used = np.unique(np.concatenate(list(per_class_genes.values())))
    model_genes = np.sort(gene_names[genes_f[used]])
    where = {g: k for k, g in enumerate(model_genes)}
    remap = {int(f): where[gene_names[genes_f[f]]] for f in used}
    class_pairs = {c: [(remap[i], remap[j]) for i, j in p] for c, p in per_class_pairs.items()}
    all_pairs = sorted({p for ps in class_pairs.values() for p in ps})
    if not all_pairs:
        raise ValueError("no gene pair correlates positively with any class")
    pairs_arr = np.asarray(all_pairs, dtype=np.int64)

    # classifier: pair features of all training cells (monotone per cell: counts suffice) + random rows
    expr, _ = align_genes(x, gene_names, model_genes)
    feats = pair_transform(expr, pairs_arr)
    rand = random_profiles(feats, spec.n_rand, np.random.default_rng([seed, 2]))
    svc = SVC(C=spec.svm_c, kernel=spec.svm_kernel, gamma=spec.svm_gamma, decision_function_shape="ovr")
    svc.fit(np.vstack([feats, rand]), np.concatenate([labels, np.repeat(RAND, len(rand))]))
    log.info("SingleCellNet: %d genes, %d pairs, %d classes, %d support vectors", len(model_genes), len(pairs_arr),
             len(svc.classes_), int(svc.n_support_.sum()))
    return SCNModel(
        genes=model_genes, pairs=pairs_arr, classes=np.asarray(svc.classes_).astype(str), svc=svc, spec=spec,
        seed=seed, n_hvg=len(genes_idx),
        class_genes={c: [str(gene_names[genes_f[g]]) for g in per_class_genes[c]] for c in classes},
        class_pairs=class_pairs,
    )


def fit_reference(counts, labels, gene_names, spec: SCNSpec | None = None,
                  seed: int = 0) -> tuple[SCNModel, np.ndarray, np.ndarray]:
    """Split a reference per class (:func:`split_per_class`, ``np.random.default_rng([seed, 1])``)
    and train on the training part: ``(model, train_idx, held_out_idx)``."""
    spec = spec or SCNSpec()
    labels = np.asarray(labels).astype(str)
    train_idx, held_out = split_per_class(labels, spec.n_train_per_class, spec.cells_reserved,
                                          np.random.default_rng([seed, 1]))
    x = counts.tocsr() if sp.issparse(counts) else np.asarray(counts)
    model = train_scn(x[train_idx], labels[train_idx], gene_names, spec, seed)
    return model, train_idx, held_out


# ---------------------------------------------------------------------------------- classification


def _argmax_labels(model: SCNModel, scores: np.ndarray) -> np.ndarray:
    return model.classes[np.asarray(scores).reshape(len(scores), -1).argmax(axis=1)]


def _ovr_scores(model: SCNModel, x: np.ndarray) -> np.ndarray:
    scores = model.svc.decision_function(x)
    if scores.ndim == 1:  # two classes: sklearn returns the score of classes_[1]
        scores = np.stack([-scores, scores], axis=1)
    return scores


def predict_pairs(model: SCNModel, x) -> np.ndarray:
    """Labels for pair features (binary or, after a pair-space attack, continuous): argmax of the
    SVM's one-vs-rest decision function, ``"rand"`` included."""
    x = np.asarray(x, dtype=np.float64)
    return _argmax_labels(model, _ovr_scores(model, x))


def predict_logcpm(model: SCNModel, e) -> np.ndarray:
    """Labels for expression of the model's genes (columns in :attr:`SCNModel.genes` order)."""
    return predict_pairs(model, pair_transform(e, model.pairs))


def classify(model: SCNModel, x, gene_names) -> Classification:
    """Classify cells given as counts or log1p-CPM (cells × ``gene_names``): genes reindexed to the
    model's (missing ones read as 0, counted and logged), the pair transform, the SVM's ovr
    decision values and their argmax."""
    expr, n_missing = align_genes(x, gene_names, model.genes)
    if n_missing:
        log.warning("%d of the model's %d genes are missing from the query; read as 0", n_missing, len(model.genes))
    scores = _ovr_scores(model, pair_transform(expr, model.pairs))
    return Classification(labels=_argmax_labels(model, scores),
                          scores=pd.DataFrame(scores, columns=list(model.classes)), n_missing_genes=n_missing)


# --------------------------------------------------------------------------- differentiable SVM


class TorchOvOSVC(nn.Module):
    """The fitted SVC's one-vs-one decision values in torch (float64, differentiable in the input).

    Column ``p`` is the classifier of ``class_pairs[p] = (i, j)``, i < j, in sklearn's order
    (0-1, 0-2, …, 1-2, …): ``Σ_{s in i} dual_coef_[j-1, s] K(x, s) + Σ_{s in j} dual_coef_[i, s]
    K(x, s) + intercept_[p]`` -- what ``decision_function`` returns with
    ``decision_function_shape="ovo"``. With more than two classes a positive value votes for i;
    with two, sklearn's sign is flipped (positive = class 1); :attr:`first_sign` records which.
    """

    def __init__(self, svc: SVC):
        super().__init__()
        n_classes = len(svc.classes_)
        starts = np.concatenate([[0], np.cumsum(svc.n_support_)])
        pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
        coef = np.asarray(svc.dual_coef_, dtype=np.float64)
        weights = np.zeros((coef.shape[1], len(pairs)))
        for p, (i, j) in enumerate(pairs):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            weights[si, p] = coef[j - 1, si]
            weights[sj, p] = coef[i, sj]
        sv = svc.support_vectors_
        self.register_buffer("sv", torch.as_tensor(_dense(sv), dtype=torch.float64))
        self.register_buffer("weights", torch.as_tensor(weights))
        self.register_buffer("intercept", torch.as_tensor(np.asarray(svc.intercept_, dtype=np.float64)))
        self.register_buffer("pair_i", torch.as_tensor([p[0] for p in pairs], dtype=torch.long))
        self.register_buffer("pair_j", torch.as_tensor([p[1] for p in pairs], dtype=torch.long))
        self.class_pairs = pairs
        self.n_classes = n_classes
        self.kernel = svc.kernel
        self.gamma = float(svc._gamma)
        self.coef0 = float(svc.coef0)
        self.degree = int(svc.degree)
        self.first_sign = 1.0 if n_classes > 2 else -1.0

    def kernel_matrix(self, x: torch.Tensor) -> torch.Tensor:
        dot = x @ self.sv.T
        if self.kernel == "rbf":
            sq = (x * x).sum(1, keepdim=True) - 2 * dot + (self.sv * self.sv).sum(1)[None, :]
            return torch.exp(-self.gamma * sq.clamp_min(0))
        if self.kernel == "linear":
            return dot
        if self.kernel == "poly":
            return (self.gamma * dot + self.coef0) ** self.degree
        if self.kernel == "sigmoid":
            return torch.tanh(self.gamma * dot + self.coef0)
        raise ValueError(f"kernel {self.kernel!r} is not supported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel_matrix(x.to(torch.float64)) @ self.weights + self.intercept


def ovo_margin_loss(ovo: TorchOvOSVC, decision: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per cell: −Σ_{k≠y} (margin of class y over class k), the one-vs-one classifiers that involve
    the true class y, each signed so that a positive margin votes for y.

    Higher = more wrong. It is the sum of the pairwise margins SVC's vote is made of (so raising it
    moves the cell towards losing its votes), and the multi-class loss whose gradient ART's
    ``ScikitlearnSVC.loss_gradient`` is meant to give (Biggio et al. 2014). Cross-entropy on the ovr
    scores is not used: sklearn's ovr values are vote counts plus squashed confidences, piecewise
    constant in the votes.
    """
    toward_i = ovo.first_sign * decision  # positive: the pair's first class wins
    is_i = (ovo.pair_i[None, :] == y[:, None]).to(decision.dtype)
    is_j = (ovo.pair_j[None, :] == y[:, None]).to(decision.dtype)
    return -(toward_i * (is_i - is_j)).sum(dim=1)


def _class_indices(model: SCNModel, y) -> torch.Tensor:
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        idx = y.astype(np.int64)
    else:
        lookup = {c: k for k, c in enumerate(model.classes)}
        unknown = sorted(set(y.astype(str)) - set(lookup))
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not classes of the model ({list(model.classes)})")
        idx = np.array([lookup[v] for v in y.astype(str)], dtype=np.int64)
    return torch.as_tensor(idx)


def bpda_pairs(e: torch.Tensor, pairs: torch.Tensor, tau: float) -> torch.Tensor:
    """The pair transform with a BPDA backward pass: forward ``1[e_i > e_j]`` exactly, gradient that
    of ``sigmoid((e_i − e_j) / tau)`` (the straight-through form ``hard + soft − soft.detach()``)."""
    diff = e[:, pairs[:, 0]] - e[:, pairs[:, 1]]
    hard = (diff > 0).to(e.dtype)
    soft = torch.sigmoid(diff / tau)
    return hard + (soft - soft.detach())


def _signed_gradient(loss_of, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of(x, y).sum(), x)
    return grad.sign()


def _run_attack(model: SCNModel, x0, y, eps: float, steps: int, step_size: float, loss_of, lower: float,
                upper: float | None, device: str) -> np.ndarray:
    """Signed-gradient ascent of ``loss_of`` from ``x0``: ``steps`` steps of ``step_size``, each
    projected onto the L∞ ball of radius ``eps`` around ``x0`` and clipped to [lower, upper]."""
    x0 = np.asarray(x0, dtype=np.float64)
    if eps == 0 or len(x0) == 0:
        return x0.copy()
    dev = select_device(device)
    yt = _class_indices(model, y)
    out = []
    for s in range(0, len(x0), model.spec.batch_size):
        xb = torch.as_tensor(x0[s:s + model.spec.batch_size], device=dev)
        yb = yt[s:s + model.spec.batch_size].to(dev)
        xa = xb.clone()
        for _ in range(steps):
            xa = xa + step_size * _signed_gradient(loss_of, xa, yb)
            xa = torch.minimum(torch.maximum(xa, xb - eps), xb + eps).clamp(min=lower, max=upper)
        out.append(xa.detach().cpu().numpy())
    return np.concatenate(out)


def _pairs_loss(ovo: TorchOvOSVC):
    return lambda x, y: ovo_margin_loss(ovo, ovo(x), y)


def _bpda_loss(ovo: TorchOvOSVC, pairs: torch.Tensor, tau: float):
    return lambda e, y: ovo_margin_loss(ovo, ovo(bpda_pairs(e, pairs, tau)), y)


def fgsm_pairs(model: SCNModel, x, y, eps: float, device: str = "auto") -> np.ndarray:
    """FGSM on pair features: ``clip(x + eps · sign(∇ loss), 0, 1)`` (ε in feature units)."""
    ovo = TorchOvOSVC(model.svc).to(select_device(device))
    return _run_attack(model, x, y, eps, 1, eps, _pairs_loss(ovo), 0.0, 1.0, device)


def pgd_pairs(model: SCNModel, x, y, eps: float, steps: int | None = None, step_size: float | None = None,
              device: str = "auto") -> np.ndarray:
    """PGD on pair features within the L∞ ball of radius ε and [0, 1] (defaults from the spec:
    ``attack_steps`` steps of ``attack_step_size``, None = ε/4; no random start)."""
    steps, step_size = _pgd_settings(model, eps, steps, step_size)
    ovo = TorchOvOSVC(model.svc).to(select_device(device))
    return _run_attack(model, x, y, eps, steps, step_size, _pairs_loss(ovo), 0.0, 1.0, device)


def fgsm_bpda(model: SCNModel, e, y, eps: float, tau: float | None = None, device: str = "auto") -> np.ndarray:
    """FGSM in expression space through BPDA: ``max(e + eps · sign(∇ loss), 0)``, with ``e`` the
    log1p-CPM expression of :attr:`SCNModel.genes` and ε in log1p-CPM units. Genes in no pair get
    no gradient and stay put."""
    dev = select_device(device)
    ovo = TorchOvOSVC(model.svc).to(dev)
    pairs = torch.as_tensor(model.pairs, device=dev)
    loss = _bpda_loss(ovo, pairs, model.spec.bpda_tau if tau is None else tau)
    return _run_attack(model, e, y, eps, 1, eps, loss, 0.0, None, device)


def pgd_bpda(model: SCNModel, e, y, eps: float, tau: float | None = None, steps: int | None = None,
             step_size: float | None = None, device: str = "auto") -> np.ndarray:
    """PGD in expression space through BPDA, within the L∞ ball of radius ε around ``e`` and >= 0."""
    steps, step_size = _pgd_settings(model, eps, steps, step_size)
    dev = select_device(device)
    ovo = TorchOvOSVC(model.svc).to(dev)
    pairs = torch.as_tensor(model.pairs, device=dev)
    loss = _bpda_loss(ovo, pairs, model.spec.bpda_tau if tau is None else tau)
    return _run_attack(model, e, y, eps, steps, step_size, loss, 0.0, None, device)


def _pgd_settings(model: SCNModel, eps: float, steps: int | None, step_size: float | None) -> tuple[int, float]:
    steps = model.spec.attack_steps if steps is None else int(steps)
    if step_size is None:
        step_size = model.spec.attack_step_size if model.spec.attack_step_size is not None else eps / 4
    return steps, float(step_size)


# --------------------------------------------------------------------------------------- metrics


def precision_recall(y_true, y_pred, classes) -> pd.DataFrame:
    """Per-class precision, recall and support (sklearn, ``zero_division=0``: a class never
    predicted has precision 0). The recall of a class without cells (support 0) is undefined:
    NaN, not sklearn's 0. Columns ``class, precision, recall, support``, rows in ``classes``
    order."""
    classes = [str(c) for c in classes]
    p, r, _, s = precision_recall_fscore_support(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str),
                                                 labels=classes, zero_division=0)
    r = np.where(s == 0, np.nan, r)
    return pd.DataFrame({"class": classes, "precision": p, "recall": r, "support": s.astype(int)},
                        columns=PRECISION_RECALL_COLUMNS)



# --- the arm: a reference, a query, attacks (paper Fig. 5a, b) ------------------------------------------

ANNOTATOR_COLUMNS = ["model", "attack_space", "epsilon", "class", "precision", "recall", "support"]
COMPOSITION_COLUMNS = ["attack_space", "epsilon", "query_label", "predicted", "n_cells"]
ATTACK_SPACES = ("pairs", "expression")


def _attacked_predictions(model: SCNModel, e: np.ndarray, y, space: str, eps: float, device: str) -> np.ndarray:
    """Labels after FGSM at ``eps`` in ``space`` (``none``: clean) against labels ``y``."""
    if space == "none" or eps == 0:
        return predict_logcpm(model, e)
    if space == "pairs":
        return predict_pairs(model, fgsm_pairs(model, pair_transform(e, model.pairs), y, eps, device))
    return predict_logcpm(model, fgsm_bpda(model, e, y, eps, device=device))


def evaluate_annotator(reference, query, reference_key: str, query_key: str, spec: SCNSpec | None,
                       epsilons: dict[str, list[float]], seed: int = 0, label_map: dict[str, str] | None = None,
                       device: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """SingleCellNet trained on ``reference`` and applied to ``query`` (AnnDatas of counts), clean and
    under white-box FGSM in each space of ``epsilons`` (``pairs``: the SVM's own input, ε in feature
    units; ``expression``: log1p-CPM through BPDA) at each ε.

    As in the pySCN tutorial, both are first limited to their common genes. Returns

    * ``annotator/precision_recall.tsv`` (:data:`ANNOTATOR_COLUMNS`): per-class precision and recall on
      the reference's held-out cells (``model`` ``reference_held_out``; attacks against their true
      labels) and, with a ``label_map`` (query label → reference class), on the query's mapped cells
      (``model`` ``query``; attacks against the mapped labels);
    * ``annotator/query_composition.tsv`` (:data:`COMPOSITION_COLUMNS`): how many query cells of each
      query label get each predicted class, clean and attacked. Query cells without a mapped label are
      attacked against the model's own clean prediction (what ART does when no labels are given);
    * a summary (gene and cell counts, unmapped query labels with their cell counts, labels of the
      map that the query does not have).
    """
    spec = spec or SCNSpec()
    common = reference.var_names.intersection(query.var_names, sort=False)
    if len(common) == 0:
        raise ValueError("the reference and the query share no gene names")
    ref_labels = reference.obs[reference_key].astype(str).to_numpy()
    model, train_idx, held = fit_reference(reference[:, common].X, ref_labels, list(common), spec, seed)
    classes = [c for c in model.classes if c != "rand"]
    e_ref = align_genes(log1p_cpm(reference[held][:, common].X), list(common), model.genes)[0]
    y_ref = ref_labels[held]
    e_q = align_genes(log1p_cpm(query[:, common].X), list(common), model.genes)[0]
    q_labels = query.obs[query_key].astype(str).to_numpy()
    clean_q = predict_logcpm(model, e_q)
    absent = sorted(set(label_map or {}) - set(q_labels))
    if absent:  # a misspelt query label would otherwise pass for one the query lacks
        log.warning("the label map names %d query labels the query does not have: %s", len(absent), absent)
    mapped = np.array([label_map.get(lab) if label_map else None for lab in q_labels], dtype=object)
    has_map = np.array([m is not None and m in classes for m in mapped])
    y_q = np.where(has_map, mapped, clean_q).astype(str)

    conditions = [("none", 0.0)] + [(space, float(eps)) for space in ATTACK_SPACES
                                    for eps in epsilons.get(space, []) if eps > 0]
    tables, composition = [], []
    for space, eps in conditions:
        pred = _attacked_predictions(model, e_ref, y_ref, space, eps, device)
        tables.append(precision_recall(y_ref, pred, classes).assign(model="reference_held_out", attack_space=space,
                                                                     epsilon=eps))
        pred_q = _attacked_predictions(model, e_q, y_q, space, eps, device)
        if has_map.any():
            tables.append(precision_recall(y_q[has_map], pred_q[has_map], classes)
                          .assign(model="query", attack_space=space, epsilon=eps))
        counts = pd.crosstab(pd.Series(q_labels, name="query_label"), pd.Series(pred_q, name="predicted"))
        composition.append(counts.stack().rename("n_cells").reset_index().query("n_cells > 0")
                           .assign(attack_space=space, epsilon=eps))
    summary = {
        "n_common_genes": int(len(common)), "n_reference_cells": int(reference.n_obs),
        "n_reference_train": int(len(train_idx)), "n_reference_held_out": int(len(held)),
        "n_query_cells": int(query.n_obs), "n_query_mapped": int(has_map.sum()),
        "classes": classes, "n_pairs": int(len(model.pairs)),
        "unmapped_query_labels": pd.Series(q_labels[~has_map]).value_counts().to_dict(),
        "map_labels_not_in_query": absent,
    }
    return (pd.concat(tables, ignore_index=True)[ANNOTATOR_COLUMNS],
            pd.concat(composition, ignore_index=True)[COMPOSITION_COLUMNS], summary)


def read_label_map(path: str | None, reference_classes=None) -> dict[str, str] | None:
    """A reviewed mapping of query labels onto reference classes: TSV with columns ``query_label,
    reference_class`` (further columns, e.g. the reviewer's basis, are kept for the reader). A query
    label may appear once; an empty ``reference_class`` records a label reviewed and left unmapped,
    and unlisted labels stay unmapped too (both are reported, never dropped silently).

    With ``reference_classes`` (the reference's labels), every class the map names must be one of
    them: a misspelt class would otherwise leave its query cells unmapped without a word.
    """
    if path is None:
        return None
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(table.columns[:2]) != ["query_label", "reference_class"]:
        raise ValueError(f"{path}: the label map needs columns query_label, reference_class; "
                         f"found {list(table.columns)}")
    duplicated = table["query_label"][table["query_label"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{path}: query labels mapped more than once: {duplicated}")
    mapped = table[table["reference_class"].str.strip() != ""]
    if reference_classes is not None:
        known = set(pd.Series(reference_classes).astype(str))
        unknown = sorted(set(mapped["reference_class"]) - known)
        if unknown:
            raise ValueError(f"{path}: reference_class names classes the reference does not have: {unknown}; "
                             f"the reference's classes are {sorted(known)}. Correct the map's reference_class "
                             "column (or the reference's label column in workflow/resources/datasets.yaml)")
    return dict(zip(mapped["query_label"], mapped["reference_class"], strict=True))
