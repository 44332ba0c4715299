import numpy as np
import pytest
import torch
from toy import toy

from advinterp.adversarial import adversarial_train, regime_metrics, train_adversarial_regime, whitebox_accuracy
from advinterp.autoattack import evaluate
from advinterp.model import predict
from advinterp.robustness import (
    IMBALANCE_COLUMNS,
    PRESERVATION_COLUMNS,
    SWEEP_COLUMNS,
    epsilon_sweep,
    imbalance_experiment,
    imbalanced_training_mask,
    neighbour_preservation,
    preservation_table,
)
from advinterp.specs import AdversarialTrainingSpec, Architecture, AttackSpec, EvaluationSpec, TrainSpec

CPU = torch.device("cpu")
FAST = TrainSpec(epochs=10, batch_size=32)
QUICK = EvaluationSpec(attacks=("apgd_ce", "apgd_dlr", "square"), n_iter=10, square_queries=50)


def test_preservation_identity_and_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10))
    assert neighbour_preservation(x, x.copy(), k=15) == 1.0
    noisy = x + rng.normal(scale=1e4, size=x.shape)
    chance = 15 / 299
    assert neighbour_preservation(x, noisy, k=15) < 3 * chance
    assert neighbour_preservation(x, x + rng.normal(scale=0.01, size=x.shape), k=15) > 0.9


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_adversarial_training_modes(mode):
    model, data = toy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = AdversarialTrainingSpec(mode=mode, epochs=8, pgd_steps=3)
    res = adversarial_train(model, data.x_train, data.y_train, data.x_test, data.y_test, "pgd", 1.0, spec,
                            AttackSpec(), FAST, seed=0, device=CPU)
    for k, v in model.state_dict().items():  # the standard model is left untouched
        assert torch.equal(v, before[k])
    assert len(res.history) == 8
    n = len(data.x_train)
    assert res.extra["n_train_adversarial"] == (n if mode == "static" else 8 * (n - n // 2))
    # training against the attack makes the model more robust to it, white-box
    std = whitebox_accuracy(model, data.x_test, data.y_test, "pgd", 1.0, AttackSpec(), CPU)
    adv = whitebox_accuracy(res.model, data.x_test, data.y_test, "pgd", 1.0, AttackSpec(), CPU)
    assert adv > std


def test_regime_metrics_are_whitebox():
    model, data = toy()
    spec = AdversarialTrainingSpec(mode="dynamic", epochs=5, pgd_steps=2)
    res, training = train_adversarial_regime(model, data, "fgsm", 1.25, spec, AttackSpec(), FAST, 0, CPU)
    assert set(training) == {"accuracy", "macro_f1", "per_class_f1", "n_train", "n_test", "device", "seconds",
                             "attack", "epsilon", "mode"}
    m = regime_metrics(model, res.model, data, training, AttackSpec(), QUICK, 0, CPU)
    assert {"whitebox_accuracy", "transfer_accuracy", "autoattack_accuracy", "autoattack_broken_by",
            "evaluation_attacks", "standard_whitebox_accuracy", "standard_autoattack_accuracy"} <= set(m)
    assert training.items() <= m.items()
    strong = evaluate(res.model, data.x_test, data.y_test, 1.25, QUICK, 0)
    # robust accuracy: the worst case per cell over the strong evaluation and the regime's own attack
    assert m["autoattack_accuracy"] <= min(strong.accuracy, m["whitebox_accuracy"])
    broken = m["autoattack_broken_by"]
    assert sum(broken.values()) == round((1 - m["autoattack_accuracy"]) * len(data.y_test))
    assert set(broken) == {"clean", "apgd_ce", "apgd_dlr", "square", "fgsm"}
    assert m["whitebox_accuracy"] == pytest.approx(
        whitebox_accuracy(res.model, data.x_test, data.y_test, "fgsm", 1.25, AttackSpec(), CPU))
    assert m["accuracy"] == pytest.approx((predict(res.model, data.x_test, CPU) == data.y_test).mean())


def test_sweep_schema():
    model, data = toy()
    table = epsilon_sweep(model, data, "fgsm", [0.0, 1.5], [1.5], AdversarialTrainingSpec(epochs=3),
                          AttackSpec(), FAST, seed=3, device=CPU, eval_spec=QUICK)
    assert list(table.columns) == SWEEP_COLUMNS
    assert set(table["model"]) == {"standard", "adversarial"}
    assert set(table["evaluation"]) == {"clean", "whitebox", "transfer", "autoattack"}
    # the strong evaluation is never weaker than the attack it is compared with
    acc = table.set_index(["model", "epsilon", "evaluation"])["accuracy"]
    for model_name, eps in (("standard", 1.5), ("adversarial", 1.5)):
        assert acc[(model_name, eps, "autoattack")] <= acc[(model_name, eps, "whitebox")]
    assert set(table.loc[table["model"] == "adversarial", "epsilon"]) == {1.5}
    assert (table["seed"] == 3).all() and table["accuracy"].between(0, 1).all()
    std = table[table["model"] == "standard"].set_index(["epsilon", "evaluation"])["accuracy"]
    assert std[(0.0, "whitebox")] == std[(0.0, "clean")]  # ε = 0 is no attack
    assert std[(1.5, "whitebox")] < std[(1.5, "clean")]


def test_preservation_table_schema():
    model, data = toy()
    x_all = np.concatenate([data.x_train, data.x_test])
    table = preservation_table(model, x_all, data, ["fgsm", "pgd"], [0.0, 1.5, 5.0], AttackSpec(), 5, 10, 0, CPU)
    assert list(table.columns) == PRESERVATION_COLUMNS
    assert len(table) == 2 * 2 * 3
    assert (table.loc[table["epsilon"] == 0, "preservation"] == 1.0).all()
    adv = table[(table["attack"] == "pgd") & (table["perturbation"] == "adversarial")].set_index("epsilon")
    assert adv.loc[5.0, "preservation"] < adv.loc[1.5, "preservation"]
    assert adv.loc[1.5, "accuracy_drop"] > 0


def test_imbalance_mask_and_experiment():
    _, data = toy()
    keep, fractions = imbalanced_training_mask(data.y_train, 2, (0.75, 0.85), seed=1)
    assert len(fractions) == 2
    for c, f in fractions.items():
        n = (data.y_train == c).sum()
        assert 0.75 <= f <= 0.85
        assert (data.y_train[keep] == c).sum() == n - round(f * n)
    table, dropped = imbalance_experiment(data, {"fgsm": 0.5, "pgd": 0.5}, 1, (0.8, 0.8), Architecture(
        hidden=(16,), dropout=(0.0,)), FAST, AdversarialTrainingSpec(epochs=3, pgd_steps=2), AttackSpec(), 0, CPU,
        QUICK)
    assert list(table.columns) == IMBALANCE_COLUMNS
    assert set(table["model"]) == {"standard", "adv_fgsm", "adv_pgd"}
    assert set(table["evaluation"]) == {"clean", "whitebox", "autoattack"}
    assert set(table.loc[table["evaluation"] != "clean", "attack"]) == {"fgsm", "pgd"}
    assert len(table) == 3 * 3 * 5 and len(dropped) == 1
    thinned = table.loc[table["class"] == next(iter(dropped)), "n_train"].iloc[0]
    assert thinned < table["n_train"].max()
