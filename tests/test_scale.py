"""Atlas scale (issue #17): a training job on a dataset whose dense model input does not fit the job's
memory limit succeeds, because the store is sparse and the input is z-scored a mini-batch at a time."""

import shlex
import shutil
import subprocess
import sys
import textwrap

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from workflow_runs import deploy, snakemake

from advinterp.io import read_json

N_CELLS, N_GENES = 200_000, 2_500  # dense float32: 2.0 GB
LIMIT_KB = 2_600_000  # address space of each process: the interpreter with torch takes ~1.2-1.5 GB of it


def atlas(path, seed=0):
    """Sparse integer counts, 2% of entries non-zero, three cell types each raising its own 100 genes."""
    rng = np.random.default_rng(seed)
    per_cell = N_GENES // 50  # background: 50 entries per cell at random genes (a repeat adds up)
    x = sp.csr_matrix((rng.integers(1, 6, N_CELLS * per_cell).astype(np.float32),
                       (np.repeat(np.arange(N_CELLS), per_cell), rng.integers(0, N_GENES, N_CELLS * per_cell))),
                      shape=(N_CELLS, N_GENES))
    labels = rng.choice(["a", "b", "c"], size=N_CELLS)
    rows, cols = [], []
    for k, cls in enumerate("abc"):  # a third of the cells of the class express each of its genes
        cells = np.flatnonzero(labels == cls)
        picked = rng.random((len(cells), 100)) < 0.3
        rows.append(np.repeat(cells, picked.sum(axis=1)))
        cols.append(100 * k + np.nonzero(picked)[1])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    bump = sp.csr_matrix((rng.integers(1, 4, len(rows)).astype(np.float32), (rows, cols)), shape=x.shape)
    obs = pd.DataFrame({"cell_type": labels}, index=pd.RangeIndex(N_CELLS).astype(str))
    ad.AnnData((x + bump).tocsr(), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)])).write_h5ad(path)


def limited(cmd: list[str]) -> subprocess.CompletedProcess:
    """``cmd`` in a shell whose processes may map at most LIMIT_KB of memory (ulimit -v)."""
    line = " ".join(shlex.quote(c) for c in cmd)
    return subprocess.run(["bash", "-c", f"ulimit -v {LIMIT_KB} && MALLOC_ARENA_MAX=2 exec {line}"],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def atlas_run(repo, tmp_path_factory):
    workdir = deploy(repo, tmp_path_factory.mktemp("atlas"))
    (workdir / "data").mkdir()
    atlas(workdir / "data" / "atlas.h5ad")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["datasets"] = ["atlas"]
    (workdir / "data" / "sets.gmt").write_text("SET_A\tplanted\t" + "\t".join(f"g{j}" for j in range(100)) + "\n")
    config["custom_datasets"] = {"atlas": {"path": "data/atlas.h5ad", "label_key": "cell_type",
                                           "organism": "hsapiens", "values": "counts",
                                           "enrichment": {"backend": "gmt", "gmt": "data/sets.gmt"}}}
    config["preprocess"]["n_hvg"] = N_GENES
    config["scale"]["in_memory_max_cells"] = 1000  # read from disk a mini-batch at a time
    config["model"].update(hidden=[16], dropout=[0.0])
    config["training"]["epochs"] = 1
    config["imbalance"]["datasets"] = []
    config["explanation_checks"]["datasets"] = []
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(repo, workdir, "results/atlas/data/preprocessed.h5ad")  # no limit: preprocessing holds the data
    return workdir


@pytest.mark.workflow
def test_training_fits_in_a_memory_limit_the_dense_input_exceeds(repo, atlas_run):
    store = atlas_run / "results/atlas/data/preprocessed.h5ad"
    dense = limited([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np
        from advinterp.model import split_data
        from advinterp.store import open_store
        data = split_data(open_store('{store}'))  # the dense model input, as every step held it before
        print(data.x_train.nbytes + data.x_test.nbytes)
        """)])
    assert dense.returncode != 0 and "MemoryError" in dense.stderr, dense.stdout + dense.stderr[-2000:]

    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile"),
           "--directory", str(atlas_run), "--cores", "2", "results/atlas/models/standard.pt"]
    proc = limited(cmd)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    metrics = read_json(atlas_run / "results/atlas/metrics/standard.json")
    assert metrics["n_train"] + metrics["n_test"] == N_CELLS
    assert metrics["accuracy"] > 0.5  # three classes: the planted genes are learnt in one epoch
    log = (atlas_run / "results/logs/atlas/train_standard.log").read_text()
    assert "reading X from disk" in log
    bench = pd.read_csv(atlas_run / "results/benchmarks/atlas/train_standard.tsv", sep="\t")
    assert bench["max_rss"].iloc[0] < N_CELLS * N_GENES * 4 / 2**20 / 2  # MB: under half the dense input
    shutil.rmtree(atlas_run / "results/atlas/models")
