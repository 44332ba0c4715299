"""Explanations checked the way the XAI field checks them: sanity, faithfulness and robustness.

Every explainer of :mod:`advinterp.explain` is put through three kinds of check, for each
training regime, on the same test cells (and background) that the interpretability step
explains (:func:`advinterp.explain.select_cells`, targets = the cells' true classes):

- **Sanity (Adebayo et al. 2018, "Sanity checks for saliency maps").** *Model-parameter
  randomisation*, cascading: the top ``k`` Linear layers (output layer first) are
  re-initialised (:func:`randomise_layers`) and the explanation of the randomised network
  is compared with the real one. *Data (label) randomisation*: the same architecture
  trained on shuffled training labels (:func:`label_randomised_model`). An explanation
  that stays similar although what the network learned was destroyed describes the input
  or the architecture, not the model. Similarity: :func:`spearman_similarity`, the rank
  correlation of |attribution| per cell, as Adebayo et al. compare absolute maps.
  :func:`randomisation_check` turns the similarities into pass/fail.
- **Faithfulness: deletion and insertion curves** (Petsiuk et al. 2018, RISE; Samek et al.
  2017). Genes are removed (set to the training mean) or inserted into the mean cell in
  the order of the explanation; the area under the target-class probability curve is
  low for deletion and high for insertion when the ranking is faithful
  (:func:`deletion_insertion_auc`).
- **Robustness: Max-Sensitivity** (Yeh et al. 2019): the largest relative change of the
  explanation under uniform input noise in an L-inf ball (:func:`max_sensitivity`),
  computed by ``quantus.MaxSensitivity`` (quantus 0.6.0) with its default norms
  (Frobenius = L2 per cell, difference of attributions). quantus takes the 2-D
  cells x genes input as tabular data as it is (``infer_channel_first`` treats a 2-D
  batch as "no channel"); the torch model is not handed to quantus at all — it only
  uses the model to drop samples whose prediction changes, which is off by default
  (``return_nan_when_prediction_changes=False``), so the explanation function carries
  the model. quantus draws its noise from numpy's global generator: it is seeded with
  ``seed`` and the caller's global state is restored afterwards.

:func:`evaluate_explanations` runs all of it for one trained model and returns the long
table (``regime, method, metric, value, seed``) that the workflow writes.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

from advinterp.adversarial import adversarial_train
from advinterp.device import model_device
from advinterp.explain import explained_cells, make_explainer
from advinterp.io import read_tables
from advinterp.model import MLP, SplitData, TrainResult, train_classifier
from advinterp.regimes import train_regime
from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    NoiseTrainingSpec,
    RegularisationSpec,
    TrainSpec,
    base_regime,
    parse_regime,
    regime_attack,
    trained_here,
)
from advinterp.store import column_mean

TABLE_COLUMNS = ["regime", "method", "metric", "value", "seed"]
CHECK_COLUMNS = ["regime", "method", "check", "passed", "detail"]
CASCADE_PREFIX = "randomisation_cascade_"
LABEL_METRIC = "randomisation_labels"


# --- model-parameter randomisation -------------------------------------------------------------
def _linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of ``model`` from input to output (module registration order)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def n_linear_layers(model: nn.Module) -> int:
    """Number of Linear layers (the output layer included) of ``model``."""
    return len(_linear_layers(model))


def randomise_layers(model: nn.Module, n_top: int, seed: int) -> nn.Module:
    """A deep copy of ``model`` whose top ``n_top`` Linear layers are re-initialised.

    Cascading model-parameter randomisation (Adebayo et al. 2018): the layers are counted
    from the output layer down and re-initialised in that order with the distribution of
    ``nn.Linear.reset_parameters`` (kaiming-uniform weights with ``a=√5``, biases
    U(±1/√fan_in)), drawn from a CPU ``torch.Generator`` seeded with ``seed`` and copied
    to the model's device — the same numbers on any device, and a layer gets the same
    weights at every cascade depth (depth k+1 only adds the next layer down).
    ``model`` itself is not changed; the copy keeps its train/eval mode.
    """
    out = copy.deepcopy(model)
    layers = _linear_layers(out)
    if not 0 <= n_top <= len(layers):
        raise ValueError(f"n_top={n_top}: the model has {len(layers)} Linear layers")
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for layer in reversed(layers[len(layers) - n_top:]):
            weight = torch.empty(layer.weight.shape, dtype=layer.weight.dtype)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=gen)
            layer.weight.copy_(weight)
            if layer.bias is not None:
                fan_in = layer.weight.shape[1]
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                bias = torch.empty(layer.bias.shape, dtype=layer.bias.dtype)
                nn.init.uniform_(bias, -bound, bound, generator=gen)
                layer.bias.copy_(bias)
    return out


def cascade_levels(n_layers: int) -> list[int]:
    """Cascade depths evaluated: 1 (output layer only), about half (⌈n/2⌉) and all ``n_layers``.

    Not every depth: each depth means explaining every cell again with every method, and
    LIME and kernel SHAP cost thousands of model evaluations per cell (the paper's MLP has
    8 Linear layers, so all depths would be 8 extra explanation runs per method and
    regime instead of 3). The three depths show the start of the cascade, its middle, and
    the fully randomised network that :func:`randomisation_check` judges.
    """
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers}: a model has at least one Linear layer")
    return sorted({1, (n_layers + 1) // 2, n_layers})


# --- data randomisation -------------------------------------------------------------------------
def shuffled_labels(y, seed: int) -> np.ndarray:
    """A permuted copy of ``y`` (``numpy.random.default_rng(seed)``); class sizes are kept."""
    return np.random.default_rng(seed).permutation(np.asarray(y))


def label_randomised_training(data: SplitData, arch: Architecture | None, train_spec: TrainSpec, seed: int,
                              device: torch.device) -> TrainResult:
    """The standard regime's training (:func:`advinterp.model.train_classifier`, same
    architecture, spec and seed) on the training labels shuffled with ``seed``.

    The test labels stay real, so the history's test accuracy shows the model is at chance.
    """
    y = shuffled_labels(data.y_train, seed)
    return train_classifier(data.x_train, y, data.x_test, data.y_test, len(data.class_names), arch, train_spec,
                            seed, device)


def label_randomised_model(data: SplitData, regime: str, arch: Architecture | None, train_spec: TrainSpec,
                           seed: int, device: torch.device, *, epsilon: float | None = None,
                           adv_spec: AdversarialTrainingSpec | None = None, attack_spec: AttackSpec | None = None,
                           standard: MLP | None = None, regularisation: RegularisationSpec | None = None,
                           noise: NoiseTrainingSpec | None = None) -> tuple[MLP, pd.DataFrame]:
    """The label-randomisation counterpart of a regime's model, trained as that regime is, and its history.

    ``standard``: :func:`label_randomised_training`. ``adv_<attack>``: adversarial training
    (:func:`advinterp.adversarial.adversarial_train`, with ``epsilon``, ``adv_spec``,
    ``attack_spec``) continued from the label-randomised standard model on the same
    shuffled labels — as the real ``adv_*`` models continue from the real standard model.
    Pass that label-randomised standard model as ``standard`` to train it only once for
    all regimes. Koo's regimes (``noise``, ``*_reg``: :func:`advinterp.regimes.train_regime`, with
    ``regularisation`` and ``noise``) likewise, continued from ``standard``, the label-randomised
    model of their :func:`~advinterp.regimes.base_regime`.
    """
    if regime == "standard":
        result = label_randomised_training(data, arch, train_spec, seed, device)
        return result.model, result.history
    parse_regime(regime)
    if trained_here(regime):
        if regularisation is None:
            raise ValueError(f"regime {regime!r} needs regularisation")
        if base_regime(regime) is not None and standard is None:
            raise ValueError(f"regime {regime!r} needs the label-randomised {base_regime(regime)} model")
        shuffled = replace(data, y_train=shuffled_labels(data.y_train, seed))
        result, _, _ = train_regime(regime, shuffled, arch or Architecture(), train_spec, regularisation, seed, device,
                                    base=standard, noise=noise, adv_spec=adv_spec, attack_spec=attack_spec,
                                    epsilon=epsilon)
        return result.model, result.history
    attack_name = regime_attack(regime)
    if epsilon is None or adv_spec is None or attack_spec is None:
        raise ValueError(f"regime {regime!r} needs epsilon, adv_spec and attack_spec")
    base = standard if standard is not None else label_randomised_training(data, arch, train_spec, seed,
                                                                            device).model
    y = shuffled_labels(data.y_train, seed)
    result = adversarial_train(base, data.x_train, y, data.x_test, data.y_test, attack_name, epsilon, adv_spec,
                               attack_spec, train_spec, seed, device)
    return result.model, result.history


# --- similarity ---------------------------------------------------------------------------------
def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, Spearman's ρ between |a_i| and |b_i| (average ranks for ties).

    A row constant in both (all genes tied in both rankings) counts as identical (1); a row
    constant in only one carries no ranking to agree with (0).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two cells x genes arrays of the same shape, got {a.shape} and {b.shape}")
    ra, rb = rankdata(np.abs(a), axis=1), rankdata(np.abs(b), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    na, nb = np.sqrt((ra ** 2).sum(axis=1)), np.sqrt((rb ** 2).sum(axis=1))
    const_a, const_b = na == 0, nb == 0
    rho = np.zeros(len(a))
    ok = ~const_a & ~const_b
    rho[ok] = (ra[ok] * rb[ok]).sum(axis=1) / (na[ok] * nb[ok])
    rho[const_a & const_b] = 1.0
    return np.clip(rho, -1.0, 1.0)


def spearman_similarity(a, b) -> float:
    """Mean over cells (rows) of Spearman's ρ between |a_i| and |b_i|.

    Absolute values, as Adebayo et al. compare maps: a sign flip is not a different gene
    ranking. Ties get average ranks. A cell whose attributions are constant in both arrays
    counts as 1 (the two explanations are the same: nothing is ranked in either); constant
    in only one, as 0 (a ranking cannot agree with no ranking). The latter keeps an
    explainer whose output collapses to zeros on a randomised network from being scored as
    "unchanged", and the former keeps a constant explainer from passing a check.
    """
    return float(_row_spearman(a, b).mean())


# --- faithfulness -------------------------------------------------------------------------------
def _gene_positions(attributions: np.ndarray) -> np.ndarray:
    """Per cell, each gene's position in the order of decreasing |attribution| (ties: lower gene index first)."""
    order = np.argsort(-np.abs(attributions), axis=1, kind="stable")
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(attributions.shape[1])[None, :].repeat(len(order), axis=0), axis=1)
    return pos


@torch.no_grad()
def deletion_insertion_auc(model: nn.Module, x, target, attributions, baseline, steps: int = 20,
                           chunk_elements: int = 2 ** 24) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell areas under the deletion and insertion curves of the target-class probability.

    Genes are ranked per cell by |attribution| (descending; ties by gene index). For
    ``k = round(j/steps · genes)``, ``j = 0..steps``: *deletion* sets the cell's top-k genes
    to ``baseline`` (a genes vector, the training mean: zeros in z-scored space);
    *insertion* starts from ``baseline`` and puts back the top-k genes' real values. The
    curves are the softmax probability of ``target`` (eval mode), integrated by the
    trapezoid rule over the removed/inserted fraction ``k/genes`` ∈ [0, 1], so each area is
    in [0, 1]. Faithful rankings give low deletion and high insertion areas.

    Runs on the model's device, ``(steps+1) x cells x genes`` values at most
    ``chunk_elements`` at a time (cells are chunked; the result does not depend on it).
    """
    x = np.asarray(x, dtype=np.float32)
    attributions = np.asarray(attributions, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    if attributions.shape != x.shape or x.ndim != 2 or target.shape != (len(x),):
        raise ValueError(f"x {x.shape}, attributions {attributions.shape}, target {target.shape} do not match")
    n_cells, n_genes = x.shape
    baseline = np.broadcast_to(np.asarray(baseline, dtype=np.float32), (n_genes,))
    ks = np.round(np.linspace(0, n_genes, steps + 1)).astype(np.int64)
    fractions = ks / n_genes
    device = model_device(model)
    was_training = model.training
    model.eval()
    base = torch.as_tensor(np.ascontiguousarray(baseline), device=device)
    ks_t = torch.as_tensor(ks, device=device)[:, None, None]
    pos_all = _gene_positions(attributions)
    per_chunk = max(1, chunk_elements // ((steps + 1) * n_genes))
    curves = {"deletion": np.empty((steps + 1, n_cells)), "insertion": np.empty((steps + 1, n_cells))}
    try:
        for start in range(0, n_cells, per_chunk):
            sl = slice(start, start + per_chunk)
            xs = torch.as_tensor(x[sl], device=device)
            pos = torch.as_tensor(pos_all[sl], device=device)
            t = torch.as_tensor(target[sl], device=device)
            chosen = pos[None] < ks_t  # steps+1 x cells x genes: the top-k genes
            for name, inputs in (("deletion", torch.where(chosen, base, xs[None])),
                                 ("insertion", torch.where(chosen, xs[None], base))):
                logits = model(inputs.reshape(-1, n_genes)).reshape(steps + 1, len(xs), -1)
                prob = torch.softmax(logits.double(), dim=-1)
                curves[name][:, sl] = prob.gather(2, t[None, :, None].expand(steps + 1, -1, 1))[..., 0].cpu().numpy()
    finally:
        model.train(was_training)
    return (np.trapezoid(curves["deletion"], fractions, axis=0),
            np.trapezoid(curves["insertion"], fractions, axis=0))


# --- robustness ---------------------------------------------------------------------------------
def max_sensitivity(explain_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], x, target, radius: float,
                    n_samples: int, seed: int, attributions: np.ndarray | None = None) -> np.ndarray:
    """Per cell, Max-Sensitivity (Yeh et al. 2019) by ``quantus.MaxSensitivity``.

    ``max over n_samples of ||e(x+δ) - e(x)||₂ / ||e(x)||₂``, δ uniform in the L-inf ball of
    ``radius`` (quantus' ``batch_uniform_noise`` with ``lower_bound=radius``), with quantus'
    default norms and no normalisation or absolute value of the attributions.
    ``explain_fn(x, target)`` returns cells x genes attributions; it is called once per
    sample on all perturbed cells together, and once on ``x`` unless ``attributions``
    (``explain_fn(x, target)``, already computed) are given. Deterministic given
    ``seed`` (numpy's global generator, which quantus uses, is seeded and then restored).
    A cell whose explanation is all zeros has no relative sensitivity: NaN. quantus
    refuses a batch of explanations that are all zero, all one, all equal or all negative
    (``AssertionError``), on ``x`` or on a perturbed batch; all zeros on ``x`` gives NaNs here.
    """
    import quantus

    x = np.asarray(x, dtype=np.float32)
    target = np.asarray(target)
    a = np.asarray(explain_fn(x, target) if attributions is None else attributions, dtype=np.float64)
    if a.shape != x.shape:
        raise ValueError(f"attributions {a.shape} do not match x {x.shape}")
    zero = ~np.any(a != 0, axis=1)
    if zero.all():
        return np.full(len(x), np.nan)
    metric = quantus.MaxSensitivity(nr_samples=int(n_samples), lower_bound=float(radius), disable_warnings=True,
                                    display_progressbar=False)

    def explain_func(model, inputs, targets, **kwargs):
        return np.asarray(explain_fn(inputs, targets), dtype=np.float64)

    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # cells without attribution
            scores = metric(model=None, x_batch=x, y_batch=target, a_batch=a, explain_func=explain_func,
                            batch_size=len(x))
    finally:
        np.random.set_state(state)
    out = np.asarray(scores, dtype=np.float64)
    out[zero] = np.nan
    return out


# --- the table ----------------------------------------------------------------------------------
def evaluate_explanations(model: nn.Module, label_randomised_model: nn.Module | None, data: SplitData, regime: str,
                          methods: list[str], params: dict[str, dict], cells_per_class: int, background_cells: int,
                          seed: int, sensitivity_radius: float, sensitivity_samples: int,
                          steps: int) -> pd.DataFrame:
    """Sanity, faithfulness and robustness metrics of every method for one trained model.

    Explains the cells (and with the background) that the interpretability step explains
    (:func:`advinterp.explain.explained_cells`), each for its true class, with the real model, the models
    with the top k Linear layers randomised (k in :func:`cascade_levels`, seeded with
    ``seed``) and ``label_randomised_model``. Rows, one per (method, metric), columns
    ``regime, method, metric, value, seed``:

    - ``randomisation_cascade_<k>``: :func:`spearman_similarity` real vs k-top-layers randomised;
    - ``randomisation_labels``: the same against ``label_randomised_model`` (no row when it is None);
    - ``deletion_auc``, ``insertion_auc``: means over cells of :func:`deletion_insertion_auc`
      (``steps``; baseline: the training mean of each gene);
    - ``max_sensitivity``: mean over cells (NaN cells left out) of :func:`max_sensitivity`
      (``sensitivity_radius``, ``sensitivity_samples``).
    """
    x, target, background = explained_cells(data, cells_per_class, background_cells, seed)
    baseline = column_mean(data.x_train)  # (the training cells' mean, a block at a time: atlas scale)
    levels = cascade_levels(n_linear_layers(model))
    randomised = {k: randomise_layers(model, k, seed) for k in levels}
    rows = []
    for name in methods:
        explainer = make_explainer(name, params.get(name))

        def explain(m, inputs, targets, explainer=explainer):
            return explainer(m, inputs, targets, background, seed=seed)

        real = explain(model, x, target)
        values = {f"{CASCADE_PREFIX}{k}": spearman_similarity(real, explain(randomised[k], x, target))
                  for k in levels}
        if label_randomised_model is not None:
            values[LABEL_METRIC] = spearman_similarity(real, explain(label_randomised_model, x, target))
        deletion, insertion = deletion_insertion_auc(model, x, target, real, baseline, steps)
        values["deletion_auc"], values["insertion_auc"] = float(deletion.mean()), float(insertion.mean())
        sensitivity = max_sensitivity(lambda inputs, targets, explain=explain: explain(model, inputs, targets),
                                      x, target, sensitivity_radius, sensitivity_samples, seed, attributions=real)
        values["max_sensitivity"] = float(np.nanmean(sensitivity)) if np.isfinite(sensitivity).any() else np.nan
        rows += [{"regime": regime, "method": name, "metric": metric, "value": value, "seed": seed}
                 for metric, value in values.items()]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def randomisation_check(table: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Pass/fail of Adebayo et al.'s two sanity checks per (regime, method) of an
    :func:`evaluate_explanations` table.

    ``model_randomisation`` fails when the similarity to the fully randomised model (the
    deepest ``randomisation_cascade_<k>`` in the table) is >= ``threshold``;
    ``label_randomisation`` likewise with ``randomisation_labels``. With several seeds the
    similarity is their mean. ``detail`` gives the value, the level and the seeds.

    Threshold 0.5: Adebayo et al. judge the similarity curves by eye and give no cut-off.
    A Spearman ρ of 0.5 is the conventional lower limit of a "strong" correlation (Cohen
    1988: 0.1 small, 0.3 medium, 0.5 large); a gene ranking that still correlates that
    strongly with the ranking from a network that learned nothing is mostly explained by
    the input and the architecture. Genes are many (thousands), so a ρ near 0.5 is far
    from chance (|ρ| ~ 1/√genes ≈ 0.02); the threshold is deliberately not that of a
    significance test, which every explainer would "fail" at this many genes.
    """
    rows = []
    for (regime, method), sub in table.groupby(["regime", "method"], sort=False):
        cascade = sub[sub["metric"].str.startswith(CASCADE_PREFIX)]
        checks = []
        if len(cascade):
            depth = cascade["metric"].str.removeprefix(CASCADE_PREFIX).astype(int).max()
            checks.append(("model_randomisation", cascade[cascade["metric"] == f"{CASCADE_PREFIX}{depth}"],
                           f"with its top {depth} Linear layers randomised"))
        checks.append(("label_randomisation", sub[sub["metric"] == LABEL_METRIC], "trained on shuffled labels"))
        for check, values, what in checks:
            if not len(values):
                continue
            similarity = float(values["value"].mean())
            seeds = ",".join(str(s) for s in sorted(values["seed"].unique()))
            rows.append({"regime": regime, "method": method, "check": check, "passed": bool(similarity < threshold),
                         "detail": f"Spearman similarity {similarity:.3f} to the model {what} "
                                   f"(fails at >= {threshold}; seeds {seeds})"})
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def combine_evaluations(paths) -> pd.DataFrame:
    """Concatenate per-regime :func:`evaluate_explanations` tables, checking their columns."""
    return read_tables(paths, TABLE_COLUMNS)
