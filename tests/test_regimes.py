"""Koo et al. 2019's regimes on the cell-type classifier (issue #14, part A): names, networks, training,
the label-randomised counterparts and the regimes table."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from advinterp import regimes as regimes_module
from advinterp.explain_checks import label_randomised_model
from advinterp.keygenes import REGIMES_COLUMNS, recovery_table, regimes_table
from advinterp.model import MLP, load_model, predict, save_model, train_classifier
from advinterp.regimes import noise_train, train_regime
from advinterp.specs import (
    REGIMES,
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    NoiseTrainingSpec,
    RegularisationSpec,
    TrainSpec,
    base_regime,
    evaluation_epsilon,
    parse_regime,
    regime_attack,
    trained_here,
)
from tests.toy import toy

CPU = torch.device("cpu")
ARCH = Architecture(hidden=(32, 16), dropout=(0.1, 0.0))
SPEC = TrainSpec(epochs=15, batch_size=32)
REG = RegularisationSpec()
ADV = AdversarialTrainingSpec(mode="dynamic", epochs=3, pgd_steps=2)


@pytest.mark.parametrize(("name", "parsed", "attack", "base", "here"), [
    ("standard", ("standard", False), None, None, False),
    ("standard_reg", ("standard", True), None, None, True),
    ("noise", ("noise", False), None, "standard", True),
    ("noise_reg", ("noise", True), None, "standard_reg", True),
    ("adv_pgd", ("adv_pgd", False), "pgd", "standard", False),
    ("adv_fgsm_reg", ("adv_fgsm", True), "fgsm", "standard_reg", True),
])
def test_regime_names(name, parsed, attack, base, here):
    assert name in REGIMES
    assert parse_regime(name) == parsed
    assert regime_attack(name) == attack
    assert base_regime(name) == base
    assert trained_here(name) is here


def test_unknown_regime_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown regime 'adv_cw'"):
        parse_regime("adv_cw")
    with pytest.raises(ValueError, match="unknown regime 'standard_regularised'"):
        parse_regime("standard_regularised")


def test_evaluation_epsilon():
    selected = {"fgsm": {"epsilon": 0.25}, "pgd": {"epsilon": 0.1}}
    assert evaluation_epsilon("adv_fgsm_reg", selected) == 0.25
    assert evaluation_epsilon("adv_pgd", selected) == 0.1
    assert evaluation_epsilon("noise", selected) == evaluation_epsilon("standard_reg", selected) == 0.1


def test_regularised_network_has_batch_norm_and_dropout_on_every_hidden_layer(tmp_path):
    arch = REG.architecture(Architecture())
    assert arch.hidden == Architecture().hidden and arch.dropout == (0.2,) * 7 and arch.batch_norm
    model = MLP(50, 4, arch)
    kinds = [type(m) for m in model.net]
    assert kinds.count(nn.BatchNorm1d) == 7 and kinds.count(nn.Dropout) == 7 and kinds.count(nn.Linear) == 8
    # batch norm sits between each hidden linear map and its ReLU
    assert kinds[:4] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in MLP(50, 4, Architecture()).modules())
    # a saved regularised model comes back with its running statistics
    model.train()
    model(torch.randn(64, 50) + 3.0)
    model.eval()
    path = tmp_path / "reg.pt"
    save_model(path, model, 50, arch, list("abcd"), [f"g{i}" for i in range(50)])
    again, payload = load_model(path)
    x = torch.randn(5, 50)
    assert payload["architecture"]["batch_norm"] is True
    assert torch.equal(again(x), model(x))
    with pytest.raises(ValueError, match="regularisation.dropout"):
        RegularisationSpec(dropout=1.0)
    with pytest.raises(ValueError, match="noise_training.sigma"):
        NoiseTrainingSpec(sigma=0)


def test_standard_reg_learns_deterministically_and_uses_the_weight_decay():
    _, data = toy()
    first, metrics, arch = train_regime("standard_reg", data, ARCH, SPEC, REG, 0, CPU)
    again, _, _ = train_regime("standard_reg", data, ARCH, SPEC, REG, 0, CPU)
    assert arch.batch_norm and metrics["regime"] == "standard_reg" and metrics["regularised"]
    assert metrics["accuracy"] > 0.9 and metrics["weight_decay"] == REG.weight_decay
    assert all(torch.equal(v, again.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    # the weight decay reaches the optimiser: a strong one shrinks the weights
    strong, _, _ = train_regime("standard_reg", data, ARCH, SPEC, RegularisationSpec(weight_decay=0.5), 0, CPU)
    norm = lambda m: float(sum(p.detach().pow(2).sum() for n, p in m.named_parameters() if "weight" in n))  # noqa: E731
    assert norm(strong.model) < 0.7 * norm(first.model)


def test_noise_is_added_to_every_training_cell_at_sigma(monkeypatch):
    model, data = toy()
    seen = {}

    def fake_train(x_train, y_train, x_test, y_test, n_classes, arch, spec, seed, device, model, perturb):
        xb = torch.zeros(4000, 3)
        out, yb = perturb(model, xb, torch.zeros(4000), 0)
        seen.update(std=float(out.std()), mean=float(out.mean()), epochs=spec.epochs, same=model is not None)
        return None

    monkeypatch.setattr(regimes_module, "train_classifier", fake_train)
    noise_train(model, data, 0.3, 7, SPEC, 0, CPU)
    assert seen["std"] == pytest.approx(0.3, rel=0.05) and abs(seen["mean"]) < 0.02 and seen["epochs"] == 7


def test_noise_regime_continues_a_copy_of_the_standard_model():
    standard, data = toy()
    before = copy.deepcopy(standard.state_dict())
    noisy, metrics, arch = train_regime("noise", data, ARCH, SPEC, REG, 0, CPU, base=standard,
                                        noise=NoiseTrainingSpec(sigma=1.0), adv_spec=ADV)
    assert all(torch.equal(v, standard.state_dict()[k]) for k, v in before.items())  # base untouched
    assert metrics["sigma"] == 1.0 and metrics["epochs"] == ADV.epochs and not metrics["regularised"]
    assert arch == ARCH and len(noisy.history) == ADV.epochs
    # the same continued training without noise ends elsewhere
    clean = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, 3, None,
                             TrainSpec(epochs=ADV.epochs, batch_size=32), 0, CPU, model=copy.deepcopy(standard))
    assert not torch.equal(noisy.model.net[0].weight, clean.model.net[0].weight)
    assert (predict(noisy.model, data.x_test, CPU) == data.y_test).mean() > 0.9


def test_adversarial_regularised_regime_continues_standard_reg():
    _, data = toy()
    base, _, _ = train_regime("standard_reg", data, ARCH, SPEC, REG, 0, CPU)
    result, metrics, arch = train_regime("adv_fgsm_reg", data, ARCH, SPEC, REG, 0, CPU, base=base.model,
                                         adv_spec=ADV, attack_spec=AttackSpec(), epsilon=0.2)
    assert arch.batch_norm and metrics["attack"] == "fgsm" and metrics["epsilon"] == 0.2
    assert metrics["regime"] == "adv_fgsm_reg" and metrics["weight_decay"] == REG.weight_decay
    assert any(isinstance(m, nn.BatchNorm1d) for m in result.model.modules())
    with pytest.raises(ValueError, match=r"needs \['epsilon'\]"):
        train_regime("adv_fgsm_reg", data, ARCH, SPEC, REG, 0, CPU, base=base.model, adv_spec=ADV,
                     attack_spec=AttackSpec())
    with pytest.raises(ValueError, match="rule train_standard or train_adversarial"):
        train_regime("adv_fgsm", data, ARCH, SPEC, REG, 0, CPU)


def test_label_randomised_noise_reg_continues_the_shuffled_standard_reg():
    _, data = toy()
    shuffled_base, _ = label_randomised_model(data, "standard_reg", ARCH, SPEC, 0, CPU, regularisation=REG)
    assert any(isinstance(m, nn.BatchNorm1d) for m in shuffled_base.modules())
    model, history = label_randomised_model(data, "noise_reg", ARCH, SPEC, 0, CPU, regularisation=REG,
                                            noise=NoiseTrainingSpec(), adv_spec=ADV, standard=shuffled_base)
    assert history["test_accuracy"].iloc[-1] < 0.6  # learned nothing about the classes
    with pytest.raises(ValueError, match="needs the label-randomised standard_reg model"):
        label_randomised_model(data, "noise_reg", ARCH, SPEC, 0, CPU, regularisation=REG)


def test_extra_methods_do_not_vote_in_the_consensus():
    genes = pd.Index(["g1", "g2", "g3", "g4"], name="gene")
    voters = {"m1": pd.DataFrame({"A": [4, 3, 2, 1]}, index=genes, dtype=float),
              "m2": pd.DataFrame({"A": [4, 1, 3, 2]}, index=genes, dtype=float)}
    # voters alone: g1 2 votes, then g3 (better mean rank than g2); x's votes would lift g2 instead
    extra = {"x": pd.DataFrame({"A": [1, 4, 2, 3]}, index=genes, dtype=float)}
    key_all = pd.Series([False, False, True, True], index=genes)
    key_class = pd.DataFrame({"A": [False, False, True, True]}, index=genes)
    t_stat = pd.DataFrame({"A": [1.0, 2, 3, 4]}, index=genes)
    args = key_all, key_class, t_stat, 2, 0
    with_extra = recovery_table({("standard", 0): {**voters, **extra}}, *args, voters=["m1", "m2"])
    without = recovery_table({("standard", 0): voters}, *args)
    everyone = recovery_table({("standard", 0): {**voters, **extra}}, *args)
    consensus = lambda t: t[t["method"] == "consensus"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(consensus(with_extra), consensus(without))
    assert not consensus(everyone).equals(consensus(without))  # x would have changed it
    assert (with_extra["method"] == "x").sum() == 2  # but x is scored


def test_regimes_table_by_hand():
    rows = []
    for regime, seed, cls, auroc, auprc in [("standard", 0, "A", 0.6, 0.2), ("standard", 0, "B", 0.8, 0.4),
                                            ("standard", 1, "A", 0.7, 0.3), ("standard", 1, "B", 0.9, 0.5),
                                            ("noise_reg", 0, "A", 0.5, 0.1), ("noise_reg", 0, "B", 0.5, 0.1),
                                            ("baseline", 0, "A", 0.55, 0.15), ("baseline", 0, "B", 0.65, 0.25)]:
        for truth in ("class_mr", "all_mr"):
            rows.append({"regime": regime, "model": "none" if regime == "baseline" else "mlp",
                         "method": "t_statistic" if regime == "baseline" else "saliency",
                         "ground_truth": truth, "class": cls, "seed": seed,
                         "auroc": auroc if truth == "class_mr" else 0.0, "auprc": auprc})
    recovery = pd.DataFrame(rows)
    table = regimes_table(recovery, {("standard", 0): 0.9, ("standard", 1): 0.8, ("noise_reg", 0): 0.7})
    assert list(table.columns) == REGIMES_COLUMNS
    row = table.set_index("regime")
    assert row.loc["standard", "auroc_mean"] == pytest.approx(0.75)  # class_mr rows only
    assert row.loc["standard", "auroc_sd"] == pytest.approx(np.std([0.6, 0.8, 0.7, 0.9], ddof=1))
    assert row.loc["standard", "auprc_mean"] == pytest.approx(0.35)
    assert row.loc["standard", "accuracy"] == pytest.approx(0.85) and row.loc["standard", "n_seeds"] == 2
    assert row.loc["noise_reg", "regularised"] and not row.loc["standard", "regularised"]
    assert row.loc["noise_reg", "auroc_sd"] == 0 and row.loc["noise_reg", "n_seeds"] == 1
    assert np.isnan(row.loc["baseline", "accuracy"]) and row.loc["baseline", "method"] == "t_statistic"
    assert row.loc["standard", "model"] == "mlp" and row.loc["baseline", "model"] == "none"
    with pytest.raises(ValueError, match=r"regime 'standard' for seeds \[1\]"):
        regimes_table(recovery, {("standard", 0): 0.9, ("noise_reg", 0): 0.7})
