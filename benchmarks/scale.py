"""Benchmark: the workflow at atlas scale (issue #17), in one run.

For each ``--cells`` size, writes a synthetic count matrix (``--genes`` genes, ``--types`` cell types:
per-gene base rates from a log-normal, each type raising its own 5% of the genes four-fold, per-cell
library sizes from a log-normal, Poisson counts, about 7% of entries non-zero, as in droplet data),
runs the workflow's main target on it with a scale configuration (``benchmarks/scale.yaml`` over
``config/config.yaml``: few epochs, one seed, one attack, cheap explainers) and reads every job's
Snakemake ``benchmark:`` file (wall seconds, peak RSS).

Prints and writes (``--out``, TSV) per rule and size: the jobs, their summed wall time, the largest
peak RSS of a job, and the ratio of that peak to the dense float32 model input (cells × genes × 4
bytes, what every step held before the store was sparse) — the reference this compares against.
Then per rule the fitted exponent of wall time against cells between the two largest sizes (and over
all sizes): 1 is linear. Machine, cores and date are in the output's header.

Usage: python benchmarks/scale.py [--cells 10000 100000 1000000] [--genes 2500] [--types 10]
           [--cores 2] [--workdir runs/scale] [--out benchmarks/results/scale.tsv] [--keep]
           [--targets results/{dataset}/models/standard.pt ...] [--previous earlier.tsv ...]
           [--in-memory-max-cells N] [--collect]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

REPO = Path(__file__).resolve().parents[1]
BLOCK = 50_000  # cells generated at a time


def synthetic_counts(n_cells: int, n_genes: int, n_types: int, seed: int = 0) -> ad.AnnData:
    """Poisson counts of ``n_types`` planted cell types (module docstring), built a block of cells at
    a time into a sparse matrix (the dense matrix is never held)."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(np.log(0.05), 1.0, size=n_genes))
    rates = np.tile(base, (n_types, 1))
    for t in range(n_types):
        marked = rng.choice(n_genes, size=max(1, n_genes // 20), replace=False)
        rates[t, marked] *= 4
    labels = rng.integers(0, n_types, size=n_cells)
    blocks = []
    for start in range(0, n_cells, BLOCK):
        y = labels[start:start + BLOCK]
        library = np.exp(rng.normal(0, 0.3, size=(len(y), 1)))
        blocks.append(sp.csr_matrix(rng.poisson(rates[y] * library).astype(np.float32)))
    x = sp.vstack(blocks, format="csr")
    obs = pd.DataFrame({"cell_type": pd.Categorical([f"type{t}" for t in labels])},
                       index=pd.RangeIndex(n_cells).astype(str))
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]))


def scale_config(dataset: str, data_path: Path, gmt: Path, in_memory_max_cells: int | None = None) -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for key, value in yaml.safe_load((REPO / "benchmarks/scale.yaml").read_text()).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    if in_memory_max_cells is not None:
        config["scale"]["in_memory_max_cells"] = in_memory_max_cells
    config["datasets"] = [dataset]
    config["custom_datasets"] = {dataset: {
        "path": str(data_path), "label_key": "cell_type", "organism": "hsapiens", "values": "counts",
        "enrichment": {"backend": "gmt", "gmt": str(gmt)}}}
    return config


def run_size(n_cells: int, args) -> tuple[pd.DataFrame, float]:
    dataset = f"atlas{n_cells}"
    work = Path(args.workdir) / dataset
    if work.exists():
        shutil.rmtree(work)
    (work / "data").mkdir(parents=True)
    start = time.perf_counter()
    synthetic_counts(n_cells, args.genes, args.types).write_h5ad(work / "data" / "counts.h5ad")
    print(f"{dataset}: data written in {time.perf_counter() - start:.0f} s", flush=True)
    gmt = work / "data" / "sets.gmt"
    gmt.write_text("".join(f"SET{t}\tplanted\t" + "\t".join(f"gene{j}" for j in range(t * 10, t * 10 + 10)) + "\n"
                           for t in range(args.types)))
    (work / "config").mkdir()
    (work / "config" / "config.yaml").write_text(
        yaml.safe_dump(scale_config(dataset, work / "data" / "counts.h5ad", gmt, args.in_memory_max_cells),
                       sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", *(t.format(dataset=dataset) for t in args.targets),
           "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory", str(work), "--cores", str(args.cores),
           "--configfile", str(work / "config" / "config.yaml")]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{dataset}: the workflow failed:\n{proc.stderr[-5000:]}")
    table = job_table(work, n_cells, args.genes)
    if not args.keep:
        shutil.rmtree(work)
    return table, total


def job_table(work: Path, n_cells: int, n_genes: int) -> pd.DataFrame:
    """Per rule, from the ``benchmark:`` files of the run in ``work``: jobs, summed wall seconds,
    largest peak RSS (MB) and its ratio to the dense float32 input."""
    rows = []
    for path in sorted((work / "results" / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(path, sep="\t")
        rows.append({"rule": path.name.split(".")[0], "s": float(bench["s"].iloc[0]),
                     "max_rss_mb": float(pd.to_numeric(bench["max_rss"], errors="coerce").iloc[0])})
    if not rows:
        sys.exit(f"{work}: no benchmark files under results/benchmarks")
    jobs = pd.DataFrame(rows)
    table = jobs.groupby("rule").agg(jobs=("s", "size"), seconds=("s", "sum"), max_rss_mb=("max_rss_mb", "max"))
    table.insert(0, "cells", n_cells)
    table["rss_vs_dense"] = table["max_rss_mb"] * 2**20 / (n_cells * n_genes * 4)
    return table.reset_index()


def exponents(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: slope of log(seconds) against log(cells), between the two largest sizes and over all."""
    out = []
    for rule, part in table.groupby("rule"):
        part = part.sort_values("cells")
        if len(part) < 2 or (part["seconds"] <= 0).any():
            continue
        lx, ly = np.log(part["cells"].to_numpy(float)), np.log(part["seconds"].to_numpy(float))
        out.append({"rule": rule, "exponent_top": (ly[-1] - ly[-2]) / (lx[-1] - lx[-2]),
                    "exponent_all": float(np.polyfit(lx, ly, 1)[0])})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--genes", type=int, default=2500)
    parser.add_argument("--types", type=int, default=10)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--workdir", default=str(REPO / "runs" / "scale"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale.tsv"))
    parser.add_argument("--keep", action="store_true", help="keep each size's working directory")
    parser.add_argument("--previous", nargs="*", default=[], metavar="TSV",
                        help="tables of earlier runs (same targets) added to this one's for the exponents")
    parser.add_argument("--in-memory-max-cells", type=int, default=None, metavar="N",
                        help="scale.in_memory_max_cells for every size (e.g. 1000: the store read from disk at "
                             "every size); default: config/config.yaml's")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing: read the benchmark files of the runs kept (--keep) in --workdir, e.g. "
                             "a run finished by hand or on a cluster")
    parser.add_argument("--targets", nargs="+", default=[], metavar="PATH",
                        help="only these outputs ({dataset} is filled in), e.g. "
                             "results/{dataset}/models/standard.pt; default: the whole DAG (rule all)")
    args = parser.parse_args()
    header = (f"# advinterp scale benchmark, {datetime.date.today()}, {platform.node()}: {platform.processor() or ''} "
              f"{os.cpu_count()} CPUs, --cores {args.cores}, {args.genes} genes, {args.types} types, "
              f"targets: {' '.join(args.targets) or 'all'}"
              + (f", scale.in_memory_max_cells {args.in_memory_max_cells}" if args.in_memory_max_cells else "")
              + (f", collected from the runs kept in {args.workdir}" if args.collect else "") + "\n")
    tables = [pd.read_csv(p, sep="\t", comment="#") for p in args.previous]
    for n in sorted(args.cells):
        if args.collect:
            table = job_table(Path(args.workdir) / f"atlas{n}", n, args.genes)
        else:
            table, total = run_size(n, args)
            print(f"{n} cells: workflow {total:.0f} s", flush=True)
        tables.append(table)
        full = pd.concat(tables, ignore_index=True)
        with open(args.out, "w") as fh:  # after every size: a later size may take hours
            fh.write(header)
            full.to_csv(fh, sep="\t", index=False, float_format="%.4g")
    print(header + full.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    exp = exponents(full)
    if not exp.empty:
        print("\ntime ~ cells^exponent per rule:\n" + exp.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        exp.to_csv(Path(args.out).with_suffix(".exponents.tsv"), sep="\t", index=False, float_format="%.3f")


if __name__ == "__main__":
    main()
