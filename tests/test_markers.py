"""Biology check on the embedded real dataset: pbmc68k's consensus genes include known markers.

The check is made on the model whose consensus the biology arm reports (``biology.regime``,
adv_fgsm: adversarially trained at the epsilon the selection rule picks), as the workflow does.
The standard model's monocyte and B-cell markers were a knife edge: one machine's standard model
had 1 and 2 of them in its top 20, another's (same code, other floating-point reductions) none,
so for the standard model only the NK markers (9 of them either way) are checked.

Runs the workflow's library steps on scanpy's pbmc68k (paper preprocessing, the default MLP,
the six explainers with the default config's parameters, consensus of the top 20) for the
standard model, and counts each class's known markers (workflow/resources/genesets/pbmc_markers.gmt)
among its consensus top 20. A random top 20 of the 724 genes would hold one of a class's
markers with probability ~0.15-0.3; the thresholds below are well above that.
"""

import numpy as np
import pytest
import torch
import yaml

from advinterp.adversarial import adversarial_train
from advinterp.config import explain_params
from advinterp.consensus import consensus
from advinterp.datasets import load_dataset
from advinterp.device import seed_everything
from advinterp.enrichment import read_gmt
from advinterp.explain import explain_model
from advinterp.model import split_data, train_classifier
from advinterp.preprocess import preprocess
from advinterp.robustness import preservation_table
from advinterp.robustness_tables import select_epsilon
from advinterp.specs import AdversarialTrainingSpec, Architecture, AttackSpec, PreprocessSpec, TrainSpec
from advinterp.store import zscored

# class → its marker set in the shipped GMT, and how many of its markers must be in its top 20
EXPECTED = {"CD14+ Monocyte": ("PBMC_CLASSICAL_MONOCYTE", 1), "CD19+ B": ("PBMC_B_CELL", 1),
            "CD56+ NK": ("PBMC_NK_CELL", 3)}


@pytest.fixture(scope="module")
def ranked(repo):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    registry = yaml.safe_load((repo / "workflow/resources/datasets.yaml").read_text())
    adata = load_dataset("pbmc68k", registry["pbmc68k"], None, min_cells_per_class=5)
    pre = preprocess(adata, PreprocessSpec(label_key="bulk_labels"), seed=0)
    data = split_data(pre)
    seed_everything(0, threads=2)
    cpu = torch.device("cpu")
    model = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, len(data.class_names),
                             Architecture(), TrainSpec(), 0, cpu).model
    # the biology arm's regime, as the workflow makes it: epsilon by the selection rule, then adversarial training
    assert config["biology"]["regime"] == "adv_fgsm"
    rob = config["robustness"]
    table = preservation_table(model, np.asarray(zscored(pre)), data, ["fgsm"], rob["epsilons"],
                               AttackSpec.from_config(config["attacks"]),
                               rob["neighbours"], rob["n_pcs"], 0, cpu)
    eps = select_epsilon(table, "fgsm", rob["min_neighbour_preservation"], rob["min_accuracy_drop"])["epsilon"]
    adv = adversarial_train(model, data.x_train, data.y_train, data.x_test, data.y_test, "fgsm", eps,
                            AdversarialTrainingSpec.from_config(config["adversarial_training"]),
                            AttackSpec.from_config(config["attacks"]), TrainSpec.from_config(config["training"]), 0,
                            cpu).model
    cfg = config["interpretability"]
    ranked = {}
    for regime, m in (("standard", model), ("adv_fgsm", adv)):
        importances = explain_model(m, data, cfg["methods"], explain_params(config), cfg["cells_per_class"],
                                    cfg["background_cells"], seed=0)
        ranked[regime] = consensus(importances, cfg["top_n"])[1]
    return ranked


def markers_in_top(ranked, sets, cls, set_name, n=20):
    top = set(ranked[(ranked["class"] == cls) & (ranked["rank"] <= n)]["gene"])
    return sorted(top & set(sets[set_name][1]))


def test_pbmc68k_consensus_recovers_known_markers(repo, ranked):
    sets = read_gmt(repo / "workflow/resources/genesets/pbmc_markers.gmt")
    found = {cls: markers_in_top(ranked["adv_fgsm"], sets, cls, set_name) for cls, (set_name, _) in EXPECTED.items()}
    print("markers in the adv_fgsm consensus top 20:", found)
    for cls, (_, minimum) in EXPECTED.items():
        assert len(found[cls]) >= minimum, (cls, found[cls])
    assert np.isin(["NKG7", "GNLY"], found["CD56+ NK"]).any()
    nk = markers_in_top(ranked["standard"], sets, "CD56+ NK", EXPECTED["CD56+ NK"][0])
    assert len(nk) >= 3 and np.isin(["NKG7", "GNLY"], nk).any(), nk
