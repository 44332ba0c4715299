"""Benchmark: peak memory of the strong robustness evaluation, for sizing ``scale.evaluation_max_cells``.

Runs :func:`advinterp.autoattack.evaluate` (APGD-CE, APGD-DLR, APGD-T, Square) on ``--cells`` random
cells × ``--genes`` genes in a fresh process per setting, and prints the process's peak RSS: before
the evaluation (Python, torch and the cells), after it, and the growth in copies of the cells
(cells × genes × 4 bytes). The model is a linear classifier whose labels are its own predictions
and ε is small, so almost every cell survives every attack: the worst case for memory (every attack
runs on every cell); few iterations, because memory does not depend on them. ``keep_cells`` on and
off: the sanity checks and the regime metrics run without the attacked cells.

Usage: python benchmarks/evaluation_memory.py [--cells 50000] [--genes 2500] [--batch-size 4096]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def measure(cells: int, genes: int, keep_cells: bool, batch_size: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from advinterp.autoattack import evaluate
    from advinterp.specs import EvaluationSpec

    torch.manual_seed(0)
    x = torch.randn(cells, genes)
    model = nn.Linear(genes, 10).eval()
    with torch.no_grad():
        y = model(x).argmax(1).numpy()
    before = _peak_gb()
    spec = EvaluationSpec(attacks=("apgd_ce", "apgd_dlr", "apgd_t", "square"), n_iter=4, square_queries=20,
                          n_target_classes=3, batch_size=batch_size)
    result = evaluate(model, x, y, 0.001, spec, seed=0, keep_cells=keep_cells)
    after = _peak_gb()
    return {"keep_cells": keep_cells, "before_gb": before, "peak_gb": after,
            "copies": (after - before) / (cells * genes * 4 / 1e9),
            "standing": float(np.mean(result.broken_by == ""))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=50_000)
    parser.add_argument("--genes", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--child", choices=["keep", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.cells, args.genes, args.child == "keep", args.batch_size)))
        return
    print(f"strong evaluation, {args.cells} cells x {args.genes} genes "
          f"({args.cells * args.genes * 4 / 1e9:.2f} GB a copy), batch {args.batch_size}")
    for child in ("keep", "bare"):
        out = subprocess.run([sys.executable, __file__, "--cells", str(args.cells), "--genes", str(args.genes),
                              "--batch-size", str(args.batch_size), "--child", child],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"keep_cells={r['keep_cells']!s:5}  peak RSS {r['before_gb']:.2f} GB before, {r['peak_gb']:.2f} GB "
              f"during: {r['copies']:.1f} copies of the cells more ({r['standing']:.0%} of cells left standing)")


if __name__ == "__main__":
    main()
