"""Sanity checks of the robustness evaluation (Carlini et al. 2019, "On Evaluating Adversarial Robustness").

Every check is computed for every model and written as a row of ``robustness/sanity.tsv``
(``model, check, passed, detail``); a failed check means a robust accuracy of that model
should not be trusted (the attacks failed, or gradients are masked), and is logged as a
warning. The checks:

- ``monotone_in_epsilon``: robust accuracy does not rise with ε (a larger ball contains the
  smaller one, so a rise is an attack failing);
- ``zero_at_large_epsilon``: at a very large ε (``large_epsilon``) robust accuracy is ~0
  (≤ ``max_accuracy_at_large_epsilon``);
- ``converged``: twice the iterations and queries and two more restarts do not lower robust
  accuracy at the model's ε by more than ``tolerance``;
- ``whitebox_le_transfer``: attacks against the model itself are at least as strong as cells
  attacked against an independently trained surrogate (transfer);
- ``gradient_free_not_stronger``: Square Attack, run on the cells that the gradient attacks
  left standing, lowers robust accuracy by at most ``tolerance`` (more is the signature of
  gradient masking; when fewer cells stand, masking cannot inflate robust accuracy by more).

Comparisons of two accuracies (monotone, converged, white-box vs transfer, gradient-free) allow
a slack of ``tolerance`` or one cell, whichever is larger; ``zero_at_large_epsilon`` compares
with its own bound.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
from torch import nn

from advinterp.autoattack import GRADIENT_ATTACKS, RobustEvaluation, evaluate, square
from advinterp.device import model_device
from advinterp.model import as_float_tensor, predict
from advinterp.specs import EvaluationSpec, SanitySpec

log = logging.getLogger(__name__)

SANITY_COLUMNS = ["model", "check", "passed", "detail"]
CURVE_COLUMNS = ["model", "epsilon", "accuracy", "clean_accuracy", "broken_by"]
CHECKS = ("monotone_in_epsilon", "zero_at_large_epsilon", "converged", "whitebox_le_transfer",
          "gradient_free_not_stronger")


def _slack(tolerance: float, n: int) -> float:
    return max(tolerance, 1.0 / max(n, 1)) + 1e-12


def check_monotone(curve: pd.Series, tolerance: float, n: int) -> tuple[bool, str]:
    """Robust accuracy (indexed by ε) never rises by more than the slack from one ε to the next."""
    curve = curve.sort_index()
    rises = [(a, b, curve[b] - curve[a]) for a, b in zip(curve.index[:-1], curve.index[1:], strict=True)
             if curve[b] - curve[a] > _slack(tolerance, n)]
    values = ", ".join(f"{e:g}: {v:.3f}" for e, v in curve.items())
    if rises:
        where = "; ".join(f"{a:g} -> {b:g} rises by {d:.3f}" for a, b, d in rises)
        return False, f"accuracy rises with epsilon ({where}); curve {values}"
    return True, f"curve {values}"


def check_at_most(value: float, bound: float, what: str) -> tuple[bool, str]:
    return bool(value <= bound + 1e-12), f"{what} {value:.3f} (must be <= {bound:.3f})"


def check_converged(base: float, stronger: float, slack: float) -> bool:
    """A stronger run of the same attacks does not find more than ``slack`` of extra cells."""
    return bool(stronger >= base - slack)


def check_whitebox_le_transfer(whitebox: float, transfer: float, slack: float) -> bool:
    """Attacking the model itself is at least as strong as transferring from a surrogate."""
    return bool(whitebox <= transfer + slack)


def _eval_detail(r: RobustEvaluation) -> str:
    return ", ".join(f"{k} {v}" for k, v in r.counts().items())


def _accuracy(model, x, y) -> float:
    return float((predict(model, x, model_device(model)) == y).mean())


def sanity_checks(models: dict[str, nn.Module], surrogate: nn.Module, x, y, epsilons: list[float],
                  model_epsilon: dict[str, float], eval_spec: EvaluationSpec, spec: SanitySpec,
                  seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(sanity table, robust-accuracy curves)`` for every model.

    ``epsilons``: the grid of the monotonicity check; ``model_epsilon[name]``: the ε at
    which the model's robust accuracy is reported (converged, transfer and masking checks);
    ``surrogate``: an independently trained model whose attacked cells are transferred.
    """
    x = as_float_tensor(x)
    y = np.asarray(y)
    n = len(y)
    slack = _slack(spec.tolerance, n)
    stronger = replace(eval_spec, n_iter=2 * eval_spec.n_iter, n_restarts=eval_spec.n_restarts + 2,
                       square_queries=2 * eval_spec.square_queries)
    rows, curves = [], []
    for name, model in models.items():
        eps = float(model_epsilon[name])
        # the checks need the counts only, not the attacked cells (each a copy of x), but for the
        # surrogate's, which are transferred
        results = {e: evaluate(model, x, y, e, eval_spec, seed, keep_cells=False)
                   for e in sorted(set(epsilons) | {eps})}
        curve = pd.Series({e: r.accuracy for e, r in results.items() if e in epsilons})
        curves += [(name, e, r.accuracy, r.clean_accuracy, _eval_detail(r)) for e, r in results.items()
                   if e in epsilons]
        rows.append((name, "monotone_in_epsilon", *check_monotone(curve, spec.tolerance, n)))

        large = evaluate(model, x, y, spec.large_epsilon, eval_spec, seed, keep_cells=False)
        ok, detail = check_at_most(large.accuracy, spec.max_accuracy_at_large_epsilon,
                                   f"robust accuracy at epsilon {spec.large_epsilon:g}:")
        rows.append((name, "zero_at_large_epsilon", ok, detail))

        base = results[eps]
        strong = evaluate(model, x, y, eps, stronger, seed + 1, keep_cells=False)
        ok = check_converged(base.accuracy, strong.accuracy, slack)
        rows.append((name, "converged", ok,
                     f"epsilon {eps:g}: {base.accuracy:.3f} with {eval_spec.n_iter} iterations, "
                     f"{eval_spec.n_restarts} restart(s), {eval_spec.square_queries} queries; {strong.accuracy:.3f} "
                     f"with {stronger.n_iter}, {stronger.n_restarts}, {stronger.square_queries}"))

        transfer = _accuracy(model, evaluate(surrogate, x, y, eps, eval_spec, seed).x_adv, y)
        ok = check_whitebox_le_transfer(base.accuracy, transfer, slack)
        rows.append((name, "whitebox_le_transfer", ok,
                     f"epsilon {eps:g}: white-box {base.accuracy:.3f}, transfer from the surrogate {transfer:.3f}"))

        rows.append((name, "gradient_free_not_stronger", *_gradient_free_check(model, x, y, eps, base, eval_spec,
                                                                               slack, seed)))
    table = pd.DataFrame(rows, columns=SANITY_COLUMNS)
    for row in table[~table["passed"]].itertuples():
        log.warning("robustness sanity check failed: %s %s: %s", row.model, row.check, row.detail)
    return table, pd.DataFrame(curves, columns=CURVE_COLUMNS)


def _gradient_free_check(model, x, y, eps, base: RobustEvaluation, eval_spec: EvaluationSpec, slack: float,
                         seed: int) -> tuple[bool, str]:
    """Square on the cells the gradient attacks left standing: the robust accuracy it takes away
    (cells it breaks / all cells) must be within the slack."""
    gradient = tuple(a for a in eval_spec.attacks if a in GRADIENT_ATTACKS) or ("apgd_ce",)
    if eval_spec.attacks[-1] == "square" and tuple(eval_spec.attacks[:-1]) == gradient:
        standing = np.isin(base.broken_by, ("", "square"))
        by_square = int((base.broken_by == "square").sum())
    else:
        grad = evaluate(model, x, y, eps, replace(eval_spec, attacks=gradient), seed, keep_cells=False)
        standing = grad.broken_by == ""
        idx = np.flatnonzero(standing)
        _, fooled = square(model, x[idx], y[idx], eps, eval_spec.square_queries, eval_spec.square_p_init, seed,
                           eval_spec.batch_size)
        by_square = int(fooled.sum())
    n = len(y)
    ok = by_square / n <= slack
    return bool(ok), (f"epsilon {eps:g}: Square broke {by_square} of the {int(standing.sum())} cells that "
                      f"{'+'.join(gradient)} left standing ({by_square / n:.3f} of all cells)")
