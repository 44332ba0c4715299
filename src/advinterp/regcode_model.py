"""LocalNet and DistNet of Koo et al. 2019 and their three training regimes (standard, noise, adversarial).

Architectures (input one-hot (n, 4, L); output one logit, the sigmoid lives in the loss):

* LocalNet: conv 24 x 19 ('same') -> ReLU -> max-pool 50 -> dense 96 -> ReLU -> dense 1.
* DistNet: conv 24 x 7 ('same') -> conv 32 x ``dist_kernel2`` -> pool 3 -> conv 48 x 6 -> pool 4 ->
  conv 64 x 4 -> pool 3 -> dense 96 -> dense 1 (all but the first conv 'valid', ReLU after each).
  ``dist_kernel2`` defaults to 6, Koo's code (``code/models/DistNet.py``, whose size comments
  195 -> 65 -> 60 -> 15 -> 12 -> 4 show the design); the paper's text says 9.
* Regularised (``regularised=True``): batch norm after each conv/dense (before the ReLU, as deepomics),
  dropout after each hidden layer (after its pooling) and L2 1e-6 on all parameters (Adam's coupled
  ``weight_decay``, i.e. the gradient of ``l2/2 * ||w||^2``, tf.nn.l2_loss's convention). Dropout
  defaults are Koo's code, LocalNet (0.2, 0.5) and DistNet (0.2, 0.2, 0.3, 0.4, 0.5); the paper's text
  has 0.1 for the first layer of each.

Training: BCE, Adam (lr 1e-3 = the paper's "default settings"; Koo's models ask for 3e-4 but a typo in
deepomics' optimize.py leaves 1e-3 in force), batches of 100, at most ``max_epochs`` = 100 epochs (the
paper; the code allows 200), keeping the parameters of the lowest validation loss and stopping after
``patience`` = 25 epochs without improvement (Koo's code).

* noise: N(0, ``noise_sd`` = 0.1) added to every one-hot entry of the training set, redrawn each epoch.
* adversarial (Koo's ``1_train_all_models_adv.py``): ``clean_epochs`` = 20 clean epochs, then
  ``adversarial_epochs`` = 80 epochs in which each batch of ``batch_size // 2`` clean sequences is
  joined by their PGD copies (L-inf, eps 0.2, 20 steps of sign-gradient ascent on the true-label BCE,
  step ``pgd_step_size * 10 / (i + 10)`` = 0.1 / (i + 10) as the code, clipped to the eps-ball and
  [0, 1], no random start, model in eval mode while attacking). Koo keeps the *final* parameters of
  the adversarial run (no early stopping); ``adversarial_keep`` = "last" follows that, "best" keeps the
  lowest clean validation loss instead.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from advinterp.io import atomic_path
from advinterp.specs import _build, _floats

ARCHITECTURES = ("local_net", "dist_net")
REGIMES = ("standard", "noise", "adversarial")


@dataclass(frozen=True)
class RegcodeTrainSpec:
    """Architecture and training parameters (``regulatory_code.training``); defaults as documented above."""

    SECTION: ClassVar[tuple[str, ...]] = ("regulatory_code", "training")

    batch_size: int = 100
    max_epochs: int = 100
    patience: int = 25
    learning_rate: float = 1e-3
    l2: float = 1e-6
    local_dropout: tuple[float, ...] = (0.2, 0.5)
    dist_dropout: tuple[float, ...] = (0.2, 0.2, 0.3, 0.4, 0.5)
    dist_kernel2: int = 6
    noise_sd: float = 0.1
    clean_epochs: int = 20
    adversarial_epochs: int = 80
    pgd_steps: int = 20
    pgd_epsilon: float = 0.2
    pgd_step_size: float = 0.01
    adversarial_keep: str = "last"  # last (Koo's code) | best (lowest clean validation loss)

    @classmethod
    def from_config(cls, section: dict) -> RegcodeTrainSpec:
        """From ``regulatory_code.training``."""
        return _build(cls, section, {"local_dropout": _floats, "dist_dropout": _floats})

    def check(self) -> None:
        p = ".".join(self.SECTION)
        if self.batch_size < 2:
            raise ValueError(f"{p}.batch_size={self.batch_size} must be >= 2 (adversarial batches are half clean)")
        if self.max_epochs < 1 or self.patience < 0:
            raise ValueError(f"{p}: max_epochs ({self.max_epochs}) must be >= 1 and patience ({self.patience}) >= 0")
        if len(self.local_dropout) != 2 or len(self.dist_dropout) != 5:
            raise ValueError(f"{p}: local_dropout needs 2 values and dist_dropout 5")
        if not all(0.0 <= d < 1.0 for d in (*self.local_dropout, *self.dist_dropout)):
            raise ValueError(f"{p}: dropout probabilities must be in [0, 1)")
        if self.clean_epochs < 0 or self.adversarial_epochs < 0 or self.clean_epochs + self.adversarial_epochs < 1:
            raise ValueError(f"{p}: clean_epochs and adversarial_epochs must be >= 0 with a positive sum")
        if self.pgd_steps < 1 or self.pgd_epsilon <= 0 or self.pgd_step_size <= 0:
            raise ValueError(f"{p}: pgd_steps, pgd_epsilon and pgd_step_size must be positive")
        if self.adversarial_keep not in ("last", "best"):
            raise ValueError(f"{p}.adversarial_keep={self.adversarial_keep!r}; use 'last' or 'best'")


def _block(layers: list, bn: nn.Module | None, pool: int | None, dropout: float | None) -> list:
    if bn is not None:
        layers.append(bn)
    layers.append(nn.ReLU())
    if pool:
        layers.append(nn.MaxPool1d(pool))
    if dropout:
        layers.append(nn.Dropout(dropout))
    return layers


def build_model(arch: str, regularised: bool, spec: RegcodeTrainSpec, seq_length: int = 200) -> nn.Sequential:
    """LocalNet or DistNet (separate module per ReLU/pool, so SHAP's DeepExplainer can hook each)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"regulatory_code model {arch!r}; use one of {list(ARCHITECTURES)}")
    reg = bool(regularised)

    def bn(c):
        return nn.BatchNorm1d(c) if reg else None

    def drop(p):
        return p if reg else None

    layers: list[nn.Module] = []
    if arch == "local_net":
        d = spec.local_dropout
        layers = _block([nn.Conv1d(4, 24, 19, padding="same")], bn(24), 50, drop(d[0]))
        length = seq_length // 50
        if length < 1:
            raise ValueError(f"local_net needs sequences of at least 50 nt (got {seq_length})")
        layers += [nn.Flatten()]
        layers = _block(layers + [nn.Linear(24 * length, 96)], bn(96), None, drop(d[1]))
    else:
        d = spec.dist_dropout
        k2 = spec.dist_kernel2
        layers = _block([nn.Conv1d(4, 24, 7, padding="same")], bn(24), None, drop(d[0]))
        length = seq_length
        for i, (cin, cout, k, pool) in enumerate([(24, 32, k2, 3), (32, 48, 6, 4), (48, 64, 4, 3)]):
            length = (length - k + 1) // pool
            if length < 1:
                raise ValueError(f"dist_net: sequences of {seq_length} nt are too short for its convolutions")
            layers = _block(layers + [nn.Conv1d(cin, cout, k)], bn(cout), pool, drop(d[i + 1]))
        layers += [nn.Flatten()]
        layers = _block(layers + [nn.Linear(64 * length, 96)], bn(96), None, drop(d[4]))
    layers.append(nn.Linear(96, 1))
    return nn.Sequential(*layers)


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).squeeze(1)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    was = model.training
    model.eval()
    out = torch.cat([_logits(model, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


def pgd_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, steps: int,
               step_size: float) -> torch.Tensor:
    """L-inf PGD maximising the true-label BCE, Koo's schedule ``step_size * 10 / (i + 10)``, projected
    on the eps-ball around ``x`` and on [0, 1]; no random start; the model is put in eval mode."""
    was = model.training
    model.eval()
    x_nat = x.detach()
    adv = x_nat.clone()
    loss_fn = nn.BCEWithLogitsLoss()
    for i in range(steps):
        adv.requires_grad_(True)
        loss = loss_fn(_logits(model, adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + step_size * 10.0 / (i + 10) * grad.sign()
            adv = torch.clamp(torch.minimum(torch.maximum(adv, x_nat - epsilon), x_nat + epsilon), 0.0, 1.0)
    model.train(was)
    return adv.detach()


@dataclass
class RegcodeResult:
    model: nn.Module
    arch: str
    regularised: bool
    regime: str
    spec: RegcodeTrainSpec
    seed: int
    seq_length: int
    history: pd.DataFrame
    metrics: dict


def _tensor(a: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)


def test_auc(model: nn.Module, x: torch.Tensor, y: np.ndarray) -> float:
    return float(roc_auc_score(np.asarray(y), predict_logits(model, x).cpu().numpy()))


def train_regcode(data, arch: str, regularised: bool, regime: str, spec: RegcodeTrainSpec, seed: int,
                  device: torch.device) -> RegcodeResult:
    """Train one model on ``data`` (a :class:`advinterp.regcode_data.RegcodeData`) on ``device`` (chosen
    by ``advinterp.device.select_device``); seeded: on the CPU a rerun gives identical numbers."""
    spec.check()
    if regime not in REGIMES:
        raise ValueError(f"regulatory_code regime {regime!r}; use one of {list(REGIMES)}")
    start = time.time()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)  # batches and noise: CPU generator, same draws on any device
    seq_length = data["train"]["x"].shape[2]
    model = build_model(arch, regularised, spec, seq_length).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=spec.learning_rate, weight_decay=spec.l2 if regularised else 0.0)
    loss_fn = nn.BCEWithLogitsLoss()
    x_tr, y_tr = _tensor(data["train"]["x"], device), _tensor(data["train"]["y"], device)
    x_va, y_va = _tensor(data["valid"]["x"], device), _tensor(data["valid"]["y"], device)
    n = len(y_tr)
    adversarial = regime == "adversarial"
    n_epochs = spec.clean_epochs + spec.adversarial_epochs if adversarial else spec.max_epochs
    batch = spec.batch_size // 2 if adversarial else spec.batch_size
    best = (float("inf"), -1, None)
    rows = []
    for epoch in range(n_epochs):
        model.train()
        attack = adversarial and epoch >= spec.clean_epochs
        x_epoch = x_tr
        if regime == "noise":
            x_epoch = x_tr + (torch.randn(x_tr.shape, generator=gen) * spec.noise_sd).to(device)
        perm = torch.randperm(n, generator=gen).to(device)
        total, seen = 0.0, 0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = x_epoch[idx], y_tr[idx]
            if attack:
                xa = pgd_attack(model, xb, yb, spec.pgd_epsilon, spec.pgd_steps, spec.pgd_step_size)
                xb, yb = torch.cat([xb, xa]), torch.cat([yb, yb])
            opt.zero_grad()
            loss = loss_fn(_logits(model, xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yb)
            seen += len(yb)
        with torch.no_grad():
            val = float(loss_fn(predict_logits(model, x_va), y_va))
        phase = "adversarial" if attack else ("noise" if regime == "noise" else "clean")
        rows.append({"epoch": epoch + 1, "phase": phase, "train_loss": total / seen, "valid_loss": val})
        keep_best = not adversarial or spec.adversarial_keep == "best"
        if val < best[0]:
            best = (val, epoch, copy.deepcopy(model.state_dict()) if keep_best else None)
        elif not adversarial and epoch - best[1] > spec.patience:
            break
    if not adversarial or spec.adversarial_keep == "best":
        model.load_state_dict(best[2])
    model.eval()
    x_te = _tensor(data["test"]["x"], device)
    metrics = {
        "test_auc": test_auc(model, x_te, data["test"]["y"]),
        "epochs": len(rows),
        "best_epoch": best[1] + 1,
        "kept": "last" if adversarial and spec.adversarial_keep == "last" else "best",
        "seconds": round(time.time() - start, 2),
        "device": str(device),
    }
    return RegcodeResult(model, arch, bool(regularised), regime, spec, int(seed), int(seq_length),
                         pd.DataFrame(rows), metrics)


def save_regcode_model(path: str | Path, result: RegcodeResult) -> None:
    """State dict + everything needed to rebuild the model, written atomically."""
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
        "arch": result.arch, "regularised": result.regularised, "regime": result.regime,
        "spec": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(result.spec).items()},
        "seed": result.seed, "seq_length": result.seq_length, "metrics": result.metrics,
        "history": result.history.to_dict("list"),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_regcode_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The model (eval mode, on ``device``) and the saved record (``spec`` as a RegcodeTrainSpec)."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    spec = RegcodeTrainSpec.from_config(payload["spec"])
    model = build_model(payload["arch"], payload["regularised"], spec, payload["seq_length"])
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    payload["spec"] = spec
    return model, payload
