"""The MLP of Le et al. (2022) on the Allen human MTG data — the classifier of the paper's Fig. 5c.

Sadria et al. attack this published classifier with FGSM (F1 per cell type, clean vs attacked).

- :class:`AllenMLP` / :class:`AllenMLPSpec` / :func:`train_allen_mlp` are Le et al.'s network and its
  Keras training (early stopping on the validation loss), optionally with Madry-style adversarial
  training (beyond the paper).
- :func:`f1_per_class`, :func:`attacked_f1` and :func:`f1_sweep` give per-type F1, clean and under the
  white-box attacks of :mod:`advinterp.attacks`.

The data (reading, preprocessing, the split) are :mod:`advinterp.allen_data`.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.nn import functional as F

from advinterp.attacks import attack as run_attack
from advinterp.device import model_device
from advinterp.io import atomic_path
from advinterp.model import as_float_tensor, predict, predict_logits
from advinterp.specs import ATTACKS, AttackSpec, _build

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "loss", "val_loss", "train_accuracy", "val_accuracy"]
F1_COLUMNS = ["class", "f1", "support"]

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

    SECTION: ClassVar[tuple[str, ...]] = ("allen_mlp", "network")

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


# --- the arm on an annotator_data AnnData (workflow rules) ------------------------------------------------

def split_arrays(adata) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """``{split: (x dense float32, y codes)}`` for train/val/test of
    :func:`advinterp.allen_data.annotator_data`'s output, and the class names (sorted)."""
    from advinterp.allen_data import SPLITS, encode_labels

    codes, names = encode_labels(adata.obs[adata.uns["allen_split"]["cluster_key"]].astype(str).to_numpy())
    x = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    x = x.astype(np.float32, copy=False)
    split = adata.obs["split"].to_numpy()
    return {name: (x[split == name], codes[split == name]) for name in SPLITS}, names


def train_on_data(adata, spec: AllenMLPSpec, seed: int, device, adversarial: AllenAdversarialSpec | None = None
                  ) -> tuple[AllenMLP, pd.DataFrame, list[str]]:
    """Le et al.'s MLP trained on the train split, early-stopped on the validation split; the
    class names come with it."""
    arrays, names = split_arrays(adata)
    model, history = train_allen_mlp(*arrays["train"], *arrays["val"], spec=spec, seed=seed, device=device,
                                     adversarial=adversarial, n_classes=len(names))
    return model, history, names


def preservation_on_data(model: nn.Module, adata, attacks: list[str], epsilons: list[float], attack_spec: AttackSpec,
                         k: int, n_pcs: int, seed: int, device) -> pd.DataFrame:
    """The structure-preservation table of :func:`advinterp.robustness.preservation_table` for this
    model on its test split (PCA fitted on all cells), the input of the ε rule."""
    from advinterp.model import SplitData
    from advinterp.robustness import preservation_table

    arrays, names = split_arrays(adata)
    x_all = np.concatenate([arrays[s][0] for s in arrays])
    data = SplitData(*arrays["train"], *arrays["test"], class_names=names, gene_names=list(adata.var_names))
    return preservation_table(model, x_all, data, attacks, epsilons, attack_spec, k, n_pcs, seed, device)


def f1_table(models: dict[str, nn.Module], adata, attacks: list[str], epsilons: list[float],
             attack_spec: AttackSpec | None = None, seed: int = 0) -> pd.DataFrame:
    """``annotator/f1.tsv``: columns ``model, attack, epsilon, class, f1, support`` on the test split,
    clean (``attack`` none, ε 0) and under every white-box attack at every ε > 0, each attack crafted
    against the model it is evaluated on."""
    arrays, names = split_arrays(adata)
    x, y = arrays["test"]
    tables = [f1_sweep(model, x, y, names, attacks, [e for e in epsilons if e > 0], attack_spec, seed)
              .assign(model=name) for name, model in models.items()]
    return pd.concat(tables, ignore_index=True)[["model", "attack", "epsilon", "class", "f1", "support"]]
