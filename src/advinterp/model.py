"""The cell-type classifier: the paper's MLP (or SIMS's TabNet, :mod:`advinterp.tabnet`), its training
loop, evaluation and I/O.

Architecture (paper Supplementary Table S1 / original notebook): dense layers of
500-250-100-80-60-40-20 units with ReLU, dropout 0.1 after the first and 0.2 after
the 60-unit layer, and a linear output layer giving logits (softmax lives in the
cross-entropy loss). The regularised variant (``Architecture.batch_norm``, the ``*_reg``
regimes) puts batch norm between each hidden linear map and its ReLU.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn

from advinterp.device import model_device
from advinterp.io import atomic_path
from advinterp.specs import Architecture, TrainSpec
from advinterp.store import ZScored, open_store, sample_mask, zscored

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "loss", "train_accuracy", "test_accuracy"]


class MLP(nn.Module):
    def __init__(self, n_inputs: int, n_classes: int, arch: Architecture | None = None):
        super().__init__()
        arch = arch or Architecture()
        self.n_inputs, self.n_classes = int(n_inputs), int(n_classes)  # as TabNetClassifier has them
        layers: list[nn.Module] = []
        width = n_inputs
        for units, p in zip(arch.hidden, arch.dropout, strict=True):
            layers.append(nn.Linear(width, units))
            if arch.batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            if p > 0:
                layers.append(nn.Dropout(p))
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_classifier(n_inputs: int, n_classes: int, arch: Architecture | None = None) -> nn.Module:
    """The classifier ``arch`` describes: the paper's :class:`MLP` (``kind: mlp``) or a
    :class:`advinterp.tabnet.TabNetClassifier` (``kind: tabnet``, from ``arch.tabnet``)."""
    arch = arch or Architecture()
    if arch.kind == "tabnet":
        from advinterp.tabnet import TabNetClassifier  # imports pytorch-tabnet only when asked for

        return TabNetClassifier(n_inputs, n_classes, arch.tabnet)
    return MLP(n_inputs, n_classes, arch)


def class_weight_vector(y, n_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights (float32, length ``n_classes``) from training labels ``y``.

    ``w_c = N / (K · n_c)`` for the K classes present among the N training cells (n_c cells of
    class c), 0 for a class absent from ``y`` (never a target, so unused). The weights average 1
    over the training cells: Σ_i w_{y_i} / N = Σ_c n_c · N / (K · n_c) / N = 1. This is
    ``sklearn.utils.class_weight.compute_class_weight("balanced")``, SIMS's formula
    (``DataModule.setup``), which SIMS computes over all labelled cells (train, validation and
    test) and we over the training cells. With ``nn.CrossEntropyLoss(weight=w)`` and its mean
    reduction the batch loss is Σ w_{y_i} ℓ_i / Σ w_{y_i}, so only the ratios of the weights
    matter there.
    """
    y = np.asarray(y, dtype=np.int64)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError("class_weight_vector needs a non-empty 1-d label vector")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must be in [0, {n_classes}); got [{y.min()}, {y.max()}]")
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return torch.as_tensor(weights, dtype=torch.float32)


def as_float_tensor(x) -> torch.Tensor:
    """A detached float32 tensor from an array or a tensor."""
    return x.detach().float() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray | torch.Tensor, device: torch.device,
                   batch_size: int = 4096) -> torch.Tensor:
    """Logits for ``x`` in eval mode, batched on ``device``, returned on the CPU.

    Each batch is converted to float32 on its own, so a large float64 input (the reference
    explainers' perturbation sets reach gigabytes) is never copied whole.
    """
    was_training = model.training
    model.eval()
    if isinstance(x, ZScored):  # a lazy store matrix (advinterp.store.ZScored): z-scored on the device
        batches = (np.arange(i, min(i + batch_size, len(x))) for i in range(0, len(x), batch_size))
        out = [model(xb).cpu() for _, xb in device_batches(x, batches, device)]
    else:
        out = [model(torch.as_tensor(x[i:i + batch_size], dtype=torch.float32).to(device)).cpu()
               for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def predict_proba(model: nn.Module, x, batch_size: int = 8192) -> torch.Tensor:
    """Softmax class probabilities (float64, CPU), batched on the model's device."""
    return torch.softmax(predict_logits(model, x, model_device(model), batch_size).double(), dim=1)


def predict(model: nn.Module, x, device: torch.device, batch_size: int = 4096) -> np.ndarray:
    return predict_logits(model, x, device, batch_size).argmax(dim=1).numpy()


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """accuracy, macro_f1 and per_class_f1 (class name → F1) over all classes."""
    labels = list(range(len(class_names)))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class_f1": {name: float(f) for name, f in zip(class_names, per_class, strict=True)},
    }


@dataclass
class TrainResult:
    model: nn.Module
    history: pd.DataFrame
    seconds: float
    extra: dict = field(default_factory=dict)


def host_batch(x: ZScored, idx, pin: bool = False) -> torch.Tensor:
    """Rows ``idx`` of a lazy store matrix, read and packed on the host as a torch tensor (sparse COO
    when the store is sparse), in pinned memory when ``pin`` (an asynchronous copy to a CUDA device)."""
    idx = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
    part = x.values(idx.astype(np.int64))
    if sp.issparse(part):
        part = part.tocoo()
        indices = torch.from_numpy(np.vstack([part.row, part.col]).astype(np.int64))
        t = torch.sparse_coo_tensor(indices, torch.from_numpy(np.asarray(part.data, dtype=np.float32)),
                                    size=part.shape, check_invariants=False)
    else:
        t = torch.as_tensor(np.asarray(part, dtype=np.float32))
    return t.pin_memory() if pin else t


def on_device(x: ZScored, host: torch.Tensor, device) -> torch.Tensor:
    """A :func:`host_batch` on ``device``, dense and z-scored there: the same float32 expression as
    :func:`advinterp.store.zscore`, so the same numbers."""
    t = host.to(device, non_blocking=True)
    if t.is_sparse:
        t = t.to_dense()
    cache = x.__dict__.setdefault("_scaling_on", {})
    if str(device) not in cache:
        cache[str(device)] = (torch.as_tensor(x.mean).to(device), torch.as_tensor(x.std).to(device))
    mean, std = cache[str(device)]
    return (t - mean) / std


def device_batches(x: ZScored, batches, device, workers: int | None = None):
    """``(idx, rows idx of x z-scored on device)`` for each index array of ``batches``, in order.

    ``workers`` background threads (default: the matrix's ``loader_workers``,
    ``scale.loader_workers``) read and pack the next batches while the device works on this one
    (pinned memory and an asynchronous copy on CUDA): the device is not kept waiting for the disk.
    ``0`` reads each batch when it is needed. The batches, and so the results, are the same either
    way; at most ``workers`` batches wait in host memory.
    """
    workers = x.loader_workers if workers is None else workers
    batches = list(batches)
    pin = torch.device(device).type == "cuda"
    if workers < 1 or len(batches) < 2:
        for idx in batches:
            yield idx, on_device(x, host_batch(x, idx, pin), device)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ahead = deque(pool.submit(host_batch, x, idx, pin) for idx in batches[:workers])
        try:
            for i, idx in enumerate(batches):
                host = ahead.popleft().result()
                if i + workers < len(batches):
                    ahead.append(pool.submit(host_batch, x, batches[i + workers], pin))
                yield idx, on_device(x, host, device)
        finally:  # closed early (or the consumer failed): reads not yet started are not waited for
            for pending in ahead:
                pending.cancel()


def _device_batches(x, xt, batches, device):
    """``(idx, rows idx of x)``, both on ``device``, per CPU index tensor of ``batches``: a lazy store
    matrix via :func:`device_batches` (whose loader threads so never wait for the device to hand
    them their indices); an array was moved to the device once (``xt``)."""
    if isinstance(x, ZScored):
        return ((idx.to(device), xb) for idx, xb in device_batches(x, batches, device))
    return ((idx, xt[idx]) for idx in (b.to(device) for b in batches))


def train_classifier(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    arch: Architecture | None,
    spec: TrainSpec,
    seed: int,
    device: torch.device,
    model: nn.Module | None = None,
    perturb=None,
) -> TrainResult:
    """Adam + cross-entropy, shuffled mini-batches from a seeded generator.

    The network is built from ``arch`` (:func:`build_classifier`); pass ``model`` to continue training
    an existing one. A model that says so (TabNet: its spec's ``class_weights``) has the cross-entropy
    weighted by :func:`class_weight_vector` of ``y_train``, and one with a ``train_spec`` method
    (TabNet: SIMS's learning rate, batch size and weight decay) adjusts ``spec`` first. ``perturb(model, x, y, step)``,
    if given, may replace each mini-batch before the update (adversarial training). A model with a
    ``regularisation_loss()`` method has it added to the loss of every update (computed from that
    update's forward pass).
    The history records,
    after every epoch, the mean training loss and the eval-mode accuracy on the
    training and test cells.
    """
    torch.manual_seed(seed)
    if model is None:
        model = build_classifier(x_train.shape[1], n_classes, arch)
    model = model.to(device)
    if hasattr(model, "train_spec"):
        spec = model.train_spec(spec)
    opt = torch.optim.Adam(model.parameters(), lr=spec.learning_rate, weight_decay=spec.weight_decay)
    weight = class_weight_vector(y_train, n_classes).to(device) if getattr(model, "class_weights", False) else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    xt = None if isinstance(x_train, ZScored) else torch.as_tensor(np.asarray(x_train), dtype=torch.float32,
                                                                    device=device)
    yt = torch.as_tensor(y_train, dtype=torch.long, device=device)
    n_train = len(y_train)
    gen = torch.Generator().manual_seed(seed)
    # batch norm cannot normalise a batch of one cell: such a last batch is left out of that epoch
    min_batch = 2 if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()) else 1
    rows = []
    step = 0
    start = time.perf_counter()
    for epoch in range(1, spec.epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=gen)  # batches cut on the CPU (_device_batches)
        total = 0.0
        batches = [order[i:i + spec.batch_size] for i in range(0, n_train, spec.batch_size)]
        for idx, xb in _device_batches(x_train, xt, [b for b in batches if len(b) >= min_batch], device):
            yb = yt[idx]
            if perturb is not None:
                xb, yb = perturb(model, xb, yb, step)
                model.train()
            step += 1
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            if hasattr(model, "regularisation_loss"):  # e.g. TabNet's mask sparsity (advinterp.tabnet)
                loss = loss + model.regularisation_loss()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        train_acc = float((predict(model, x_train, device, spec.eval_batch_size) == y_train).mean())
        test_acc = float((predict(model, x_test, device, spec.eval_batch_size) == y_test).mean())
        rows.append((epoch, total / n_train, train_acc, test_acc))
        if epoch == 1 or epoch % 10 == 0 or epoch == spec.epochs:
            log.info("epoch %d loss %.4f train acc %.4f test acc %.4f", *rows[-1])
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(model, pd.DataFrame(rows, columns=HISTORY_COLUMNS), seconds)


def save_model(path: str | Path, model: nn.Module, n_inputs: int, arch: Architecture,
               class_names: list[str], gene_names: list[str], **meta) -> None:
    """Everything needed to rebuild the model: state dict, architecture (its ``kind`` and TabNet spec
    included), classes, genes."""
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "n_inputs": int(n_inputs),
        "architecture": asdict(arch),
        "class_names": list(class_names),
        "gene_names": list(gene_names),
        "meta": meta,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def payload_architecture(payload: dict) -> Architecture:
    """The :class:`Architecture` stored in a saved model."""
    return Architecture.from_payload(payload["architecture"])


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`; returns ``(model in eval mode, payload)``."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model = build_classifier(payload["n_inputs"], len(payload["class_names"]), payload_architecture(payload))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


@dataclass(frozen=True)
class SplitData:
    """The arrays a classifier sees, taken from a preprocessed store (:mod:`advinterp.store`).

    ``x_train``/``x_test`` are the z-scored model input: dense arrays, or lazy
    :class:`advinterp.store.ZScored` matrices read a mini-batch at a time (``split_data(lazy=True)``).
    ``n_test_all`` is the number of test cells before a sample was taken (``sample``).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    gene_names: list[str]
    n_test_all: int | None = None


def split_data(adata, lazy: bool = False, sample: str | None = None, loader_workers: int = 1) -> SplitData:
    """Train/test cells from ``obs['split']``; labels from ``uns['preprocess']['label_key']``.

    ``lazy``: the z-scored rows stay in the store until a mini-batch or an index asks for them
    (training, prediction, the explainers' cells); else they are materialised. ``sample``: keep
    only the test cells of that stratified sample (``obs['sample_{sample}']``, e.g.
    ``evaluation``: :func:`advinterp.store.mark_samples`), materialised (the sample is capped),
    for the steps that attack cells. ``loader_workers``: threads reading a lazy matrix's
    mini-batches ahead (:func:`device_batches`).
    """
    label_key = adata.uns["preprocess"]["label_key"]
    labels = adata.obs[label_key].astype("category")
    codes = labels.cat.codes.to_numpy().astype(np.int64)
    train = (adata.obs["split"] == "train").to_numpy()
    test = ~train
    n_test_all = int(test.sum())
    if sample is not None:
        test = test & sample_mask(adata, sample)
    store = zscored(adata, loader_workers=loader_workers)  # one reader of the file for both
    x_train, x_test = store.subset(np.flatnonzero(train)), store.subset(np.flatnonzero(test))
    if not lazy:
        x_train = np.asarray(x_train)
    if not lazy or sample is not None:
        x_test = np.asarray(x_test)
    return SplitData(x_train, codes[train], x_test, codes[test],
                     [str(c) for c in labels.cat.categories], [str(g) for g in adata.var_names], n_test_all)


def split_store(path: str | Path, scale: dict, sample: str | None = None) -> SplitData:
    """:func:`split_data` (lazy) of the preprocessed store at ``path``, opened as the config's
    ``scale`` section says: from disk above ``in_memory_max_cells`` (so a step that attacks only
    the evaluation sample never holds the whole store), mini-batches read ahead by
    ``loader_workers`` threads. The numbers do not depend on either."""
    return split_data(open_store(str(path), scale["in_memory_max_cells"]), lazy=True, sample=sample,
                      loader_workers=scale["loader_workers"])


def training_metrics(model: nn.Module, data: SplitData, seconds: float, device,
                     batch_size: int = 4096) -> dict:
    """What every training step records of its model: clean test-set ``accuracy``, ``macro_f1``,
    ``per_class_f1`` (:func:`classification_metrics`), ``n_train``, ``n_test``, ``device`` and
    ``seconds`` (the training time)."""
    y_pred = predict(model, data.x_test, device, batch_size)
    return {
        **classification_metrics(data.y_test, y_pred, data.class_names),
        "n_train": int(len(data.y_train)),
        "n_test": int(len(data.y_test)),
        "device": torch.device(device).type,
        "seconds": round(seconds, 3),
    }


def train_standard(data: SplitData, arch: Architecture, spec: TrainSpec, seed: int,
                   device: torch.device) -> tuple[TrainResult, dict]:
    """Train the standard (non-adversarial) classifier on a split store (:func:`split_store`).

    Returns the training result and the metrics dict written to ``metrics/standard.json``
    (:func:`training_metrics`: clean test-set ``accuracy``, ``macro_f1``, ``per_class_f1``,
    ``n_train``, ``n_test``, ``device``, ``seconds``).
    """
    result = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test,
                              len(data.class_names), arch, spec, seed, device)
    return result, training_metrics(result.model, data, result.seconds, device, spec.eval_batch_size)
