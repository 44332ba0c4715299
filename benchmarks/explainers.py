"""Benchmark of the explainers against their reference packages, in one run.

On the default-size SERGIO dataset and one trained model, for each method on the same
cells (``--cells-per-class`` test cells of every class), prints seconds per cell of
advinterp's default implementation and of the reference package, their ratio, and the
Spearman correlation of the per-class importance (mean |attribution| over the class's
cells) between the two — mean and minimum over classes. Two noise ceilings sit beside it:
the same correlation between two runs of the reference with different seeds, and between
two runs of ours. Methods whose default *is* the reference package are run once.

``--budget`` sets the samples per cell of LIME (``num_samples``) and kernel SHAP
(``nsamples``) for both implementations — one number, or per method as
``lime=20000,shap_kernel=65536``; ``auto`` keeps the workflow's defaults (LIME 5000, kernel
SHAP 2·M + 2048). ``--sweep`` first prints our implementation's self-agreement at several
budgets (cheap), to find the budget at which the estimators stop being sampling noise.
``--classes N`` explains cells of the first N classes only and ``--no-ceiling`` skips the
second reference run: at converged budgets the reference package takes tens of seconds
per cell.

The dataset and model are built once (sergio-rs, scanpy, 30 epochs) and cached in
``--data`` (an .npz and a .pt beside it), so the benchmark can run on a machine that has
torch, shap and lime but not the simulation stack.

Usage: python benchmarks/explainers.py [--cells-per-class N] [--threads N] [--methods a,b]
           [--device auto|cpu|cuda] [--budget auto|N|method=N,...] [--sweep N,N,...]
           [--classes N] [--no-ceiling] [--data PATH]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from advinterp.device import seed_everything, select_device
from advinterp.explain import REGISTRY, class_importance, make_explainer, select_cells
from advinterp.model import MLP, SplitData, train_classifier
from advinterp.specs import Architecture, TrainSpec

# Parameters of the workflow's default config (config/config.yaml, interpretability.params).
DEFAULTS = {
    "lime": {"num_samples": 5000},
    "shap_kernel": {"kmeans": 10, "nsamples": "auto"},
    "shap_gradient": {"nsamples": 200},
    "activation_maximization": {"steps": 200, "learning_rate": 0.05, "l2": 0.01},
}
BUDGET_KEY = {"lime": "num_samples", "shap_kernel": "nsamples"}  # the methods with a reference switch


def load_or_build(path: Path, device: torch.device) -> tuple[SplitData, torch.nn.Module]:
    """The benchmark's dataset and model: from ``path`` if cached, else simulated, trained and cached."""
    model_path = path.with_suffix(".pt")
    if not path.exists():
        from advinterp.grn import generate_network
        from advinterp.model import split_data
        from advinterp.preprocess import preprocess
        from advinterp.simulate import simulate_dataset
        from advinterp.specs import NetworkSpec, PreprocessSpec, SimulationSpec

        edges, _ = generate_network(NetworkSpec(), seed=0)
        adata = preprocess(simulate_dataset(edges, SimulationSpec(), seed=0), PreprocessSpec(), seed=0)
        d = split_data(adata)
        model = train_classifier(d.x_train, d.y_train, d.x_test, d.y_test, len(d.class_names), Architecture(),
                                 TrainSpec(epochs=30), 0, torch.device("cpu")).model
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test,
                 class_names=np.array(d.class_names), gene_names=np.array(d.gene_names))
        torch.save(model.state_dict(), model_path)
    z = np.load(path)
    data = SplitData(z["x_train"], z["y_train"], z["x_test"], z["y_test"], list(z["class_names"]),
                     list(z["gene_names"]))
    model = MLP(data.x_train.shape[1], len(data.class_names), Architecture())
    model.load_state_dict(torch.load(model_path, map_location="cpu"))
    return data, model.to(device).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells-per-class", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default=",".join(REGISTRY))
    parser.add_argument("--background", type=int, default=100, help="background cells (training split)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--budget", default="auto", help="LIME/kernel SHAP samples per cell, or 'auto'")
    parser.add_argument("--sweep", default="", help="comma-separated budgets: our self-agreement at each")
    parser.add_argument("--classes", type=int, default=0, help="explain the first N classes only (0: all)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the second reference run")
    parser.add_argument("--data", type=Path, default=Path("results/benchmarks/explainers_data.npz"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import lime.lime_tabular  # noqa: F401  (imported before timing: shap's import alone takes seconds)
    import shap  # noqa: F401

    seed_everything(0, threads=args.threads)
    device = select_device(args.device)
    data, model = load_or_build(args.data, device)
    cells = select_cells(data.y_test, args.cells_per_class, seed=0)
    if args.classes:
        cells = cells[data.y_test[cells] < args.classes]
    x, t = data.x_test[cells], data.y_test[cells]
    rng = np.random.default_rng(0)
    background = data.x_train[rng.choice(len(data.x_train), size=args.background, replace=False)]
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"device {device.type}{gpu}, {args.threads} CPU threads, {len(cells)} cells x {x.shape[1]} genes, "
          f"{len(background)} background cells, budget {args.budget}\n")

    def run(name, params, seed):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        attr = make_explainer(name, params)(model, x, t, background, seed=seed)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / len(cells), class_importance(attr, t, data.class_names,
                                                                             data.gene_names)

    explained = [data.class_names[c] for c in np.unique(t)]

    def rho(a, b):
        values = [spearmanr(a[c], b[c]).statistic for c in explained]
        return np.mean(values), np.min(values)

    def with_budget(name, budget):
        params = dict(DEFAULTS[name])
        if budget != "auto":
            params[BUDGET_KEY[name]] = int(budget)
        return params

    budgets = dict(item.split("=") for item in args.budget.split(",")) if "=" in args.budget else {}

    methods = args.methods.split(",")
    for name in (m for m in methods if args.sweep and m in BUDGET_KEY):
        print(f"{name}: our self-agreement (seed 0 vs seed 1) by budget")
        for budget in args.sweep.split(","):
            params = with_budget(name, budget)
            (sec, a), (_, b) = run(name, params, 0), run(name, params, 1)
            mean, low = rho(a, b)
            print(f"  budget {budget:>7}: {sec:8.4f} s/cell, Spearman mean {mean:.3f}, min {low:.3f}")
        print()

    print(f"{'method':<24}{'ours s/cell':>12}{'reference s/cell':>18}{'ratio':>8}{'Spearman mean':>15}"
          f"{'min':>7}{'ref vs ref':>12}{'ours vs ours':>14}")
    for name in methods:
        if name not in BUDGET_KEY:
            sec, _ = run(name, DEFAULTS.get(name, {}), 0)
            print(f"{name:<24}{sec:>12.4f}{'(same package)':>18}")
            continue
        params = with_budget(name, budgets.get(name, "auto") if budgets else args.budget)
        variants = [("ours", "batched", 0), ("ours_seed1", "batched", 1), ("reference", "reference", 0)]
        if not args.no_ceiling:
            variants.append(("reference_seed1", "reference", 1))
        results = {variant: run(name, {**params, "implementation": impl}, seed) for variant, impl, seed in variants}
        ours, ref = results["ours"][0], results["reference"][0]
        agree = rho(results["ours"][1], results["reference"][1])
        ceiling = rho(results["reference"][1], results["reference_seed1"][1])[0] if not args.no_ceiling else np.nan
        own = rho(results["ours"][1], results["ours_seed1"][1])[0]
        label = f"{name} ({params[BUDGET_KEY[name]]})"
        print(f"{label:<24}{ours:>12.4f}{ref:>18.3f}{ref / ours:>8.1f}{agree[0]:>15.3f}{agree[1]:>7.3f}"
              f"{ceiling:>12.3f}{own:>14.3f}", flush=True)


if __name__ == "__main__":
    main()
