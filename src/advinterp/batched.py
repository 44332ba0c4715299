"""Batched torch implementations of the LIME-tabular and Kernel SHAP estimators.

The reference packages (``lime``, ``shap.KernelExplainer``) explain one cell at a time
and evaluate the model from numpy; at 1,000+ genes that costs seconds per cell. These
implement the *same estimators* so that many cells share one set of perturbations and
one batched model evaluation on the device:

- LIME (``lime.lime_tabular.LimeTabularExplainer`` defaults): quartile discretisation of
  each gene on the background cells; perturbations draw each gene's quartile bin from
  its background frequency and a value inside the bin from a truncated normal with the
  bin's mean and SD; the interpretable representation is "same bin as the cell"; sample
  weights ``sqrt(exp(-d²/w²))`` with d the Euclidean distance in that binary space and
  w = 0.75·sqrt(genes); the explanation is the weighted ridge (α = 1, intercept) fit of
  the target-class probability on the binary features, solved for a batch of cells at once.
- Kernel SHAP (``shap.KernelExplainer`` with ``l1_reg=False``): coalitions sampled from
  the Shapley kernel (sizes ∝ (M-1)/(s(M-s)), paired with their complements), the
  model evaluated with absent genes taken from each weighted background point (k-means
  summary), and the efficiency-constrained least-squares fit. The coalitions are shared
  by all cells, so the regression's pseudo-inverse is computed once.

``benchmarks/explainers.py`` measures both against the reference packages (speed and
Spearman correlation of per-class importance).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import special
from torch import nn


def _probabilities(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    with torch.no_grad():
        out = [torch.softmax(model(x[i:i + batch_size].to(device)), dim=1).double().cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(out)


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
        mean, std = self.mean[genes, bins], self.std[genes, bins]
        low, high = self.low[genes, bins], self.high[genes, bins]
        a, b = (low - mean) / std, (high - mean) / std
        # Where a bin's bounds coincide, lime returns the *standardised* bound (min - mean) / sd
        # rather than the value itself; kept here so that both implementations agree.
        values = np.array(a)
        differ = a != b
        # truncated normal by inverse CDF (the distribution of scipy's truncnorm.rvs, vectorised)
        lo, hi = special.ndtr(a[differ]), special.ndtr(b[differ])
        u = lo + rng.random(lo.shape) * (hi - lo)
        draws = special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        values[differ] = mean[differ] + std[differ] * np.clip(draws, a[differ], b[differ])
        return bins, values


def lime_batched(model: nn.Module, inputs: np.ndarray, target: np.ndarray, background: np.ndarray,
                 num_samples: int = 5000, seed: int = 0, cell_batch: int = 16,
                 eval_batch: int = 8192) -> np.ndarray:
    """LIME-tabular coefficients (cells x genes) for each cell's target class."""
    rng = np.random.default_rng(seed)
    quart = QuartileBins(background)
    n_genes = inputs.shape[1]
    p_cells = _probabilities(model, torch.as_tensor(np.asarray(inputs), dtype=torch.float32), eval_batch)
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
        p_pert = _probabilities(model, values, eval_batch).reshape(len(idx), num_samples - 1, -1)
        same = (bins_t == torch.as_tensor(cell_bins[idx])[:, None, :]).float()  # c x S-1 x M
        z = torch.cat([torch.ones(len(idx), 1, n_genes), same], dim=1)  # c x S x M
        t = torch.as_tensor(target[idx])
        y = torch.cat([p_cells[idx, t][:, None], p_pert[torch.arange(len(idx)), :, t]], dim=1)  # c x S
        d2 = (1.0 - z.double()).sum(dim=2)  # squared Euclidean distance to the all-ones row
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
        rhs = (zw.double() * yc[:, :, None]).sum(dim=1)
        chol = torch.linalg.cholesky(gram)  # symmetric positive definite thanks to the ridge term
        out[idx] = torch.cholesky_solve(rhs[:, :, None], chol)[:, :, 0].numpy()
    return out


def shapley_kernel_coalitions(n_genes: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean coalitions (n_samples x genes): sizes from the Shapley kernel, each paired with its complement."""
    sizes = np.arange(1, n_genes)
    p = (n_genes - 1) / (sizes * (n_genes - sizes))
    p = p / p.sum()
    half = (n_samples + 1) // 2
    drawn = rng.choice(sizes, size=half, p=p)
    masks = np.zeros((half, n_genes), dtype=bool)
    for i, s in enumerate(drawn):
        masks[i, rng.choice(n_genes, size=s, replace=False)] = True
    return np.concatenate([masks, ~masks])[:n_samples]


def _coalition_evaluator(model: nn.Module, z: torch.Tensor, bg: torch.Tensor, eval_batch: int):
    """Function cells (c x M) → class probabilities (c x S x K x classes) of every coalition/background input.

    The input of coalition s for cell c and background point k is bg_k + z_s ⊙ (x_c - bg_k).
    When the model starts with a linear layer W (as the MLP does), its pre-activation splits
    into a background part and a cell part,

        W (bg_k + z ⊙ (x_c - bg_k)) + b = [W bg_k + b - W (z ⊙ bg_k)] + W (z ⊙ x_c),

    so the first layer — most of the work — costs (cells + K) instead of cells × K
    products with the coalition matrix. Exact; other models are evaluated directly.
    """
    device = next(model.parameters()).device
    first = model.net[0] if hasattr(model, "net") and isinstance(model.net[0], nn.Linear) else None
    zf = z.float().to(device)
    bgd = bg.to(device)
    if first is None:
        def direct(xs: torch.Tensor) -> torch.Tensor:
            perturbed = torch.where(z[None, :, None, :], xs[:, None, None, :], bg[None, None, :, :])
            probs = _probabilities(model, perturbed.reshape(-1, xs.shape[1]), eval_batch)
            return probs.reshape(len(xs), len(z), len(bg), -1)

        return direct

    rest = model.net[1:]
    with torch.no_grad():
        # background part, K x S x H
        bg_part = torch.stack([first(bgd[k:k + 1]) - (zf * bgd[k]) @ first.weight.T for k in range(len(bg))])

    def factorised(xs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = []
            for c in range(len(xs)):
                cell_part = (zf * xs[c].to(device)) @ first.weight.T  # S x H
                pre = (bg_part + cell_part[None]).reshape(-1, bg_part.shape[-1])
                logits = torch.cat([rest(pre[i:i + eval_batch]) for i in range(0, len(pre), eval_batch)])
                out.append(torch.softmax(logits, dim=1).double().cpu().reshape(len(bg), len(z), -1)
                           .transpose(0, 1))
            return torch.stack(out)

    return factorised


def kernel_shap_batched(model: nn.Module, inputs: np.ndarray, target: np.ndarray, summary: np.ndarray,
                        summary_weights: np.ndarray, n_samples: int = 2048, seed: int = 0,
                        eval_batch: int = 8192) -> np.ndarray:
    """Kernel SHAP values (cells x genes) for each cell's target class.

    ``summary``/``summary_weights`` is the background (e.g. ``shap.kmeans``); genes absent
    from a coalition take each background point's value, predictions are averaged with
    the weights. Needs ``n_samples`` > number of genes for a determined regression.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(inputs, dtype=np.float32)
    n_cells, n_genes = x.shape
    if n_samples <= n_genes:
        raise ValueError(f"shap_kernel nsamples={n_samples} must exceed the number of genes ({n_genes})")
    masks = shapley_kernel_coalitions(n_genes, n_samples, rng)
    bg = torch.as_tensor(np.asarray(summary, dtype=np.float32))
    wb = torch.as_tensor(np.asarray(summary_weights, dtype=np.float64))
    wb = wb / wb.sum()
    z = torch.as_tensor(masks)
    base = (_probabilities(model, bg, eval_batch) * wb[:, None]).sum(dim=0)  # classes
    fx = _probabilities(model, torch.as_tensor(x), eval_batch)
    # regression design with the efficiency constraint eliminating the last gene
    zd = z.double()
    design = zd[:, :-1] - zd[:, -1:]
    pinv = torch.linalg.pinv(design)  # (M-1) x S, shared by all cells
    out = np.zeros((n_cells, n_genes))
    coalition_probs = _coalition_evaluator(model, z, bg, eval_batch)
    cells_per_batch = max(1, eval_batch * 8 // (len(z) * len(bg)))
    for start in range(0, n_cells, cells_per_batch):
        idx = range(start, min(start + cells_per_batch, n_cells))
        probs = coalition_probs(torch.as_tensor(x[list(idx)]))  # c x S x K x classes
        ey = (probs * wb[None, None, :, None]).sum(dim=2)  # c x S x classes
        for j, c in enumerate(idx):
            t = int(target[c])
            total = float(fx[c, t] - base[t])
            y = ey[j, :, t] - base[t] - zd[:, -1] * total
            phi = pinv @ y
            out[c, :-1] = phi.numpy()
            out[c, -1] = total - phi.sum().item()
    return out
