"""Attribution maps of the regulatory-code models and Koo et al.'s interpretability scores (Table 1).

Every method explains the *logit* (pre-sigmoid output) of the positive test sequences, through captum
or shap (nothing reimplemented):

* ``saliency``: captum ``Saliency`` with ``abs=False``: the gradient of the logit w.r.t. the input
  (Koo's "backprop").
* ``smoothgrad``: captum ``NoiseTunnel(Saliency)``, mean gradient over ``smoothgrad_samples`` = 50
  copies with N(0, ``smoothgrad_sd`` = 0.1) noise (Koo's ``smooth_backprop``).
* ``integrated_gradients``: captum ``IntegratedGradients``, ``ig_steps`` = 50, baseline ``ig_baseline``:
  ``zeros`` (default: the all-zeros "no sequence" input, captum's default) or ``uniform`` (0.25 each).
* ``deepshap``: shap 0.51's ``DeepExplainer`` (DeepLIFT-rescale with a background distribution; it
  has handlers for Conv1d, BatchNorm1d, MaxPool1d, Linear, ReLU, Dropout), background =
  ``shap_background`` = 100 negative training sequences drawn at random (seeded).

Score and labels as Koo's ``3_interpretability_analysis_all_models.py``: position score
``C_j = sum_i S_ij X_ij`` (attribution times one-hot, summed over nucleotides); positive positions are
those whose ground-truth column carries information (``I_j > 0``), negatives the uniform background;
per sequence the AU-ROC (``roc_auc_score``) and AU-PR (trapezoidal area under the precision-recall
curve, ``auc(recall, precision)``, as Koo; not average precision). Table 1 reports, per
configuration and method, the mean and the standard deviation (numpy's, ddof=0, as Koo's
``np.std``) over the positive test sequences pooled over trials (the paper's "error bars"), and the
classification AU-ROC on the whole test set, averaged over trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from advinterp.regcode_data import motif_positions
from advinterp.specs import _build

METHODS = ("saliency", "smoothgrad", "integrated_gradients", "deepshap")
IG_BASELINES = ("zeros", "uniform")
TABLE1_COLUMNS = ["dataset_size", "model", "regularised", "regime", "method", "classification_auc", "auroc_mean",
                  "auroc_sd", "auprc_mean", "auprc_sd", "n_trials"]
KEYS = ["dataset_size", "model", "regularised", "regime", "method"]

# Koo et al. 2019, text of section 3 (Table 1's headline numbers); backprop = our saliency
PAPER_HEADLINES = [
    {"what": "LocalNet (standard, paper: 30k)", "dataset_size": None, "model": "local_net", "regularised": None,
     "regime": "standard", "method": "saliency", "classification_auc": 0.967, "auroc": "0.751 ± 0.055",
     "auprc": "0.599 ± 0.112"},
    {"what": "DistNet (standard, paper: 30k)", "dataset_size": None, "model": "dist_net", "regularised": None,
     "regime": "standard", "method": "saliency", "classification_auc": 0.964, "auroc": "0.561 ± 0.068",
     "auprc": "0.442 ± 0.105"},
    {"what": "best: LocalNet + regularisation + noise, SmoothGrad", "dataset_size": None, "model": "local_net",
     "regularised": True, "regime": "noise", "method": "smoothgrad", "classification_auc": None,
     "auroc": "0.858 ± 0.058", "auprc": "0.735 ± 0.122"},
    {"what": "DistNet adversarial, no regularisation, 10k, SmoothGrad", "dataset_size": 10000, "model": "dist_net",
     "regularised": False, "regime": "adversarial", "method": "smoothgrad", "classification_auc": None,
     "auroc": "0.789 ± 0.066", "auprc": "0.646 ± 0.129"},
]


@dataclass(frozen=True)
class RegcodeAttributionSpec:
    """``regulatory_code.attribution``."""

    SECTION: ClassVar[tuple[str, ...]] = ("regulatory_code", "attribution")

    methods: tuple[str, ...] = METHODS
    smoothgrad_samples: int = 50
    smoothgrad_sd: float = 0.1
    ig_steps: int = 50
    ig_baseline: str = "zeros"
    shap_background: int = 100
    max_sequences: int | None = None  # positive test sequences scored; None = all of them
    batch_size: int = 100
    n_logo_sequences: int = 3
    logo_model: str = "local_net"
    logo_regularised: bool = True
    logo_regime: str = "noise"

    @classmethod
    def from_config(cls, section: dict) -> RegcodeAttributionSpec:
        """From ``regulatory_code.attribution``."""
        return _build(cls, section, {"methods": lambda v: tuple(str(m) for m in v)})

    def check(self) -> None:
        p = ".".join(self.SECTION)
        bad = sorted(set(self.methods) - set(METHODS))
        if bad or not self.methods:
            raise ValueError(f"{p}.methods {bad or '[]'}; use some of {list(METHODS)}")
        if self.ig_baseline not in IG_BASELINES:
            raise ValueError(f"{p}.ig_baseline={self.ig_baseline!r}; use one of {list(IG_BASELINES)}")
        for name in ("smoothgrad_samples", "ig_steps", "shap_background", "batch_size", "n_logo_sequences"):
            if getattr(self, name) < 1:
                raise ValueError(f"{p}.{name}={getattr(self, name)} must be >= 1")
        if self.smoothgrad_sd < 0:
            raise ValueError(f"{p}.smoothgrad_sd={self.smoothgrad_sd} must be >= 0")
        if self.max_sequences is not None and self.max_sequences < 1:
            raise ValueError(f"{p}.max_sequences={self.max_sequences} must be >= 1 or null")


def attribution_maps(model: torch.nn.Module, x: torch.Tensor, method: str, spec: RegcodeAttributionSpec,
                     background: torch.Tensor | None = None, seed: int = 0) -> np.ndarray:
    """Attributions (n, 4, L) of ``model``'s logit (output column 0) for inputs ``x`` (n, 4, L)."""
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(seed)  # SmoothGrad's noise
    out = []
    if method == "deepshap":
        import shap

        if background is None:
            raise ValueError("deepshap needs a background")
        explainer = shap.DeepExplainer(model, background.to(device))
    for i in range(0, len(x), spec.batch_size):
        xb = x[i:i + spec.batch_size].to(device)
        if method == "saliency":
            a = Saliency(model).attribute(xb, target=0, abs=False)
        elif method == "smoothgrad":
            a = NoiseTunnel(Saliency(model)).attribute(
                xb, nt_type="smoothgrad", nt_samples=spec.smoothgrad_samples, stdevs=spec.smoothgrad_sd,
                nt_samples_batch_size=spec.batch_size, target=0, abs=False)
        elif method == "integrated_gradients":
            base = torch.zeros_like(xb) if spec.ig_baseline == "zeros" else torch.full_like(xb, 0.25)
            a = IntegratedGradients(model).attribute(xb, baselines=base, target=0, n_steps=spec.ig_steps,
                                                     internal_batch_size=spec.batch_size)
        elif method == "deepshap":
            values = np.asarray(explainer.shap_values(xb, check_additivity=False))
            if values.ndim == 4:  # (n, 4, L, outputs)
                values = values[..., 0]
            a = torch.as_tensor(values)
        else:
            raise ValueError(f"attribution method {method!r}; use one of {list(METHODS)}")
        out.append(a.detach().cpu().numpy().astype(np.float32))
    return np.concatenate(out)


def position_scores(attributions: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Koo's ``C_j = sum_i S_ij X_ij``: (n, 4, L) x (n, 4, L) -> (n, L)."""
    return (np.asarray(attributions, dtype=np.float64) * np.asarray(onehot, dtype=np.float64)).sum(axis=1)


def sequence_scores(scores: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per sequence AU-ROC and AU-PR of position ``scores`` (n, L) against boolean ``labels`` (n, L)."""
    rows = []
    for s, lab in zip(np.atleast_2d(scores), np.atleast_2d(labels), strict=True):
        lab = lab.astype(int)
        if lab.min() == lab.max():
            rows.append({"auroc": np.nan, "auprc": np.nan})
            continue
        precision, recall, _ = precision_recall_curve(lab, s)
        rows.append({"auroc": float(roc_auc_score(lab, s)), "auprc": float(auc(recall, precision))})
    return pd.DataFrame(rows, columns=["auroc", "auprc"])


def positive_test_set(data, max_sequences: int | None = None) -> np.ndarray:
    """Indices (into the test split) of the positive test sequences scored."""
    idx = np.flatnonzero(data["test"]["y"] == 1)
    return idx if max_sequences is None else idx[:max_sequences]


def shap_background(data, n: int, seed: int) -> torch.Tensor:
    """``n`` negative training sequences chosen at random (seeded)."""
    neg = np.flatnonzero(data["train"]["y"] == 0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    pick = np.sort(rng.choice(neg, size=min(n, len(neg)), replace=False))
    return torch.as_tensor(data["train"]["x"][pick].astype(np.float32))


def attribute_regcode(model: torch.nn.Module, record: dict, data, spec: RegcodeAttributionSpec, seed: int,
                      labels: dict | None = None) -> pd.DataFrame:
    """Tidy per-sequence interpretability scores of one trained model: one row per positive test
    sequence and method, with ``labels`` (dataset_size, trial, ...) and the model's classification
    AU-ROC on the test set prepended."""
    spec.check()
    idx = positive_test_set(data, spec.max_sequences)
    x = torch.as_tensor(data["test"]["x"][idx].astype(np.float32))
    truth = motif_positions(data["test"]["truth"][idx])
    background = shap_background(data, spec.shap_background, seed) if "deepshap" in spec.methods else None
    device = next(model.parameters()).device
    y_logit = []
    with torch.no_grad():
        x_all = torch.as_tensor(data["test"]["x"].astype(np.float32))
        for i in range(0, len(x_all), 1000):
            y_logit.append(model(x_all[i:i + 1000].to(device))[:, 0].cpu().numpy())
    clf_auc = float(roc_auc_score(data["test"]["y"], np.concatenate(y_logit)))
    frames = []
    for method in spec.methods:
        attr = attribution_maps(model, x, method, spec, background, seed)
        df = sequence_scores(position_scores(attr, x.numpy()), truth)
        df.insert(0, "sequence", idx)
        df.insert(0, "method", method)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    meta = {"model": record.get("arch"), "regularised": record.get("regularised"), "regime": record.get("regime"),
            **(labels or {})}
    for i, (k, v) in enumerate(meta.items()):
        out.insert(i, k, v)
    out["classification_auc"] = clf_auc
    return out


def table1(per_sequence: pd.DataFrame) -> pd.DataFrame:
    """Table 1 rows: per (dataset_size, model, regularised, regime, method) the classification AUC (mean
    over trials), mean and SD (ddof=0) of AU-ROC and AU-PR over positive test sequences pooled over
    trials, and the number of trials."""
    missing = sorted(set(KEYS + ["trial", "auroc", "auprc", "classification_auc"]) - set(per_sequence.columns))
    if missing:
        raise ValueError(f"per-sequence scores lack columns {missing}")
    rows = []
    for key, g in per_sequence.groupby(KEYS, sort=True):
        clf = g.groupby("trial")["classification_auc"].first()
        rows.append({**dict(zip(KEYS, key, strict=True)), "classification_auc": float(clf.mean()),
                     "auroc_mean": float(np.nanmean(g["auroc"])), "auroc_sd": float(np.nanstd(g["auroc"])),
                     "auprc_mean": float(np.nanmean(g["auprc"])), "auprc_sd": float(np.nanstd(g["auprc"])),
                     "n_trials": int(g["trial"].nunique())})
    table = pd.DataFrame(rows, columns=TABLE1_COLUMNS)
    order = {"model": {"local_net": 0, "dist_net": 1}, "regime": {"standard": 0, "noise": 1, "adversarial": 2},
             "method": {m: i for i, m in enumerate(METHODS)}}
    return table.sort_values(
        ["dataset_size", "regularised", "model", "regime", "method"], ascending=[False, True, True, True, True],
        key=lambda s: s.map(order[s.name]) if s.name in order else s,
    ).reset_index(drop=True)


def _ours(table: pd.DataFrame, ref: dict) -> pd.DataFrame:
    sel = table
    for k in ("dataset_size", "model", "regularised", "regime", "method"):
        if ref[k] is not None:
            sel = sel[sel[k] == ref[k]]
    return sel


def table1_markdown(table: pd.DataFrame) -> str:
    """Markdown: our Table 1, then the paper's headline numbers next to ours."""
    lines = ["# Koo et al. 2019, Table 1 (synthetic regulatory code): our reproduction", "",
             "AU-ROC / AU-PR: mean ± SD over positive test sequences (pooled over trials); "
             "classification AUC: test-set AU-ROC of the classifier, mean over trials.", "",
             "| size | model | regularised | regime | method | AUC | AU-ROC | AU-PR | trials |",
             "|---:|---|---|---|---|---:|---:|---:|---:|"]
    for r in table.itertuples():
        lines.append(f"| {r.dataset_size} | {r.model} | {'yes' if r.regularised else 'no'} | {r.regime} | {r.method} "
                     f"| {r.classification_auc:.3f} | {r.auroc_mean:.3f} ± {r.auroc_sd:.3f} "
                     f"| {r.auprc_mean:.3f} ± {r.auprc_sd:.3f} | {r.n_trials} |")
    lines += ["", "## The paper's headline numbers (Koo et al. 2019, section 3) beside ours", "",
              "backprop = our `saliency`. Where the paper leaves the size or regularisation open, every matching "
              "row of ours is listed.", "",
              "| configuration | paper AUC | paper AU-ROC | paper AU-PR "
              "| ours (size, regularised, AUC, AU-ROC, AU-PR) |",
              "|---|---:|---:|---:|---|"]
    for ref in PAPER_HEADLINES:
        ours = _ours(table, ref)
        text = "; ".join(
            f"{r.dataset_size}, {'reg' if r.regularised else 'plain'}: {r.classification_auc:.3f}, "
            f"{r.auroc_mean:.3f} ± {r.auroc_sd:.3f}, {r.auprc_mean:.3f} ± {r.auprc_sd:.3f}"
            for r in ours.itertuples()) or "not run"
        paper_auc = "" if ref["classification_auc"] is None else f"{ref['classification_auc']:.3f}"
        lines.append(f"| {ref['what']} (paper) | {paper_auc} | {ref['auroc']} | {ref['auprc']} | {text} |")
    return "\n".join(lines) + "\n"
