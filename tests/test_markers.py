"""Biology check on the embedded real dataset: pbmc68k's consensus genes include known markers.

Runs the workflow's library steps on scanpy's pbmc68k (paper preprocessing, the default MLP,
the six explainers with the default config's parameters, consensus of the top 20) for the
standard model, and counts each class's known markers (resources/genesets/pbmc_markers.gmt)
among its consensus top 20. A random top 20 of the 724 genes would hold one of a class's
markers with probability ~0.15-0.3; the thresholds below are well above that.
"""

import numpy as np
import pytest
import torch
import yaml

from advinterp.config import explain_params
from advinterp.consensus import consensus, explain_model
from advinterp.datasets import load_dataset
from advinterp.device import seed_everything
from advinterp.enrichment import read_gmt
from advinterp.model import split_data, train_classifier
from advinterp.preprocess import preprocess
from advinterp.specs import Architecture, PreprocessSpec, TrainSpec

# class → its marker set in the shipped GMT, and how many of its markers must be in its top 20
EXPECTED = {"CD14+ Monocyte": ("PBMC_CLASSICAL_MONOCYTE", 1), "CD19+ B": ("PBMC_B_CELL", 1),
            "CD56+ NK": ("PBMC_NK_CELL", 3)}


@pytest.fixture(scope="module")
def ranked(repo):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    registry = yaml.safe_load((repo / "resources/datasets.yaml").read_text())
    adata = load_dataset("pbmc68k", registry["pbmc68k"], None, min_cells_per_class=5)
    pre = preprocess(adata, PreprocessSpec(label_key="bulk_labels"), seed=0)
    data = split_data(pre)
    seed_everything(0, threads=2)
    model = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, len(data.class_names),
                             Architecture(), TrainSpec(), 0, torch.device("cpu")).model
    cfg = config["interpretability"]
    importances = explain_model(model, data, cfg["methods"], explain_params(config), cfg["cells_per_class"],
                                cfg["background_cells"], seed=0)
    return consensus(importances, cfg["top_n"])[1]


def test_pbmc68k_consensus_recovers_known_markers(repo, ranked):
    sets = read_gmt(repo / "resources/genesets/pbmc_markers.gmt")
    found = {}
    for cls, (set_name, minimum) in EXPECTED.items():
        top = set(ranked[(ranked["class"] == cls) & (ranked["rank"] <= 20)]["gene"])
        found[cls] = sorted(top & set(sets[set_name][1]))
        assert len(found[cls]) >= minimum, (cls, found[cls])
    print("markers in the consensus top 20:", found)
    assert np.isin(["NKG7", "GNLY"], found["CD56+ NK"]).any()
