"""Benchmark of the explainers, in one run on the default-size SERGIO dataset.

For each method, on the same cells (``--cells-per-class`` test cells of every class) and
the same trained model, prints seconds per cell of advinterp's default implementation and
of the reference package, their ratio, and the Spearman correlation of the per-class
importance (mean |attribution| over the class's cells) between the two — mean and
minimum over classes — and, as the noise ceiling, the same correlation between two runs
of the reference with different seeds. Methods whose default *is* the reference package
are run once.

Usage: python benchmarks/explainers.py [--cells-per-class N] [--threads N] [--methods a,b]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.stats import spearmanr

from advinterp.consensus import class_importance, select_cells
from advinterp.device import seed_everything, select_device
from advinterp.explain import REGISTRY, make_explainer
from advinterp.grn import generate_network
from advinterp.model import split_data, train_classifier
from advinterp.preprocess import preprocess
from advinterp.simulate import simulate_dataset
from advinterp.specs import Architecture, NetworkSpec, PreprocessSpec, SimulationSpec, TrainSpec

# Parameters of the workflow's default config (config/config.yaml, explain.methods).
DEFAULTS = {
    "lime": {"num_samples": 5000},
    "shap_kernel": {"kmeans": 10, "nsamples": "auto"},
    "shap_gradient": {"nsamples": 200},
    "activation_maximization": {"steps": 200, "learning_rate": 0.05, "l2": 0.01},
}
HAS_REFERENCE_SWITCH = {"lime", "shap_kernel"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells-per-class", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default=",".join(REGISTRY))
    parser.add_argument("--background", type=int, default=100, help="background cells (training split)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    seed_everything(0, threads=args.threads)
    device = select_device("auto")

    edges, _ = generate_network(NetworkSpec(), seed=0)
    adata = preprocess(simulate_dataset(edges, SimulationSpec(), seed=0), PreprocessSpec(), seed=0)
    data = split_data(adata)
    model = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, len(data.class_names),
                             Architecture(), TrainSpec(epochs=30), 0, device).model
    cells = select_cells(data.y_test, args.cells_per_class, seed=0)
    x, t = data.x_test[cells], data.y_test[cells]
    rng = np.random.default_rng(0)
    background = data.x_train[rng.choice(len(data.x_train), size=args.background, replace=False)]
    print(f"device {device.type}, {args.threads} threads, {len(cells)} cells x {x.shape[1]} genes, "
          f"{len(background)} background cells\n")
    print(f"{'method':<26}{'default s/cell':>15}{'reference s/cell':>18}{'ratio':>8}{'Spearman mean':>15}"
          f"{'min':>7}{'ref vs ref (seed 1)':>21}")
    for name in args.methods.split(","):
        params = DEFAULTS.get(name, {})
        timings, importances = {}, {}
        variants = ("batched", "reference", "reference_seed1") if name in HAS_REFERENCE_SWITCH else ("default",)
        for variant in variants:
            impl = variant.split("_")[0]
            p = {**params, "implementation": impl} if variant != "default" else params
            start = time.perf_counter()
            attr = make_explainer(name, p)(model, x, t, background, seed=1 if variant.endswith("seed1") else 0)
            timings[variant] = (time.perf_counter() - start) / len(cells)
            importances[variant] = class_importance(attr, t, data.class_names, data.gene_names)
        if len(variants) == 1:
            print(f"{name:<26}{timings['default']:>15.3f}{'(same package)':>18}{1.0:>8.2f}{1.0:>15.3f}{1.0:>7.3f}")
            continue
        def rho(a, b, importances=importances):
            return [spearmanr(importances[a][c], importances[b][c]).statistic for c in data.class_names]

        ours, ceiling = rho("batched", "reference"), rho("reference", "reference_seed1")
        print(f"{name:<26}{timings['batched']:>15.3f}{timings['reference']:>18.3f}"
              f"{timings['reference'] / timings['batched']:>8.1f}{np.mean(ours):>15.3f}{np.min(ours):>7.3f}"
              f"{np.mean(ceiling):>21.3f}")


if __name__ == "__main__":
    main()
