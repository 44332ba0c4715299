"""Running the workflow from tests: the Snakemake command line on a deployed tiny config."""

import shutil
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import yaml


def snakemake(repo, workdir, *args, check=True):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def deploy(repo, workdir, config=".test/config/config.yaml"):
    (workdir / "config").mkdir(parents=True)
    shutil.copy(repo / config, workdir / "config" / "config.yaml")
    return workdir


MARKERS = {"alpha": ["ACTB", "GAPDH", "MYC"], "beta": ["CD3E", "CD19", "LYZ"], "gamma": ["NKG7", "GNLY", "PRF1"]}


def add_custom_dataset(workdir):
    """A user dataset as the docs' "Your own data" describes it: SMART-seq2-like TPM values (library-size
    normalised, not logged: values: normalized) with three cell types, each with planted marker genes, one
    extra cell expressed only in a gene too rare for the gene filter (so the filter leaves it with zero
    counts and it is dropped), and a GMT of the markers for the offline enrichment."""
    rng = np.random.default_rng(3)
    # 41 genes, fewer than the tiny config's n_hvg (50): every gene the filter keeps reaches the model and DE
    genes = [g for m in MARKERS.values() for g in m] + [f"GENE{j}" for j in range(31)] + ["RARE1"]
    labels = np.repeat(list(MARKERS), 40)
    x = rng.poisson(1.0, size=(len(labels), len(genes))).astype(float)
    x[:, -1] = 0
    for cls, markers in MARKERS.items():
        x[np.ix_(labels == cls, [genes.index(g) for g in markers])] += 6
    lonely = np.zeros((1, len(genes)))
    lonely[0, -1] = 5  # RARE1 is expressed in this cell only: below preprocess.min_cells
    x, labels = np.vstack([x, lonely]), np.append(labels, "alpha")
    tpm = x / x.sum(axis=1, keepdims=True) * 1e6
    obs = pd.DataFrame({"celltype": labels}, index=[f"cell{i}" for i in range(len(labels))])
    data = workdir / "data"
    data.mkdir()
    ad.AnnData(tpm.astype(np.float32), obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(data / "mine.h5ad")
    (data / "markers.gmt").write_text("".join(f"SET_{c.upper()}\t{c} markers\t" + "\t".join(m) + "\n"
                                              for c, m in MARKERS.items()))
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["datasets"] = ["sergio", "mine"]
    config["custom_datasets"] = {"mine": {"path": "data/mine.h5ad", "label_key": "celltype", "organism": "hsapiens",
                                          "values": "normalized",
                                          "enrichment": {"backend": "gmt", "gmt": "data/markers.gmt"}}}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir
