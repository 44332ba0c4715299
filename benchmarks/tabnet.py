"""Benchmark: the paper's MLP against the SIMS-style TabNet (advinterp.tabnet), in one run.

On the same synthetic data (Gaussian class blobs, ``--cells`` × ``--genes``, ``--classes``
classes, 80/20 train/test split) and the same device, times
:func:`advinterp.model.train_classifier` (Adam, ``--batch-size`` cells per update, each epoch's
eval-mode train and test accuracy included, as in the workflow) for the MLP with
:class:`advinterp.specs.Architecture`'s defaults and for TabNet with :class:`advinterp.tabnet.TabNetSpec`'s
defaults (n_d = n_a = 64, 3 steps, sparsemax, its weight decay), twice: at the MLP's batch size
(``tabnet``: the same cells per update, the architectures' cost compared) and at SIMS's batch size and
learning rate, as the workflow trains it (``tabnet_sims``: ``TabNetSpec.batch_size``). Each model trains ``--warmup``
epochs first (not timed), then ``--epochs`` more are timed, ``--repeats`` times (best kept).
Prints the parameter counts, seconds per epoch and eval-mode inference throughput (cells/second),
with the ratios TabNet/MLP. Timing only: a few epochs say nothing about either model's accuracy.

Usage: python benchmarks/tabnet.py [--cells N] [--genes N] [--classes N] [--epochs N] [--warmup N]
           [--repeats N] [--batch-size N] [--threads N] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from advinterp.device import seed_everything, select_device
from advinterp.model import MLP, predict, train_classifier
from advinterp.specs import Architecture, TabNetSpec, TrainSpec
from advinterp.tabnet import TabNetClassifier


def synthetic(cells: int, genes: int, classes: int, seed: int = 0):
    """Gaussian blobs: class centres N(0, 0.5²) per gene, cells N(centre, 1); every 5th cell tests."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.5, size=(classes, genes))
    y = rng.integers(0, classes, size=cells)
    x = (centres[y] + rng.normal(size=(cells, genes))).astype(np.float32)
    test = np.arange(cells) % 5 == 0
    return x[~test], y[~test], x[test], y[test]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_model(build, spec: TrainSpec, data, device, warmup: int, epochs: int, repeats: int):
    """(seconds per timed epoch (best of repeats), inference cells/second)."""
    xtr, ytr, xte, yte = data
    n_classes = int(max(ytr.max(), yte.max())) + 1
    seed_everything(0)
    model = build()
    if warmup:
        model = train_classifier(xtr, ytr, xte, yte, n_classes, None, TrainSpec(**{**spec.__dict__, "epochs": warmup}),
                                 0, device, model=model).model
    per_epoch = []
    for r in range(repeats):
        sync(device)
        start = time.perf_counter()
        model = train_classifier(xtr, ytr, xte, yte, n_classes, None, TrainSpec(**{**spec.__dict__, "epochs": epochs}),
                                 1 + r, device, model=model).model
        sync(device)
        per_epoch.append((time.perf_counter() - start) / epochs)
    x_all = np.concatenate([xtr, xte])
    predict(model, x_all[:spec.eval_batch_size], device, spec.eval_batch_size)  # warm-up
    sync(device)
    start = time.perf_counter()
    predict(model, x_all, device, spec.eval_batch_size)
    sync(device)
    return min(per_epoch), len(x_all) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=2500)
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per repeat")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=TrainSpec.batch_size)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    seed_everything(0, threads=args.threads)
    device = select_device(args.device)
    data = synthetic(args.cells, args.genes, args.classes)
    n_inputs, n_classes = args.genes, args.classes
    base = TrainSpec(epochs=1, batch_size=args.batch_size)
    tabnet_spec = TabNetSpec()
    same_batch = TabNetSpec(batch_size=args.batch_size)
    arch = Architecture()
    # train_classifier trains a TabNet with its spec's batch size, learning rate and weight decay
    models = {
        "mlp": (lambda: MLP(n_inputs, n_classes, arch), base),
        "tabnet": (lambda: TabNetClassifier(n_inputs, n_classes, same_batch), base),
        "tabnet_sims": (lambda: TabNetClassifier(n_inputs, n_classes, tabnet_spec), base),
    }
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"device {device.type}{gpu}, {torch.get_num_threads()} CPU threads, {len(data[0])} training + "
          f"{len(data[2])} test cells x {n_inputs} genes, {n_classes} classes, batch {args.batch_size}, "
          f"{args.warmup} warm-up + {args.epochs} timed epochs (best of {args.repeats})")
    print(f"MLP hidden {arch.hidden}; TabNet n_d={tabnet_spec.n_d} n_a={tabnet_spec.n_a} n_steps={tabnet_spec.n_steps} "
          f"{tabnet_spec.mask_type}, virtual batch {tabnet_spec.virtual_batch_size}, "
          f"l2_normalise={tabnet_spec.l2_normalise}; tabnet_sims: batch {tabnet_spec.batch_size}")
    results = {}
    for name, (build, spec) in models.items():
        n_params = sum(p.numel() for p in build().parameters())
        results[name] = (*time_model(build, spec, data, device, args.warmup, args.epochs, args.repeats), n_params)
    print(f"{'model':<12}{'parameters':>12}{'s/epoch':>10}{'infer cells/s':>15}")
    for name, (sec, thr, n_params) in results.items():
        print(f"{name:<12}{n_params:>12,}{sec:>10.3f}{thr:>15,.0f}")
    m_sec, m_thr, _ = results["mlp"]
    for name in ("tabnet", "tabnet_sims"):
        t_sec, t_thr, _ = results[name]
        print(f"ratio {name}/MLP: {t_sec / m_sec:.1f}x seconds per epoch, {m_thr / t_thr:.1f}x inference time")


if __name__ == "__main__":
    main()
