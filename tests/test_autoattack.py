"""The strong robustness evaluation (advinterp.autoattack) and its sanity checks (advinterp.attack_sanity)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from toy import toy

from advinterp.attack_sanity import (
    CHECKS,
    SANITY_COLUMNS,
    check_converged,
    check_monotone,
    check_whitebox_le_transfer,
    sanity_checks,
)
from advinterp.attacks import pgd
from advinterp.autoattack import apgd, dlr_loss, evaluate, margin_loss, square
from advinterp.model import predict
from advinterp.specs import EvaluationSpec, SanitySpec

CPU = torch.device("cpu")
QUICK = EvaluationSpec(attacks=("apgd_ce", "apgd_dlr", "square"), n_iter=20, square_queries=200)


class Saturated(nn.Module):
    """The toy classifier with its logits multiplied by 1e4: softmax saturates, so the cross-entropy
    gradient of every correctly classified cell is exactly zero in float32 (what stopped our PGD)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return 1e4 * self.model(x)


class Step(nn.Module):
    """Input rounded to whole numbers first: the gradient is zero everywhere (masked), the function is not."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x))


def test_losses():
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 1.0, 0.5]])
    y = torch.tensor([0, 0])
    assert margin_loss(logits, y).tolist() == [-2.0, 2.0]
    # DLR is invariant to the logits' scale and shift
    assert torch.allclose(dlr_loss(logits, y), dlr_loss(1e3 * logits + 7, y))
    assert dlr_loss(logits, y)[0] == pytest.approx(-2.0 / 3.0)


def test_saturated_softmax_fools_paper_pgd_but_not_the_strong_evaluation():
    model, data = toy()
    sat = Saturated(model).eval()
    x, y = data.x_test, data.y_test
    clean = (predict(sat, x, CPU) == y).mean()
    eps = 3.0
    # the standard model itself is broken at this epsilon: the cells can be moved across the boundary
    assert (predict(model, pgd(model, x, y, eps), CPU) == y).mean() < 0.1
    # our PGD (cross-entropy) does not move at all: it over-reports robustness
    assert (predict(sat, pgd(sat, x, y, eps), CPU) == y).mean() == clean > 0.9
    result = evaluate(sat, x, y, eps, QUICK, seed=0)
    assert result.accuracy < 0.1
    assert result.counts()["apgd_dlr"] > 0  # the scale-invariant loss did it


def test_masked_gradients_are_caught_by_square_and_flagged():
    model, data = toy()
    step = Step(model).eval()
    x, y = data.x_test, data.y_test
    eps = 3.0
    _, fooled_grad = apgd(step, x, y, eps, n_iter=20, loss="dlr")
    _, fooled_square = square(step, x, y, eps, n_queries=300, seed=0)
    assert fooled_square.mean() > fooled_grad.mean() + 0.3
    table, curves = sanity_checks({"step": step}, model, x, y, [0.0, 1.0, eps], {"step": eps}, QUICK,
                                  SanitySpec(large_epsilon=10.0), seed=0)
    assert list(table.columns) == SANITY_COLUMNS and table["check"].tolist() == list(CHECKS)
    passed = table.set_index("check")["passed"]
    assert not passed["gradient_free_not_stronger"]
    assert set(curves["epsilon"]) == {0.0, 1.0, eps}


def surrogate_model():
    """The toy's architecture trained from another seed: an independent surrogate for transfer."""
    from toy import blobs

    from advinterp.model import train_classifier
    from advinterp.specs import Architecture, TrainSpec

    xtr, ytr, xte, yte = blobs()
    return train_classifier(xtr, ytr, xte, yte, 3, Architecture(hidden=(32, 16), dropout=(0.1, 0.0)),
                            TrainSpec(epochs=20, batch_size=32), seed=5, device=CPU).model


def test_honest_model_passes_the_sanity_checks():
    model, data = toy()
    x, y = data.x_test, data.y_test
    table, curves = sanity_checks({"standard": model}, surrogate_model(), x, y, [0.0, 0.5, 1.0, 2.0],
                                  {"standard": 1.25}, QUICK, SanitySpec(), seed=0)
    assert table["passed"].all(), table.to_string()
    acc = curves.set_index("epsilon")["accuracy"]
    assert acc[0.0] == (predict(model, x, CPU) == y).mean() and acc[2.0] <= acc[0.5]


def test_checks_can_fail():
    assert not check_converged(0.50, 0.40, 0.01) and check_converged(0.50, 0.495, 0.01)
    assert not check_whitebox_le_transfer(0.50, 0.30, 0.01) and check_whitebox_le_transfer(0.30, 0.50, 0.01)

    class Constant(nn.Module):
        """Always predicts class 0, whatever the input: no attack can change it."""

        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.tensor([1.0, 0.0, 0.0]))

        def forward(self, x):
            return self.bias.expand(len(x), 3) + 0 * x[:, :1]

    model, data = toy()
    table, _ = sanity_checks({"constant": Constant()}, model, data.x_test, data.y_test, [0.0, 1.0], {"constant": 1.0},
                             QUICK, SanitySpec(), seed=0)
    passed = table.set_index("check")["passed"]
    assert not passed["zero_at_large_epsilon"] and passed["monotone_in_epsilon"]


def test_monotone_check_flags_a_rising_curve():
    ok, detail = check_monotone(pd.Series({0.0: 0.9, 0.5: 0.1, 1.0: 0.4, 2.0: 0.0}), tolerance=0.01, n=100)
    assert not ok and "0.5 -> 1 rises by 0.300" in detail
    assert check_monotone(pd.Series({0.0: 0.9, 0.5: 0.1, 1.0: 0.1, 2.0: 0.0}), 0.01, 100)[0]
    # a rise of one cell is within the slack
    assert check_monotone(pd.Series({0.0: 0.5, 1.0: 0.51}), 0.0, 100)[0]


def test_evaluation_is_worst_case_deterministic_and_labelled():
    model, data = toy()
    x, y = data.x_test, data.y_test
    a = evaluate(model, x, y, 1.0, QUICK, seed=4)
    b = evaluate(model, x, y, 1.0, QUICK, seed=4)
    assert (a.broken_by == b.broken_by).all() and torch.equal(a.x_adv, b.x_adv)
    assert set(a.broken_by) <= {"", "clean", "apgd_ce", "apgd_dlr", "square"}
    # every cell counted broken is misclassified on the returned point, and stays in the ball
    wrong = predict(model, a.x_adv, CPU) != y
    assert (wrong == (a.broken_by != "")).all()
    assert float((a.x_adv - torch.as_tensor(x)).abs().max()) <= 1.0 + 1e-5
    # worst case per cell: not above any single attack run alone
    for name in QUICK.attacks:
        alone = evaluate(model, x, y, 1.0, EvaluationSpec(attacks=(name,), n_iter=20, square_queries=200), seed=4)
        assert a.accuracy <= alone.accuracy
    assert a.accuracy_after("square") == a.accuracy <= a.accuracy_after("apgd_ce")
    assert evaluate(model, x, y, 0.0, QUICK).accuracy == a.clean_accuracy


def test_results_do_not_depend_on_the_batch_size():
    model, data = toy()
    x, y = data.x_test, data.y_test
    small = EvaluationSpec(attacks=("apgd_ce", "apgd_dlr", "square"), n_iter=20, square_queries=200, n_restarts=2,
                           batch_size=7)
    a = evaluate(model, x, y, 1.25, small, seed=1)
    b = evaluate(model, x, y, 1.25, EvaluationSpec(**{**small.__dict__, "batch_size": 4096}), seed=1)
    assert (a.broken_by == b.broken_by).all() and torch.allclose(a.x_adv, b.x_adv)
    sa, _ = square(model, x, y, 1.25, n_queries=100, seed=2, batch_size=5)
    sb, _ = square(model, x, y, 1.25, n_queries=100, seed=2, batch_size=4096)
    assert torch.equal(sa, sb)
    pa = pgd(model, x, y, 1.25, steps=3, restarts=3, batch_size=5)
    pb = pgd(model, x, y, 1.25, steps=3, restarts=3, batch_size=4096)
    assert torch.allclose(pa, pb)


def test_counts_without_the_attacked_cells_are_the_same():
    """keep_cells=False (the sanity checks, the regime metrics) drops the attacked cells, not a count."""
    from advinterp.attacks import fgsm

    model, data = toy()
    x, y = data.x_test, data.y_test
    spec = EvaluationSpec(attacks=("apgd_ce", "apgd_t", "square"), n_iter=10, n_target_classes=2, square_queries=50,
                          batch_size=5)
    kept = evaluate(model, x, y, 1.0, spec, seed=2)
    bare = evaluate(model, x, y, 1.0, spec, seed=2, keep_cells=False)
    assert bare.x_adv is None and kept.x_adv is not None
    assert (kept.broken_by == bare.broken_by).all() and kept.counts() == bare.counts()
    other = fgsm(model, x, y, 1.0)
    folded, folded_bare = kept.fold(model, "fgsm", other, y), bare.fold(model, "fgsm", other, y)
    assert folded_bare.x_adv is None and (folded.broken_by == folded_bare.broken_by).all()


def test_apgd_pushes_the_cells_it_cannot_flip_and_fold_takes_the_worst_case():
    from advinterp.attacks import fgsm

    model, data = toy()
    x, y = data.x_test, data.y_test
    x_adv, fooled = apgd(model, x, y, 1.0, n_iter=20)
    assert (~fooled).any()
    moved = (x_adv - torch.as_tensor(x)).abs().amax(1)
    assert (moved[torch.as_tensor(~fooled)] > 0.5).all()  # not left at the clean cell (training needs them)
    loss = torch.nn.functional.cross_entropy
    yt = torch.as_tensor(y)
    with torch.no_grad():
        assert loss(model(x_adv), yt) > loss(model(torch.as_tensor(x)), yt)
    # fold: a cell counts as broken if either evaluation broke it
    r = evaluate(model, x, y, 1.0, EvaluationSpec(attacks=("apgd_ce",), n_iter=2), seed=0)
    other = fgsm(model, x, y, 1.0)
    folded = r.fold(model, "fgsm", other, y)
    wrong_other = predict(model, other, CPU) != y
    assert (folded.broken_by != "").tolist() == ((r.broken_by != "") | wrong_other).tolist()
    assert folded.accuracy <= min(r.accuracy, 1 - wrong_other.mean())
    assert (predict(model, folded.x_adv, CPU) != y).tolist() == (folded.broken_by != "").tolist()


def test_targeted_apgd_runs_for_every_target():
    model, data = toy()
    spec = EvaluationSpec(attacks=("apgd_t",), n_iter=20, n_target_classes=2)
    r = evaluate(model, data.x_test, data.y_test, 1.0, spec)
    assert r.accuracy < r.clean_accuracy


def test_pgd_restarts_and_margin_loss_only_add_strength():
    model, data = toy()
    x, y = data.x_test, data.y_test
    one = (predict(model, pgd(model, x, y, 0.5, steps=5), CPU) == y).mean()
    more = (predict(model, pgd(model, x, y, 0.5, steps=5, restarts=3), CPU) == y).mean()
    assert more <= one
    cw = pgd(model, x, y, 1.5, steps=5, loss="margin")
    assert float((cw - torch.as_tensor(x)).abs().max()) <= 1.5 + 1e-6
    assert (predict(model, cw, CPU) == y).mean() < (predict(model, x, CPU) == y).mean()


def test_at_least_as_strong_as_art_apgd():
    art = pytest.importorskip("art")  # test dependency: adversarial-robustness-toolbox
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    model, data = toy()
    x, y = data.x_train, data.y_train  # 144 cells
    eps = 1.5  # where robust accuracy is neither 0 nor 1, so the comparison means something
    clf = PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), input_shape=(x.shape[1],), nb_classes=3,
                            clip_values=(float(x.min()) - 10, float(x.max()) + 10), device_type="cpu")
    np.random.seed(0)
    for loss, art_loss in (("ce", "cross_entropy"), ("dlr", "difference_logits_ratio")):
        ref = AutoProjectedGradientDescent(clf, eps=eps, eps_step=2 * eps, max_iter=100, nb_random_init=1,
                                           batch_size=len(x), loss_type=art_loss, verbose=False).generate(x, y=y)
        art_acc = (predict(model, ref, CPU) == y).mean()
        _, fooled = apgd(model, x, y, eps, n_iter=100, loss=loss)
        assert 0.1 < art_acc < 0.9
        # equal strength up to the random start: within 3 of 144 cells (seeds 0 and 1 differ by up to 4)
        assert 1 - fooled.mean() <= art_acc + 3 / len(y), loss
    assert art.__version__ == "1.20.1"


def test_apgd_trains_adversarial_models_and_is_a_regime():
    from advinterp.adversarial import adversarial_train, whitebox_accuracy
    from advinterp.attacks import attack
    from advinterp.specs import ATTACKS, REGIMES, AdversarialTrainingSpec, AttackSpec, TrainSpec

    assert "apgd" in ATTACKS and "adv_apgd" in REGIMES
    model, data = toy()
    x = torch.as_tensor(data.x_test)
    out = attack("apgd", model, x, torch.as_tensor(data.y_test), 1.0, AttackSpec(pgd_steps=5))
    assert out.device == x.device and float((out - x).abs().max()) <= 1.0 + 1e-5
    spec = AdversarialTrainingSpec(mode="dynamic", epochs=6, pgd_steps=3)
    res = adversarial_train(model, data.x_train, data.y_train, data.x_test, data.y_test, "apgd", 1.0, spec,
                            AttackSpec(), TrainSpec(epochs=6, batch_size=32), 0, CPU)
    before = whitebox_accuracy(model, data.x_test, data.y_test, "apgd", 1.0, AttackSpec(), CPU)
    after = whitebox_accuracy(res.model, data.x_test, data.y_test, "apgd", 1.0, AttackSpec(), CPU)
    assert after > before


def test_schema_lists_the_attacks_and_regimes(repo):
    import yaml

    from advinterp.specs import ATTACKS, REGIMES

    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    assert schema["robustness"]["properties"]["attacks"]["items"]["enum"] == list(ATTACKS)
    assert set(schema["robustness"]["properties"]["epsilon"]["properties"]) == set(ATTACKS)
    assert schema["interpretability"]["properties"]["regimes"]["items"]["enum"] == list(REGIMES)
    assert schema["biology"]["properties"]["regime"]["enum"] == list(REGIMES)
    assert schema["explanation_checks"]["properties"]["label_randomisation"]["items"]["enum"] == list(REGIMES)
