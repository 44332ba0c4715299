"""A small trained classifier shared by the attack/robustness tests."""

from functools import lru_cache

import numpy as np
import torch

from advinterp.device import seed_everything
from advinterp.model import SplitData, train_classifier
from advinterp.specs import Architecture, TrainSpec


def blobs(n_per_class=60, n_genes=30, n_classes=3, seed=0, spread=2.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, size=(n_classes, n_genes))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = (centres[y] + rng.normal(size=(len(y), n_genes))).astype(np.float32)
    test = np.arange(len(y)) % 5 == 0
    return x[~test], y[~test], x[test], y[test]


@lru_cache(maxsize=1)
def toy():
    """(model, SplitData) of a 3-class MLP trained on Gaussian blobs."""
    xtr, ytr, xte, yte = blobs()
    seed_everything(0, threads=1)
    result = train_classifier(xtr, ytr, xte, yte, 3, Architecture(hidden=(32, 16), dropout=(0.1, 0.0)),
                              TrainSpec(epochs=20, batch_size=32), seed=0, device=torch.device("cpu"))
    data = SplitData(xtr, ytr, xte, yte, ["a", "b", "c"], [f"g{i}" for i in range(xtr.shape[1])])
    return result.model, data
