"""AutoAttack-grade white-box evaluation (Croce & Hein 2020) in torch, on the model's device.

Robust accuracy at ε is the fraction of test cells that *every* attack of the evaluation
leaves correctly classified: the attacks run in order, each on the cells that no earlier
attack has broken (as AutoAttack does), and every cell remembers which attack broke it.

Attacks (all untargeted except ``apgd_t``, all in the L∞ ball of radius ε around the cell):

- ``apgd_ce`` — APGD with the cross-entropy loss: step size 2ε halved at AutoAttack's
  checkpoints when the loss stops improving, momentum 0.75, restarts from random points of
  the ball; any misclassified iterate counts.
- ``apgd_dlr`` — APGD with the difference-of-logits-ratio loss, which is invariant to the
  logits' scale, so a saturated softmax (zero cross-entropy gradient in float32) does not stop it.
- ``apgd_t`` — targeted APGD with the targeted DLR loss, once per target class among the
  ``n_target_classes`` classes with the largest clean logits after the true one.
- ``square`` — Square Attack (Andriushchenko et al. 2020), a gradient-free random search:
  genes laid out row by row on a square grid, vertical-stripe initialisation, square windows
  whose area shrinks on the published schedule, margin loss. A cell it breaks that the gradient
  attacks left standing is the signature of gradient masking.

Why not a package: torchattacks 3.5.1 pins ``requests~=2.25.1`` and cannot be installed beside
this workflow's stack; ART 1.20.1's APGD keeps only the last iterate of each run, runs its
arithmetic in numpy, and its Square Attack accepts image-shaped inputs only (and loops on the
CPU). ``benchmarks/robustness.py`` runs ART's APGD on the same model and cells and prints the
robust accuracies and the speed ratio; ``tests/test_autoattack.py`` checks ours is at least as
strong as ART's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advinterp.device import model_device
from advinterp.model import as_float_tensor, predict_logits
from advinterp.specs import EvaluationSpec

log = logging.getLogger(__name__)

GRADIENT_ATTACKS = ("apgd_ce", "apgd_dlr", "apgd_t")


# ------------------------------------------------------------------------ losses
def _sorted_logits(logits: torch.Tensor) -> torch.Tensor:
    return logits.sort(dim=1, descending=True).values


def _other_max(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Largest logit among the classes other than ``y``."""
    masked = logits.clone()
    masked[torch.arange(len(y), device=logits.device), y] = -torch.inf
    return masked.max(dim=1).values


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini–Wagner margin, per cell: max_{i≠y} z_i − z_y (> 0 when the cell is misclassified)."""
    return _other_max(logits, y) - logits.gather(1, y[:, None])[:, 0]


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), per cell (π: logits sorted).

    With two classes the ratio is ±1 whatever the input (no gradient): the margin loss is used instead.
    """
    if logits.shape[1] < 3:
        return margin_loss(logits, y)
    z = _sorted_logits(logits)
    return margin_loss(logits, y) / (z[:, 0] - z[:, 2] + 1e-12)


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), per cell (indices capped by the number of classes;
    with two classes the target is the other class and the margin loss is used)."""
    z = _sorted_logits(logits)
    k = z.shape[1]
    if k < 3:
        return margin_loss(logits, y)
    denom = z[:, 0] - 0.5 * (z[:, min(2, k - 1)] + z[:, min(3, k - 1)]) + 1e-12
    zy = logits.gather(1, y[:, None])[:, 0]
    zt = logits.gather(1, target[:, None])[:, 0]
    return -(zy - zt) / denom


def _loss(name: str, logits, y, target=None) -> torch.Tensor:
    if name == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    if name == "dlr":
        return dlr_loss(logits, y)
    if name == "dlr_targeted":
        return dlr_targeted_loss(logits, y, target)
    if name == "margin":
        return margin_loss(logits, y)
    raise ValueError(f"unknown loss {name!r}")


def _loss_and_grad(model, x, y, loss, target=None):
    x = x.detach().requires_grad_(True)
    logits = model(x)
    values = _loss(loss, logits, y, target)
    (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad.detach(), logits.detach()


def _uniform(shape, generator: torch.Generator, device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the CPU (same numbers on every device), moved to ``device``."""
    return torch.rand(shape, generator=generator).to(device)


# ------------------------------------------------------------------------ APGD
def _apgd_run(model, x0, y, eps: float, n_iter: int, loss: str, generator, target=None):
    """One APGD run from a random point of the ball.

    Returns ``(points, fooled, best loss)``: per cell the misclassified iterate where one was
    found, else the iterate of highest loss (what adversarial training and structure
    preservation need: a cell the attack could not flip is still pushed as far as it went).
    """
    n_iter2 = max(int(0.22 * n_iter), 1)
    n_iter_min = max(int(0.06 * n_iter), 1)
    size_decr = max(int(0.03 * n_iter), 1)
    lo, hi = x0 - eps, x0 + eps
    x_adv = torch.clamp(x0 + eps * (2 * _uniform(x0.shape, generator, x0.device) - 1), lo, hi)
    values, grad, logits = _loss_and_grad(model, x_adv, y, loss, target)
    fooled = logits.argmax(1) != y
    x_best_adv = x_adv.clone()
    step = torch.full((len(x0), 1), 2.0 * eps, device=x0.device)
    x_best, grad_best, loss_best = x_adv.clone(), grad.clone(), values.clone()
    # loss_steps[0]: the random start, so the first checkpoint counts f(x1) > f(x0) too (the paper's w_0 = 0)
    loss_steps = torch.zeros(n_iter + 1, len(x0), device=x0.device)
    loss_steps[0] = values
    loss_best_last_check = loss_best.clone()
    reduced_last_check = torch.ones(len(x0), dtype=torch.bool, device=x0.device)
    x_adv_old = x_adv.clone()
    k, counter = n_iter2, 0
    for i in range(n_iter):
        with torch.no_grad():
            alpha = 0.75 if i > 0 else 1.0
            z = torch.clamp(x_adv + step * grad.sign(), lo, hi)
            x_new = torch.clamp(x_adv + alpha * (z - x_adv) + (1 - alpha) * (x_adv - x_adv_old), lo, hi)
            x_adv_old, x_adv = x_adv, x_new
        values, grad, logits = _loss_and_grad(model, x_adv, y, loss, target)
        now = (logits.argmax(1) != y) & ~fooled
        x_best_adv[now] = x_adv[now]
        fooled |= now
        loss_steps[i + 1] = values
        better = values > loss_best
        x_best[better], grad_best[better], loss_best[better] = x_adv[better], grad[better], values[better]
        counter += 1
        if counter == k:
            # AutoAttack's checkpoint: halve the step where the loss rose in <= 75% of the last k
            # steps, or where the last halving brought no improvement; restart from the best point
            rises = (loss_steps[i + 2 - k:i + 2] > loss_steps[i + 1 - k:i + 1]).sum(0)
            oscillating = rises <= 0.75 * k
            stalled = ~reduced_last_check & (loss_best_last_check >= loss_best)
            reduce = oscillating | stalled
            reduced_last_check = reduce
            loss_best_last_check = loss_best.clone()
            step[reduce] /= 2.0
            x_adv[reduce], grad[reduce] = x_best[reduce], grad_best[reduce]
            counter, k = 0, max(k - size_decr, n_iter_min)
    return torch.where(fooled[:, None], x_best_adv, x_best), fooled, loss_best


def apgd(model: nn.Module, x, y, epsilon: float, n_iter: int = 100, loss: str = "ce", n_restarts: int = 1,
         seed: int = 0, target=None, batch_size: int = 4096) -> tuple[torch.Tensor, np.ndarray]:
    """APGD (Croce & Hein 2020) under L∞; returns (cells, fooled mask), on the CPU.

    Restarts run only on the cells not yet fooled. A fooled cell is returned at its
    adversarial point; any other at the highest-loss point of its runs. ``loss``: ce | dlr |
    dlr_targeted | margin (``target`` classes for ``dlr_targeted``). Random draws are made
    cell by cell in order, so the result does not depend on ``batch_size``.
    """
    device = model_device(model)
    x = as_float_tensor(x).cpu()
    y = torch.as_tensor(y.cpu().numpy() if torch.is_tensor(y) else np.asarray(y), dtype=torch.long)
    t = None if target is None else torch.as_tensor(np.asarray(target), dtype=torch.long)
    x_adv, fooled = x.clone(), np.zeros(len(x), dtype=bool)
    if epsilon == 0 or len(x) == 0:
        return x_adv, _misclassified(model, x, y, batch_size)
    best_loss = torch.full((len(x),), -torch.inf)
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    try:
        for _ in range(max(1, n_restarts)):
            todo = np.flatnonzero(~fooled)
            for i in range(0, len(todo), batch_size):
                idx = todo[i:i + batch_size]
                tb = None if t is None else t[idx].to(device)
                xb, fb, lb = _apgd_run(model, x[idx].to(device), y[idx].to(device), epsilon, n_iter, loss, gen, tb)
                xb, fb, lb = xb.cpu(), fb.cpu().numpy(), lb.cpu()
                keep = torch.as_tensor(fb) | (lb > best_loss[idx])
                x_adv[idx[keep.numpy()]] = xb[keep]
                best_loss[idx] = torch.maximum(best_loss[idx], lb)
                fooled[idx[fb]] = True
            if fooled.all():
                break
    finally:
        model.train(was_training)
    return x_adv, fooled


# ------------------------------------------------------------------------ Square
def _p_selection(p_init: float, it: int, n_queries: int) -> float:
    """Fraction of the input changed at iteration ``it`` (the schedule of Andriushchenko et al.)."""
    it = int(it / n_queries * 10000)
    for bound, divisor in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64),
                           (6000, 128), (8000, 256)):
        if it <= bound:
            return p_init / divisor
    return p_init / 512


def square(model: nn.Module, x, y, epsilon: float, n_queries: int = 5000, p_init: float = 0.8, seed: int = 0,
           batch_size: int = 4096) -> tuple[torch.Tensor, np.ndarray]:
    """Square Attack under L∞ (gradient-free); returns (adversarial cells, fooled mask), on the CPU.

    The genes are laid out row by row on an H × W grid (H = W = ⌈√genes⌉; padding never
    reaches the model); each query sets one random square window to +ε or −ε and keeps the
    change if the margin loss falls. One model call per query on the cells not yet fooled
    (in batches of ``batch_size``); every query's random draws are made for all those cells
    at once, so the result does not depend on ``batch_size``.
    """
    device = model_device(model)
    x = as_float_tensor(x).cpu()
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    n, d = x.shape
    if epsilon == 0 or n == 0:
        return x.clone(), _misclassified(model, x, y, batch_size)
    side = int(np.ceil(np.sqrt(d)))
    gen = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()

    def margins(cells: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """z_y − max_{i≠y} z_i of ``x[cells] + delta`` (minimised; < 0 = fooled), batched on the device."""
        out = []
        with torch.no_grad():
            for i in range(0, len(cells), batch_size):
                idx = cells[i:i + batch_size]
                xb = x_dev[idx] + delta[i:i + batch_size]
                out.append(-margin_loss(model(xb), y_dev[idx]))
        return torch.cat(out) if out else torch.empty(0, device=device)

    try:
        # the cells and their perturbations live on the device; the random draws are made on the
        # CPU (the same numbers on every device) and moved there
        x_dev, y_dev = x.to(device), y.to(device)
        cols = (torch.arange(d) % side).to(device)
        rows = (torch.arange(d) // side).to(device)
        # vertical stripes: one sign per grid column
        signs = (2 * (torch.rand((n, side), generator=gen) < 0.5).float() - 1).to(device)
        delta = epsilon * signs.gather(1, cols.expand(n, d))
        margin = margins(torch.arange(n, device=device), delta)
        for it in range(n_queries):
            active = torch.nonzero(margin > 0).flatten()
            if len(active) == 0:
                break
            p = _p_selection(p_init, it, n_queries)
            s = int(min(max(round(np.sqrt(p * d)), 1), max(side - 1, 1)))
            corner = (torch.rand((len(active), 2), generator=gen) * (side - s + 1)).long().to(device)
            sign = (2 * (torch.rand((len(active), 1), generator=gen) < 0.5).float() - 1).to(device)
            # a batch of cells at a time (the model's batches): the windows, old and new
            # perturbations are batch × genes, never active cells × genes
            for i in range(0, len(active), batch_size):
                cells, c, sg = active[i:i + batch_size], corner[i:i + batch_size], sign[i:i + batch_size]
                in_window = ((rows >= c[:, :1]) & (rows < c[:, :1] + s) & (cols >= c[:, 1:]) & (cols < c[:, 1:] + s))
                old = delta[cells]
                # a window already all at the drawn sign would not change anything: flip the sign
                unchanged = ((old * in_window) == (epsilon * sg * in_window)).all(1, keepdim=True)
                new = torch.where(in_window, epsilon * torch.where(unchanged, -sg, sg), old)
                m_new = margins(cells, new)
                better = m_new < margin[cells]
                delta[cells[better]] = new[better]
                margin[cells[better]] = m_new[better]
    finally:
        model.train(was_training)
    # x + δ, written over δ (its last use): one copy of the cells fewer
    x_adv = delta.cpu().add_(x)
    # the fooled mask is the model's own verdict on the returned cells
    return x_adv, _misclassified(model, x_adv, y, batch_size)


# ------------------------------------------------------------------ evaluation
def _misclassified(model, x, y, batch_size: int) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    y = torch.as_tensor(y.cpu().numpy() if torch.is_tensor(y) else np.asarray(y))
    return (predict_logits(model, x, model_device(model), batch_size).argmax(1) != y).numpy()


@dataclass
class RobustEvaluation:
    """Outcome of :func:`evaluate` at one ε.

    ``broken_by[i]``: the attack that first misclassified cell i, ``"clean"`` if the model
    misclassifies it unattacked, ``""`` if it survived every attack. ``x_adv``: the cells as
    left by the attacks (the adversarial point where one was found); ``None`` where a caller
    that needs only the counts has let them go.
    """

    epsilon: float
    attacks: tuple[str, ...]
    broken_by: np.ndarray
    x_adv: torch.Tensor | None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float((self.broken_by == "").mean()) if len(self.broken_by) else float("nan")

    @property
    def clean_accuracy(self) -> float:
        return float((self.broken_by != "clean").mean()) if len(self.broken_by) else float("nan")

    def accuracy_after(self, attack: str) -> float:
        """Robust accuracy once the attacks up to and including ``attack`` have run."""
        upto = self.attacks[:self.attacks.index(attack) + 1]
        return float((~np.isin(self.broken_by, ("clean",) + upto)).mean())

    def counts(self) -> dict[str, int]:
        """Cells broken by each attack (and misclassified clean), in order."""
        return {name: int((self.broken_by == name).sum()) for name in ("clean",) + self.attacks}

    def fold(self, model: nn.Module, name: str, x_other, y, batch_size: int = 4096) -> RobustEvaluation:
        """The worst case per cell over this evaluation and the cells ``x_other`` (another attack,
        ``name``, run separately: the workflow folds in the named attack of a sweep row). Without
        attacked cells (``x_adv`` ``None``) if this evaluation has none."""
        x_other = as_float_tensor(x_other)
        wrong = (self.broken_by == "") & _misclassified(model, x_other, np.asarray(y), batch_size)
        x_adv = None
        if self.x_adv is not None:
            x_adv = self.x_adv.clone()
            x_adv[torch.as_tensor(wrong)] = x_other[torch.as_tensor(wrong)]
        broken = np.where(wrong, name, self.broken_by)
        return RobustEvaluation(self.epsilon, self.attacks + (name,), broken, x_adv, dict(self.seconds))


def _target_classes(model, x, y, n_targets: int, batch_size: int) -> list[torch.Tensor]:
    """For each of the ``n_targets`` runs of APGD-T: per cell, the class with the (j+2)-th largest clean logit."""
    logits = predict_logits(model, x, model_device(model), batch_size)
    logits[torch.arange(len(y)), y] = -torch.inf
    order = logits.argsort(dim=1, descending=True)
    n_other = logits.shape[1] - 1
    return [order[:, j] for j in range(min(n_targets, n_other))]


def evaluate(model: nn.Module, x, y, epsilon: float, spec: EvaluationSpec | None = None,
             seed: int = 0, keep_cells: bool = True) -> RobustEvaluation:
    """Worst case per cell over ``spec.attacks``, each run on the cells still standing.

    ``keep_cells=False``: the result's ``x_adv`` is ``None`` (a caller that needs only the
    counts and accuracies saves a copy of ``x``). Besides ``x`` (and ``x_adv``), at most three
    copies of the cells still standing are held at a time; the attacks' batches hold
    ``spec.batch_size`` cells.
    """
    spec = spec or EvaluationSpec()
    x = as_float_tensor(x)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    broken = np.where(_misclassified(model, x, y, spec.batch_size), "clean", "").astype(object)
    x_adv = x.clone() if keep_cells else None
    seconds = {}
    for k, name in enumerate(spec.attacks):
        start = time.perf_counter()
        todo = np.flatnonzero(broken == "")
        if epsilon > 0 and len(todo):
            xs, ys = x[todo], y[todo]
            run_seed = seed * 1000 + k
            if name == "square":
                xa, fooled = square(model, xs, ys, epsilon, spec.square_queries, spec.square_p_init, run_seed,
                                    spec.batch_size)
            elif name == "apgd_t":
                # each target's adversarial cells are written over xs: a later target reads only the
                # cells no earlier one fooled, whose rows are untouched
                fooled = np.zeros(len(todo), dtype=bool)
                for j, target in enumerate(_target_classes(model, xs, ys, spec.n_target_classes, spec.batch_size)):
                    left = np.flatnonzero(~fooled)
                    if not len(left):
                        break
                    xt, ft = apgd(model, xs if len(left) == len(xs) else xs[left], ys[left], epsilon, spec.n_iter,
                                  "dlr_targeted", spec.n_restarts, run_seed * 100 + j, target[left], spec.batch_size)
                    xs[left[ft]] = xt[torch.as_tensor(ft)]
                    fooled[left[ft]] = True
                    del xt
                xa = xs
            elif name in ("apgd_ce", "apgd_dlr"):
                xa, fooled = apgd(model, xs, ys, epsilon, spec.n_iter, name.removeprefix("apgd_"), spec.n_restarts,
                                  run_seed, None, spec.batch_size)
            else:
                raise ValueError(f"unknown evaluation attack {name!r}; use any of {list(spec.ATTACKS)}")
            # the model's own verdict on the returned cells decides, whatever the attack reported
            fooled = _misclassified(model, xa, ys, spec.batch_size) & fooled
            if x_adv is not None:
                x_adv[todo[fooled]] = xa[torch.as_tensor(fooled)]
            broken[todo[fooled]] = name
            del xs, xa  # before the next attack copies the cells still standing
        seconds[name] = round(time.perf_counter() - start, 3)
    result = RobustEvaluation(float(epsilon), tuple(spec.attacks), broken.astype(str), x_adv, seconds)
    log.info("autoattack eps=%g: accuracy %.4f (clean %.4f), broken by %s", epsilon, result.accuracy,
             result.clean_accuracy, result.counts())
    return result
