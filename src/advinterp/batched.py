"""Batched torch implementations of the LIME-tabular and Kernel SHAP estimators.

The reference packages (``lime``, ``shap.KernelExplainer``) explain one cell at a time
and evaluate the model from numpy; at 1,000+ genes that costs seconds per cell. These
implement the *same estimators* with batched model evaluations on the device and the
linear algebra in torch; every cell gets its own perturbations, as in the packages:

- LIME (``lime.lime_tabular.LimeTabularExplainer`` defaults): quartile discretisation of
  each gene on the background cells (lime's own discretizer statistics); perturbations draw
  each gene's quartile bin from its background frequency and a value inside the bin from a truncated normal with the
  bin's mean and SD; the interpretable representation is "same bin as the cell"; sample
  weights ``sqrt(exp(-d²/w²))`` with d the Euclidean distance in that binary space and
  w = 0.75·sqrt(genes); the explanation is the weighted ridge (α = 1, intercept) fit of
  the target-class probability on the binary features, solved for a batch of cells at once.
- Kernel SHAP (``shap.KernelExplainer`` with ``l1_reg=False``): for every cell, coalitions
  sampled from the Shapley kernel (sizes ∝ (M-1)/(s(M-s)), paired with their complements),
  the model evaluated with absent genes taken from each weighted background point (k-means
  summary), and the efficiency-constrained least-squares fit. The MLP's first layer is an
  ``embedding_bag`` over each pair's smaller member and the normal equations are formed
  from the sparse pair matrix, which is where the speed comes from on a CPU; on a GPU the
  whole estimator (draws, model evaluations, fits) stays on the device.

``benchmarks/explainers.py`` measures both against the reference packages (speed and
Spearman correlation of per-class importance).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy import special
from torch import nn
from torch.nn import functional as F

from advinterp.device import model_device


def _softmax_rows(fn, rows: torch.Tensor, batch: int) -> torch.Tensor:
    """Class probabilities (float64, on ``rows``' device) of ``fn`` applied to ``rows`` in chunks."""
    flat = rows.reshape(-1, rows.shape[-1])
    out = torch.cat([torch.softmax(fn(flat[i:i + batch]).double(), dim=1) for i in range(0, len(flat), batch)])
    return out.reshape(*rows.shape[:-1], -1)


class QuartileBins:
    """lime's quartile discretisation, as tables on a device: edges, per-bin statistics, frequencies.

    The statistics are those of ``lime.discretize.QuartileDiscretizer`` itself (run on the
    background), so they carry its arithmetic exactly: coinciding quartiles are merged
    (``np.unique``), and means and SDs are computed in the background's dtype. That matters
    for sparse genes: a bin holding one value (zero expression) has min = max, and lime then
    returns the *standardised* bound (min - mean) / (sd + 1e-11) instead of the value — 0 in
    exact arithmetic, an O(1) number from float32 rounding in practice. Copying lime's
    numbers keeps both implementations the same estimator.
    """

    def __init__(self, background: np.ndarray, device: torch.device | str = "cpu"):
        from lime.discretize import QuartileDiscretizer

        data = np.asarray(background)
        n_genes = data.shape[1]
        lime_bins = QuartileDiscretizer(data, [], [str(g) for g in range(n_genes)])
        edges = np.full((n_genes, 3), np.inf)  # unique quartiles, padded: bin = #edges below x
        mean, std = np.zeros((n_genes, 4)), np.ones((n_genes, 4))
        low, high = np.zeros((n_genes, 4)), np.zeros((n_genes, 4))
        for g in range(n_genes):
            k = len(lime_bins.means[g])
            edges[g, :k - 1] = lime_bins.mins[g][1:]
            mean[g, :k], std[g, :k] = lime_bins.means[g], lime_bins.stds[g]
            low[g, :k], high[g, :k] = lime_bins.mins[g], lime_bins.maxs[g]
        discretized = (data[:, :, None] > edges[None, :, :]).sum(axis=2)
        freq = np.stack([(discretized == b).mean(axis=0) for b in range(4)], axis=1)
        # standardised bin bounds and their normal CDF: per (gene, bin), not per draw
        a, b = (low - mean) / std, (high - mean) / std

        def table(v):  # genes x 4 → flat (bin * genes + gene), float64 on the device
            return torch.as_tensor(np.ascontiguousarray(v.T).ravel(), dtype=torch.float64, device=device)

        self.device, self.n_genes = torch.device(device), n_genes
        self.edges = torch.as_tensor(edges, device=device)
        self.cum = torch.as_tensor(np.cumsum(freq, axis=1)[:, :3], device=device)  # genes x 3
        # per (gene, bin), one row per bin * genes + gene: a, b, mean, sd, degenerate (a == b)
        # in float32 (the model's precision), Φ(a), Φ(b) in float64 (the tails need it)
        self.table32 = torch.stack([table(a), table(b), table(mean), table(std), table(a == b)], dim=1).float()
        self.cdf = torch.stack([table(special.ndtr(a)), table(special.ndtr(b))], dim=1)

    def discretize(self, x: torch.Tensor) -> torch.Tensor:
        """Bin index per entry (np.searchsorted over the unique quartiles, side='left', as lime)."""
        return (x.to(self.device, torch.float64)[..., None] > self.edges).sum(dim=-1)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Perturbations of ``shape`` (..., genes): (bins, float32 values), as lime draws them.

        Each gene's bin is drawn from its background frequency, the value inside it from a
        truncated normal with the bin's mean and SD (inverse CDF: scipy's ``truncnorm.rvs``
        distribution, vectorised).
        """
        u = torch.rand(shape, generator=generator, device=self.device, dtype=torch.float64)
        bins = (u > self.cum[:, 0]).to(torch.uint8)
        bins += u > self.cum[:, 1]
        bins += u > self.cum[:, 2]
        flat = bins.long() * self.n_genes + torch.arange(self.n_genes, device=self.device)
        a, b, mean, std, degenerate = self.table32[flat].unbind(dim=-1)
        lo, hi = self.cdf[flat].unbind(dim=-1)
        torch.rand(shape, generator=generator, device=self.device, dtype=torch.float64, out=u)
        draws = torch.special.ndtri((lo + u * (hi - lo)).clamp_(1e-300, 1 - 1e-16)).float()
        values = mean + std * torch.minimum(torch.maximum(draws, a), b)
        # Where a bin's bounds coincide, lime returns the *standardised* bound (min - mean) / sd
        # rather than the value itself; kept so that both implementations agree.
        return bins, torch.where(degenerate > 0, a, values)


def lime_batched(model: nn.Module, inputs: np.ndarray, target: np.ndarray, background: np.ndarray,
                 num_samples: int = 5000, seed: int = 0, eval_batch: int = 8192,
                 chunk_elements: int = 20_000_000) -> np.ndarray:
    """LIME-tabular coefficients (cells x genes) for each cell's target class.

    Sampling, model evaluations and the ridge fits all run on the model's device, for as
    many cells at once as keep samples x genes x cells under ``chunk_elements`` (memory).
    Random draws come from a torch generator on that device seeded with ``seed``, cell by
    cell, so the result does not depend on the chunking; on the CPU a rerun is identical, a
    GPU draws a different (equally distributed) stream.
    """
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    quart = QuartileBins(background, device)
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32, device=device)
    n_cells, n_genes = x.shape
    target_t = torch.as_tensor(np.asarray(target), dtype=torch.long, device=device)
    with torch.no_grad():
        p_cells = _softmax_rows(model, x, eval_batch)
    width = 0.75 * np.sqrt(n_genes)
    cell_bins = quart.discretize(x)
    eye = torch.eye(n_genes, dtype=torch.float64, device=device)
    cell_batch = max(1, chunk_elements // (num_samples * n_genes))
    out = torch.zeros(n_cells, n_genes, dtype=torch.float64, device=device)
    for start in range(0, n_cells, cell_batch):
        idx = torch.arange(start, min(start + cell_batch, n_cells), device=device)
        c = len(idx)
        # every cell gets its own perturbations, as in lime (shared ones would make the noise of
        # all cells of a class correlated, so averaging over cells would not reduce it)
        # drawn cell by cell, so a cell's perturbations do not depend on how cells are chunked
        draws = [quart.sample((num_samples - 1, n_genes), generator) for _ in range(c)]
        bins, values = torch.stack([b for b, _ in draws]), torch.stack([v for _, v in draws])
        del draws
        t = target_t[idx]
        with torch.no_grad():
            p_pert = _softmax_rows(model, values, eval_batch)  # c x S-1 x classes
        del values
        same = (bins == cell_bins[idx][:, None, :]).float()  # c x S-1 x M
        del bins
        z = torch.cat([torch.ones(c, 1, n_genes, device=device), same], dim=1)  # c x S x M
        y = torch.cat([p_cells[idx, t][:, None], p_pert[torch.arange(c, device=device), :, t]], dim=1)  # c x S
        d2 = (n_genes - z.sum(dim=2)).double()  # squared Euclidean distance to the all-ones row (exact)
        raw_w = torch.sqrt(torch.exp(-d2 / width**2))
        w = raw_w / raw_w.sum(dim=1, keepdim=True)
        zm = (w[:, :, None] * z).sum(dim=1, keepdim=True)
        ym = (w * y).sum(dim=1, keepdim=True)
        # centred before the product: ZᵀWZ - m mᵀ in float32 loses the centred Gram to
        # cancellation at 20,000 samples
        zc, yc = z - zm.float(), y - ym
        zw = zc * w[:, :, None].float()
        # the S x M x M products run in float32 (the bulk of the work); the solve in float64
        gram = (zw.transpose(1, 2) @ zc).double()
        # ridge alpha = 1 in sklearn's scale (unnormalised weights): divide by the weight sum
        gram = gram + eye[None] / raw_w.sum(dim=1)[:, None, None]
        rhs = (zw.transpose(1, 2) @ yc.float()[:, :, None])[:, :, 0].double()
        chol = torch.linalg.cholesky(gram)  # symmetric positive definite thanks to the ridge term
        out[idx] = torch.cholesky_solve(rhs[:, :, None], chol)[:, :, 0]
    return out.cpu().numpy()


def shapley_kernel_pairs(n_genes: int, n_samples: int,
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """shap.KernelExplainer's coalitions and regression weights for ``n_genes`` varying genes.

    As shap: subset sizes are weighted by the Shapley kernel (M-1)/(s(M-s)); sizes whose
    every subset (and complement) fits into the remaining budget are enumerated with
    weight kernel/binom, the rest of the ``n_samples`` budget is drawn at random (size from
    the remaining kernel weight, then a uniform subset) with equal weights scaled to the
    kernel weight left. Every coalition comes with its complement, so the result lists the
    smaller member A of each pair — flat gene ``indices`` and ``offsets`` in
    ``torch.nn.functional.embedding_bag`` form — and each pair's weight (per member), all on
    the generator's device. For even M the middle size has no distinct complement size: its
    draws become pairs with half weight (its enumeration lists each pair once). The random
    draws are vectorised: sizes with ``torch.multinomial``, subsets as the first ``size``
    genes of a random permutation (an argsort of uniform keys).
    """
    m, device = n_genes, generator.device
    n_sizes, n_paired = int(np.ceil((m - 1) / 2)), int(np.floor((m - 1) / 2))
    kernel = np.array([(m - 1) / (s * (m - s)) for s in range(1, n_sizes + 1)])
    kernel[:n_paired] *= 2
    kernel /= kernel.sum()
    sets: list[tuple[int, ...]] = []
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
                sets.append(subset)
                weights.append(w)
    fixed_sizes = torch.tensor([len(s) for s in sets], dtype=torch.long)
    fixed_idx = torch.tensor([g for s in sets for g in s], dtype=torch.long)
    fixed_w = torch.tensor(weights, dtype=torch.float64)
    rand_sizes, rand_idx, rand_w = (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                                    torch.zeros(0, dtype=torch.float64))
    if n_full < n_sizes and left > 0:
        p = kernel.copy()
        p[:n_paired] /= 2  # a paired draw adds two samples
        p = torch.as_tensor(p[n_full:] / p[n_full:].sum(), device=device)
        # draw sizes until the budget is spent: a paired draw costs 2 samples, a middle one 1,
        # so ``left`` draws always suffice; keep them up to the one that spends the budget
        sizes = n_full + 1 + torch.multinomial(p, left, replacement=True, generator=generator)
        cost = torch.cumsum(torch.where(sizes <= n_paired, 2, 1), dim=0)
        sizes = sizes[: int(torch.searchsorted(cost, torch.tensor([left], device=device))) + 1]
        keys = torch.rand(len(sizes), m, generator=generator, device=device)
        order = keys.argsort(dim=1)
        rand_idx = order[torch.arange(m, device=device)[None, :] < sizes[:, None]]
        rand_w = torch.where(sizes <= n_paired, 1.0, 0.5).double()
        rand_w = rand_w * kernel[n_full:].sum() / (2 * rand_w.sum())
        rand_sizes = sizes
    sizes = torch.cat([fixed_sizes.to(device), rand_sizes])
    offsets = torch.cat([sizes.new_zeros(1), torch.cumsum(sizes, dim=0)[:-1]])
    return torch.cat([fixed_idx.to(device), rand_idx]), offsets, torch.cat([fixed_w.to(device), rand_w])


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
        self.weights = weights.to(self.device)  # float64, sums to 1
        self.eval_batch = eval_batch
        net = getattr(model, "net", None)
        self.first = net[0] if isinstance(net, nn.Sequential) and isinstance(net[0], nn.Linear) else None
        self.model = model
        if self.first is not None:
            self.rest = net[1:]
            with torch.no_grad():
                self.weight_t = self.first.weight.T.contiguous()  # genes x H
                self.h_bg = self.first(self.bg)  # K x H

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, indices: torch.Tensor, offsets: torch.Tensor):
        """(coalition A, complement) probabilities, each pairs x classes, background-weighted."""
        x, idx, off = x.to(self.device), indices.to(self.device), offsets.to(self.device)
        diff = x[None, :] - self.bg  # K x genes
        if self.first is not None:
            h_x = self.first(x[None, :])  # 1 x H
            bag = torch.stack([F.embedding_bag(idx, self.weight_t, off, mode="sum", per_sample_weights=diff[k, idx])
                               for k in range(len(self.bg))])  # K x pairs x H
            p_in = _softmax_rows(self.rest, self.h_bg[:, None, :] + bag, self.eval_batch)
            p_out = _softmax_rows(self.rest, h_x[None, :, :] - bag, self.eval_batch)
        else:
            n_pairs = len(off)
            mask = torch.zeros(n_pairs, len(x), dtype=torch.bool, device=self.device)
            pair = torch.repeat_interleave(torch.arange(n_pairs, device=self.device),
                                           torch.diff(torch.cat([off, off.new_tensor([len(idx)])])))
            mask[pair, idx] = True
            inside = torch.where(mask[None], x[None, None, :], self.bg[:, None, :])  # K x pairs x genes
            outside = torch.where(mask[None], self.bg[:, None, :], x[None, None, :])
            p_in = _softmax_rows(self.model, inside, self.eval_batch)
            p_out = _softmax_rows(self.model, outside, self.eval_batch)
        w = self.weights[:, None, None]
        return (p_in * w).sum(dim=0), (p_out * w).sum(dim=0)


def _constrained_shapley_fit(indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, n_genes: int,
                             y_in: torch.Tensor, y_out: torch.Tensor, total: float) -> torch.Tensor:
    """Kernel SHAP's regression for weighted complement pairs: min Σ ω (y - z·φ)² subject to Σ φ = total.

    Rows are z = 1_A (response ``y_in``) and z = 1 - 1_A (``y_out``), both with the pair's
    weight ω, responses already minus the base value. With the pair matrix A (pairs x
    genes) and Ω = diag(ω), ZᵀWZ = 2AᵀΩA - c1ᵀ - 1cᵀ + Σω·11ᵀ (c = Aᵀω) and
    ZᵀWy = AᵀΩ(y_in - y_out) + 1·Σωy_out, so the normal equations cost a sparse product
    instead of a dense samples x M x M one (sparse AᵀΩ times dense A). Solved (float64, on the tensors' device) with
    the constraint as a Lagrange row (the same solution as shap's elimination of one gene).
    """
    device = indices.device
    n_pairs = len(offsets)
    sizes = torch.diff(torch.cat([offsets, offsets.new_tensor([len(indices)])]))
    pair = torch.repeat_interleave(torch.arange(n_pairs, device=device), sizes)
    weights, y_in, y_out = weights.double(), y_in.double(), y_out.double()
    a = torch.zeros(n_pairs, n_genes, dtype=torch.float64, device=device)
    a[pair, indices] = 1.0
    a_w = torch.sparse_coo_tensor(torch.stack([indices, pair]), weights[pair], (n_genes, n_pairs),
                                  check_invariants=False)  # AᵀΩ
    c = torch.zeros(n_genes, dtype=torch.float64, device=device).index_add_(0, indices, weights[pair])
    gram = 2.0 * torch.sparse.mm(a_w, a) - c[:, None] - c[None, :] + weights.sum()
    rhs = torch.zeros(n_genes, dtype=torch.float64, device=device).index_add_(
        0, indices, (weights * (y_in - y_out))[pair]) + (weights * y_out).sum()
    kkt = torch.zeros(n_genes + 1, n_genes + 1, dtype=torch.float64, device=device)
    kkt[:n_genes, :n_genes] = gram
    kkt[:n_genes, n_genes] = kkt[n_genes, :n_genes] = 1.0
    b = torch.cat([rhs, rhs.new_tensor([total])])
    sol, info = torch.linalg.solve_ex(kkt, b)
    if int(info) != 0 or not torch.isfinite(sol).all():  # too few coalitions for M genes: minimum-norm fit
        sol = torch.linalg.pinv(kkt) @ b
    return sol[:n_genes]


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
    correlated, so averaging over a class's cells would not reduce it. Coalitions, model
    evaluations and the fit run on the model's device; draws come from a torch generator
    there seeded with ``seed`` (a CPU rerun is identical).
    """
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    x = np.asarray(inputs, dtype=np.float32)
    n_cells, n_genes = x.shape
    summary = np.asarray(summary, dtype=np.float32)
    bg = torch.as_tensor(summary, device=device)
    wb = torch.as_tensor(np.asarray(summary_weights, dtype=np.float64), device=device)
    wb = wb / wb.sum()
    x_t = torch.as_tensor(x, device=device)
    with torch.no_grad():
        base = (_softmax_rows(model, bg, eval_batch) * wb[:, None]).sum(dim=0)  # classes
        fx = _softmax_rows(model, x_t, eval_batch)
    coalition_model = _CoalitionModel(model, bg, wb, eval_batch)
    out = torch.zeros(n_cells, n_genes, dtype=torch.float64, device=device)
    for c in range(n_cells):
        t = int(target[c])
        total = float(fx[c, t] - base[t])
        varying = np.flatnonzero(~np.isclose(x[c][None, :], summary, equal_nan=True).all(axis=0))
        m = len(varying)
        varying_t = torch.as_tensor(varying, device=device)
        if m <= 1:  # nothing varies, or one gene carries the whole difference
            out[c, varying_t] = total
            continue
        budget = 2 * m + 2048 if n_samples == "auto" else int(n_samples)
        if m <= 30:
            budget = min(budget, 2**m - 2)
        local, offsets, weights = shapley_kernel_pairs(m, budget, generator)
        p_in, p_out = coalition_model(x_t[c], varying_t[local], offsets)
        out[c, varying_t] = _constrained_shapley_fit(local, offsets, weights, m, p_in[:, t] - base[t],
                                                     p_out[:, t] - base[t], total)
    return out.cpu().numpy()
