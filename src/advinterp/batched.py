"""Batched torch implementations of the LIME-tabular and Kernel SHAP estimators.

The reference packages (``lime``, ``shap.KernelExplainer``) explain one cell at a time
and evaluate the model from numpy; at 1,000+ genes that costs seconds per cell. These
implement the *same estimators* with batched model evaluations on the device and the
linear algebra in torch; every cell gets its own perturbations, as in the packages:

- LIME (``lime.lime_tabular.LimeTabularExplainer`` defaults): quartile discretisation of
  each gene on the background cells; perturbations draw each gene's quartile bin from
  its background frequency and a value inside the bin from a truncated normal with the
  bin's mean and SD; the interpretable representation is "same bin as the cell"; sample
  weights ``sqrt(exp(-d²/w²))`` with d the Euclidean distance in that binary space and
  w = 0.75·sqrt(genes); the explanation is the weighted ridge (α = 1, intercept) fit of
  the target-class probability on the binary features, solved for a batch of cells at once.
- Kernel SHAP (``shap.KernelExplainer`` with ``l1_reg=False``): for every cell, coalitions
  sampled from the Shapley kernel (sizes ∝ (M-1)/(s(M-s)), paired with their complements),
  the model evaluated with absent genes taken from each weighted background point (k-means
  summary), and the efficiency-constrained least-squares fit. The MLP's first layer is an
  ``embedding_bag`` over each pair's smaller member and the normal equations are formed
  from the sparse pair matrix, which is where the speed comes from.

``benchmarks/explainers.py`` measures both against the reference packages (speed and
Spearman correlation of per-class importance).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy import sparse, special
from torch import nn
from torch.nn import functional as F

from advinterp.device import model_device
from advinterp.model import predict_proba


class QuartileBins:
    """lime's QuartileDiscretizer, vectorised: edges, per-bin mean/SD/min/max and frequencies."""

    def __init__(self, background: np.ndarray):
        data = np.asarray(background, dtype=np.float64)
        self.edges = np.percentile(data, [25, 50, 75], axis=0).T  # genes x 3
        bins = self.discretize(data)
        n_genes = data.shape[1]
        self.mean = np.zeros((n_genes, 4))
        self.std = np.zeros((n_genes, 4))
        self.freq = np.zeros((n_genes, 4))
        for b in range(4):
            sel = bins == b
            count = sel.sum(axis=0)
            safe = np.maximum(count, 1)
            mean = np.where(sel, data, 0).sum(axis=0) / safe
            var = np.where(sel, (data - mean) ** 2, 0).sum(axis=0) / safe
            self.mean[:, b] = np.where(count > 0, mean, 0)
            self.std[:, b] = np.where(count > 0, np.sqrt(var), 0) + 1e-11
            self.freq[:, b] = count / len(data)
        lo, hi = data.min(axis=0), data.max(axis=0)
        self.low = np.column_stack([lo, self.edges])
        self.high = np.column_stack([self.edges, hi])
        # standardised bin bounds and their normal CDF: per (gene, bin), not per draw
        self.a, self.b = (self.low - self.mean) / self.std, (self.high - self.mean) / self.std
        self.cdf_a, self.cdf_b = special.ndtr(self.a), special.ndtr(self.b)

    def discretize(self, x: np.ndarray) -> np.ndarray:
        """Bin index 0..3 per entry (np.searchsorted with side='left', as lime)."""
        x = np.atleast_2d(x)
        return (x[:, :, None] > self.edges[None, :, :]).sum(axis=2)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` perturbations: (bins, values), both n x genes."""
        n_genes = self.freq.shape[0]
        cum = np.cumsum(self.freq, axis=1)
        u = rng.random((n, n_genes))
        bins = (u[:, :, None] > cum[None, :, :]).sum(axis=2).clip(0, 3)
        genes = np.arange(n_genes)[None, :]
        a, b = self.a[genes, bins], self.b[genes, bins]
        # Where a bin's bounds coincide, lime returns the *standardised* bound (min - mean) / sd
        # rather than the value itself; kept here so that both implementations agree.
        values = np.array(a)
        differ = a != b
        # truncated normal by inverse CDF (the distribution of scipy's truncnorm.rvs, vectorised)
        g, k = np.broadcast_to(genes, bins.shape)[differ], bins[differ]
        lo, hi = self.cdf_a[g, k], self.cdf_b[g, k]
        u = lo + rng.random(lo.shape) * (hi - lo)
        draws = special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        values[differ] = self.mean[g, k] + self.std[g, k] * np.clip(draws, a[differ], b[differ])
        return bins, values


def lime_batched(model: nn.Module, inputs: np.ndarray, target: np.ndarray, background: np.ndarray,
                 num_samples: int = 5000, seed: int = 0, cell_batch: int = 16,
                 eval_batch: int = 8192) -> np.ndarray:
    """LIME-tabular coefficients (cells x genes) for each cell's target class."""
    rng = np.random.default_rng(seed)
    quart = QuartileBins(background)
    n_genes = inputs.shape[1]
    p_cells = predict_proba(model, torch.as_tensor(np.asarray(inputs), dtype=torch.float32), eval_batch)
    width = 0.75 * np.sqrt(n_genes)
    cell_bins = quart.discretize(np.asarray(inputs))
    out = np.zeros((len(inputs), n_genes))
    for start in range(0, len(inputs), cell_batch):
        idx = np.arange(start, min(start + cell_batch, len(inputs)))
        # every cell gets its own perturbations, as in lime (shared ones would make the noise of
        # all cells of a class correlated, so averaging over cells would not reduce it)
        samples = [quart.sample(num_samples - 1, rng) for _ in idx]
        bins_t = torch.as_tensor(np.stack([b for b, _ in samples]))  # c x S-1 x M
        values = torch.as_tensor(np.concatenate([v for _, v in samples]), dtype=torch.float32)
        p_pert = predict_proba(model, values, eval_batch).reshape(len(idx), num_samples - 1, -1)
        same = (bins_t == torch.as_tensor(cell_bins[idx])[:, None, :]).float()  # c x S-1 x M
        z = torch.cat([torch.ones(len(idx), 1, n_genes), same], dim=1)  # c x S x M
        t = torch.as_tensor(target[idx])
        y = torch.cat([p_cells[idx, t][:, None], p_pert[torch.arange(len(idx)), :, t]], dim=1)  # c x S
        d2 = (n_genes - z.sum(dim=2)).double()  # squared Euclidean distance to the all-ones row (exact)
        raw_w = torch.sqrt(torch.exp(-d2 / width**2))
        w = raw_w / raw_w.sum(dim=1, keepdim=True)
        zm = (w[:, :, None] * z).sum(dim=1, keepdim=True)
        ym = (w * y).sum(dim=1, keepdim=True)
        zc, yc = z - zm.float(), y - ym
        zw = zc * w[:, :, None].float()
        # the S x M x M products run in float32 (the bulk of the work); the solve in float64
        gram = (zw.transpose(1, 2) @ zc).double()
        # ridge alpha = 1 in sklearn's scale (unnormalised weights): divide by the weight sum
        gram = gram + torch.eye(n_genes, dtype=torch.float64)[None] / raw_w.sum(dim=1)[:, None, None]
        rhs = (zw.transpose(1, 2) @ yc.float()[:, :, None])[:, :, 0].double()
        chol = torch.linalg.cholesky(gram)  # symmetric positive definite thanks to the ridge term
        out[idx] = torch.cholesky_solve(rhs[:, :, None], chol)[:, :, 0].numpy()
    return out


def shapley_kernel_pairs(n_genes: int, n_samples: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """shap.KernelExplainer's coalitions and regression weights for ``n_genes`` varying genes.

    As shap: subset sizes are weighted by the Shapley kernel (M-1)/(s(M-s)); sizes whose
    every subset (and complement) fits into the remaining budget are enumerated with
    weight kernel/binom, the rest of the ``n_samples`` budget is drawn at random (size from
    the remaining kernel weight, then a uniform subset) with equal weights scaled to the
    kernel weight left. Every coalition comes with its complement, so the result lists the
    smaller member A of each pair — flat gene ``indices`` and ``offsets`` in
    ``torch.nn.functional.embedding_bag`` form — and each pair's weight (per member).
    For even M the middle size has no distinct complement size: its draws become pairs
    with half weight (its enumeration lists each pair once).
    """
    m = n_genes
    n_sizes, n_paired = int(np.ceil((m - 1) / 2)), int(np.floor((m - 1) / 2))
    kernel = np.array([(m - 1) / (s * (m - s)) for s in range(1, n_sizes + 1)])
    kernel[:n_paired] *= 2
    kernel /= kernel.sum()
    sets: list[np.ndarray] = []
    weights: list[float] = []
    left, remaining, n_full = n_samples, kernel.copy(), 0
    for size in range(1, n_sizes + 1):
        paired = size <= n_paired
        n_subsets = special.comb(m, size, exact=True) * (2 if paired else 1)
        if left * remaining[size - 1] / n_subsets < 1 - 1e-8:
            break
        n_full += 1
        left -= n_subsets
        if remaining[size - 1] < 1:
            remaining /= 1 - remaining[size - 1]
        w = kernel[size - 1] / special.comb(m, size, exact=True) / (2 if paired else 1)
        for subset in itertools.combinations(range(m), size):
            if paired or subset[0] == 0:  # middle size: {A, complement} listed once
                sets.append(np.array(subset))
                weights.append(w)
    n_fixed = len(sets)
    if n_full < n_sizes and left > 0:
        p = kernel.copy()
        p[:n_paired] /= 2  # a paired draw adds two samples
        p = p[n_full:] / p[n_full:].sum()
        while left > 0:
            size = n_full + 1 + rng.choice(len(p), p=p)
            sets.append(rng.choice(m, size=size, replace=False))
            weights.append(1.0 if size <= n_paired else 0.5)
            left -= 2 if size <= n_paired else 1
        random_w = np.asarray(weights[n_fixed:])
        weights[n_fixed:] = random_w * kernel[n_full:].sum() / (2 * random_w.sum())
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in sets])[:-1]]).astype(np.int64)
    return np.concatenate(sets).astype(np.int64), offsets, np.asarray(weights)


class _CoalitionModel:
    """Class probabilities of a cell's coalition inputs, averaged over the background points.

    Coalition A of cell x with background point b_k is the input b_k + 1_A ⊙ (x - b_k); its
    complement is x - 1_A ⊙ (x - b_k). When the model starts with a linear layer W (as the
    MLP does), both pre-activations follow from one sparse sum per pair and background point,

        W(b_k + 1_A ⊙ (x - b_k)) + c = (W b_k + c) + Σ_{g∈A} (x_g - b_kg) W[:, g],

    an ``embedding_bag`` over A's genes (|A| ≤ M/2, mostly small) instead of a dense product
    with an M-gene input. Exact; other models are evaluated on the explicit inputs.
    """

    def __init__(self, model: nn.Module, background: torch.Tensor, weights: torch.Tensor, eval_batch: int):
        self.device = model_device(model)
        self.bg = background.to(self.device)
        self.weights = weights  # float64, CPU, sums to 1
        self.eval_batch = eval_batch
        net = getattr(model, "net", None)
        self.first = net[0] if isinstance(net, nn.Sequential) and isinstance(net[0], nn.Linear) else None
        self.model = model
        if self.first is not None:
            self.rest = net[1:]
            with torch.no_grad():
                self.weight_t = self.first.weight.T.contiguous()  # genes x H
                self.h_bg = self.first(self.bg)  # K x H

    def _softmax_rows(self, fn, pre: torch.Tensor) -> torch.Tensor:
        rows = pre.reshape(-1, pre.shape[-1])
        out = torch.cat([torch.softmax(fn(rows[i:i + self.eval_batch]), dim=1).double().cpu()
                         for i in range(0, len(rows), self.eval_batch)])
        return out.reshape(*pre.shape[:-1], -1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, indices: torch.Tensor, offsets: torch.Tensor):
        """(coalition A, complement) probabilities, each pairs x classes, background-weighted."""
        x = x.to(self.device)
        idx, off = indices.to(self.device), offsets.to(self.device)
        diff = x[None, :] - self.bg  # K x genes
        if self.first is not None:
            h_x = self.first(x[None, :])  # 1 x H
            bag = torch.stack([F.embedding_bag(idx, self.weight_t, off, mode="sum", per_sample_weights=diff[k, idx])
                               for k in range(len(self.bg))])  # K x pairs x H
            p_in = self._softmax_rows(self.rest, self.h_bg[:, None, :] + bag)
            p_out = self._softmax_rows(self.rest, h_x[None, :, :] - bag)
        else:
            n_pairs = len(off)
            mask = torch.zeros(n_pairs, len(x), dtype=torch.bool, device=self.device)
            pair = torch.repeat_interleave(torch.arange(n_pairs, device=self.device),
                                           torch.diff(torch.cat([off, off.new_tensor([len(idx)])])))
            mask[pair, idx] = True
            inside = torch.where(mask[None], x[None, None, :], self.bg[:, None, :])  # K x pairs x genes
            outside = torch.where(mask[None], self.bg[:, None, :], x[None, None, :])
            p_in = self._softmax_rows(self.model, inside)
            p_out = self._softmax_rows(self.model, outside)
        w = self.weights[:, None, None]
        return (p_in * w).sum(dim=0), (p_out * w).sum(dim=0)


def _constrained_shapley_fit(indices: np.ndarray, offsets: np.ndarray, weights: np.ndarray, n_genes: int,
                             y_in: np.ndarray, y_out: np.ndarray, total: float) -> np.ndarray:
    """Kernel SHAP's regression for weighted complement pairs: min Σ ω (y - z·φ)² subject to Σ φ = total.

    Rows are z = 1_A (response ``y_in``) and z = 1 - 1_A (``y_out``), both with the pair's
    weight ω, responses already minus the base value. With the pair matrix A (pairs x
    genes) and Ω = diag(ω), ZᵀWZ = 2AᵀΩA - c1ᵀ - 1cᵀ + Σω·11ᵀ (c = Aᵀω) and
    ZᵀWy = AᵀΩ(y_in - y_out) + 1·Σωy_out, so the normal equations cost a sparse product
    instead of a dense samples x M x M one. Solved with the constraint as a Lagrange row
    (the same solution as shap's elimination of one gene).
    """
    n_pairs = len(offsets)
    pair = np.repeat(np.arange(n_pairs), np.diff(np.append(offsets, len(indices))))
    a = sparse.csr_matrix((np.ones(len(indices)), (pair, indices)), shape=(n_pairs, n_genes))
    c = a.T @ weights
    gram = 2.0 * (a.T @ sparse.diags(weights) @ a).toarray() - c[:, None] - c[None, :] + weights.sum()
    rhs = a.T @ (weights * (y_in - y_out)) + (weights * y_out).sum()
    kkt = np.zeros((n_genes + 1, n_genes + 1))
    kkt[:n_genes, :n_genes] = gram
    kkt[:n_genes, n_genes] = kkt[n_genes, :n_genes] = 1.0
    b = np.append(rhs, total)
    kkt_t, b_t = torch.as_tensor(kkt), torch.as_tensor(b)
    sol, info = torch.linalg.solve_ex(kkt_t, b_t)
    if int(info) != 0 or not torch.isfinite(sol).all():  # too few coalitions for M genes: minimum-norm fit
        sol = torch.linalg.pinv(kkt_t) @ b_t
    return sol[:n_genes].numpy()


def kernel_shap_batched(model: nn.Module, inputs: np.ndarray, target: np.ndarray, summary: np.ndarray,
                        summary_weights: np.ndarray, n_samples: int | str = "auto", seed: int = 0,
                        eval_batch: int = 8192) -> np.ndarray:
    """Kernel SHAP values (cells x genes) for each cell's target class, as ``shap.KernelExplainer``.

    ``summary``/``summary_weights`` is the background (e.g. ``shap.kmeans``); genes absent
    from a coalition take each background point's value, predictions are averaged with
    the weights. As in shap, a gene whose value in the cell equals its value in every
    background point (np.allclose) cannot matter and gets 0 — in sparse expression data
    that is every gene the cell and the background all lack — and the coalitions cover
    the other, *varying* genes: ``n_samples`` per cell ("auto" = 2·varying + 2048, shap's
    default), their enumeration and weights from :func:`shapley_kernel_pairs`. Every cell
    gets its own coalitions: shared ones would make the estimation noise of similar cells
    correlated, so averaging over a class's cells would not reduce it.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(inputs, dtype=np.float32)
    n_cells, n_genes = x.shape
    summary = np.asarray(summary, dtype=np.float32)
    bg = torch.as_tensor(summary)
    wb = torch.as_tensor(np.asarray(summary_weights, dtype=np.float64))
    wb = wb / wb.sum()
    base = (predict_proba(model, bg, eval_batch) * wb[:, None]).sum(dim=0).numpy()  # classes
    fx = predict_proba(model, x, eval_batch).numpy()
    coalition_model = _CoalitionModel(model, bg, wb, eval_batch)
    out = np.zeros((n_cells, n_genes))
    for c in range(n_cells):
        t = int(target[c])
        total = float(fx[c, t] - base[t])
        varying = np.flatnonzero(~np.isclose(x[c][None, :], summary, equal_nan=True).all(axis=0))
        m = len(varying)
        if m <= 1:  # nothing varies, or one gene carries the whole difference
            out[c, varying] = total
            continue
        budget = 2 * m + 2048 if n_samples == "auto" else int(n_samples)
        if m <= 30:
            budget = min(budget, 2**m - 2)
        local, offsets, weights = shapley_kernel_pairs(m, budget, rng)
        p_in, p_out = coalition_model(torch.as_tensor(x[c]), torch.as_tensor(varying[local]),
                                      torch.as_tensor(offsets))
        out[c, varying] = _constrained_shapley_fit(local, offsets, weights, m, p_in[:, t].numpy() - base[t],
                                                   p_out[:, t].numpy() - base[t], total)
    return out
