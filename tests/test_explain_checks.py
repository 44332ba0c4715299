import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn
from toy import toy

from advinterp.explain import REGISTRY, Explainer, make_explainer
from advinterp.explain_checks import (
    CHECK_COLUMNS,
    TABLE_COLUMNS,
    cascade_levels,
    deletion_insertion_auc,
    evaluate_explanations,
    explained_cells,
    label_randomised_model,
    label_randomised_training,
    max_sensitivity,
    n_linear_layers,
    randomisation_check,
    randomise_layers,
    shuffled_labels,
    spearman_similarity,
)
from advinterp.model import MLP, train_classifier
from advinterp.specs import AdversarialTrainingSpec, Architecture, AttackSpec, TrainSpec

TOY_ARCH = Architecture(hidden=(32, 16), dropout=(0.1, 0.0))
TOY_SPEC = TrainSpec(epochs=20, batch_size=32)
CPU = torch.device("cpu")
METRICS = {"randomisation_cascade_1", "randomisation_cascade_2", "randomisation_cascade_3", "randomisation_labels",
           "deletion_auc", "insertion_auc", "max_sensitivity"}


class Constant(Explainer):
    """Test-only: the same vector for every cell and every model (ignores model and input)."""

    name = "constant"

    def attribute(self, model, inputs, target, background, seed=0):
        return np.tile(np.linspace(1.0, -2.0, inputs.shape[1]), (len(inputs), 1))


class InputMagnitude(Explainer):
    """Test-only: |x|, a pure function of the input (Adebayo's "edge detector")."""

    name = "input_magnitude"

    def attribute(self, model, inputs, target, background, seed=0):
        return inputs.abs().numpy()


def run(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_explanations(*args, **kwargs)


@pytest.fixture(scope="module")
def table():
    model, data = toy()
    shuffled = label_randomised_training(data, TOY_ARCH, TOY_SPEC, seed=0, device=CPU).model
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(REGISTRY, "constant", Constant)
        mp.setitem(REGISTRY, "input_magnitude", InputMagnitude)
        out = run(model, shuffled, data, "standard", ["saliency", "constant", "input_magnitude"], {},
                  cells_per_class=5, background_cells=20, seed=0, sensitivity_radius=0.1, sensitivity_samples=5,
                  steps=10)
    return out


def value(table, method, metric):
    return table.loc[(table["method"] == method) & (table["metric"] == metric), "value"].item()


# (f) the table
def test_table_has_the_columns_and_one_row_per_method_and_metric(table):
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 3 * len(METRICS)
    assert not table.duplicated(["method", "metric"]).any()
    for method in ("saliency", "constant", "input_magnitude"):
        assert set(table.loc[table["method"] == method, "metric"]) == METRICS
    assert (table["regime"] == "standard").all() and (table["seed"] == 0).all()
    assert np.isfinite(table["value"].to_numpy(dtype=float)).all()


# (a) randomising the model changes saliency
def test_saliency_changes_when_the_model_is_randomised_and_passes(table):
    assert value(table, "saliency", "randomisation_cascade_3") < 0.5
    assert value(table, "saliency", "randomisation_labels") < 0.5
    checks = randomisation_check(table)
    assert list(checks.columns) == CHECK_COLUMNS
    saliency = checks[checks["method"] == "saliency"].set_index("check")
    assert set(saliency.index) == {"model_randomisation", "label_randomisation"}
    assert saliency["passed"].all()
    assert "top 3 Linear layers" in saliency.loc["model_randomisation", "detail"]


# (b) explanations that do not depend on the model fail
@pytest.mark.parametrize("method", ["constant", "input_magnitude"])
def test_explainers_blind_to_the_model_fail_the_randomisation_check(table, method):
    for k in (1, 2, 3):
        assert value(table, method, f"randomisation_cascade_{k}") == pytest.approx(1.0)
    checks = randomisation_check(table).set_index(["method", "check"])
    assert not checks.loc[(method, "model_randomisation"), "passed"]
    assert not checks.loc[(method, "label_randomisation"), "passed"]


def test_randomisation_check_uses_the_deepest_level_the_threshold_and_the_mean_over_seeds():
    rows = [("r", "m", "randomisation_cascade_1", 0.9, 0), ("r", "m", "randomisation_cascade_4", 0.45, 0),
            ("r", "m", "randomisation_cascade_4", 0.5, 1), ("r", "m", "randomisation_labels", 0.2, 0),
            ("r", "m", "deletion_auc", 0.9, 0)]
    checks = randomisation_check(pd.DataFrame(rows, columns=TABLE_COLUMNS)).set_index("check")
    assert checks.loc["model_randomisation", "passed"]  # mean 0.475 of the deepest level; level 1 ignored
    assert "0.475" in checks.loc["model_randomisation", "detail"] and "seeds 0,1" in \
        checks.loc["model_randomisation", "detail"]
    assert checks.loc["label_randomisation", "passed"]
    strict = randomisation_check(pd.DataFrame(rows, columns=TABLE_COLUMNS), threshold=0.2).set_index("check")
    assert not strict["passed"].any()  # 0.2 >= 0.2 fails


# (c) randomise_layers
def test_randomise_layers_is_seeded_and_touches_exactly_the_top_layers():
    model, _ = toy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert n_linear_layers(model) == 3
    linear = [f"net.{i}" for i, m in enumerate(model.net) if isinstance(m, nn.Linear)]
    for n_top in (0, 1, 2, 3):
        a, b = randomise_layers(model, n_top, seed=7), randomise_layers(model, n_top, seed=7)
        other = randomise_layers(model, n_top, seed=8)
        for i, name in enumerate(linear):
            for p in ("weight", "bias"):
                key = f"{name}.{p}"
                assert torch.equal(a.state_dict()[key], b.state_dict()[key])
                randomised = i >= len(linear) - n_top
                assert torch.equal(a.state_dict()[key], before[key]) is not randomised, (n_top, key)
                assert torch.equal(a.state_dict()[key], other.state_dict()[key]) is not randomised, (n_top, key)
    for k, v in model.state_dict().items():  # the model itself is untouched
        assert torch.equal(v, before[k])
    # cascade: a layer gets the same weights at every depth
    assert torch.equal(randomise_layers(model, 1, 3).net[-1].weight, randomise_layers(model, 3, 3).net[-1].weight)
    with pytest.raises(ValueError, match="n_top=4"):
        randomise_layers(model, 4, 0)


def test_randomise_layers_draws_from_the_default_linear_init():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    torch.manual_seed(11)
    fresh = nn.Linear(5, 3)  # reset_parameters from the global generator seeded with 11
    top = randomise_layers(model, 1, seed=11)[-1]
    assert torch.equal(top.weight, fresh.weight) and torch.equal(top.bias, fresh.bias)


def test_cascade_levels():
    assert cascade_levels(8) == [1, 4, 8]  # the paper's MLP: 7 hidden + output
    assert cascade_levels(3) == [1, 2, 3]
    assert cascade_levels(2) == [1, 2]
    assert cascade_levels(1) == [1]
    with pytest.raises(ValueError):
        cascade_levels(0)


def test_shuffled_labels_is_a_seeded_permuted_copy():
    y = np.repeat(np.arange(3), 10)
    s = shuffled_labels(y, 1)
    assert np.array_equal(np.sort(s), y) and not np.array_equal(s, y)
    assert np.array_equal(s, shuffled_labels(y, 1)) and not np.array_equal(s, shuffled_labels(y, 2))
    assert np.array_equal(y, np.repeat(np.arange(3), 10))


def test_spearman_similarity_is_mean_rowwise_spearman_of_absolute_values():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))
    b[:, :10] += 2 * np.abs(a[:, :10])
    expected = np.mean([spearmanr(np.abs(a[i]), np.abs(b[i])).statistic for i in range(5)])
    assert spearman_similarity(a, b) == pytest.approx(expected, abs=1e-12)
    assert spearman_similarity(a, -a) == pytest.approx(1.0)  # signs do not matter
    const = np.zeros((1, 20))
    assert spearman_similarity(const, const) == 1.0  # nothing ranked in either: the same explanation
    assert spearman_similarity(const, a[:1]) == 0.0
    with pytest.raises(ValueError):
        spearman_similarity(a, b[:, :5])


def test_explained_cells_are_those_of_the_interpretability_step(monkeypatch):
    import advinterp.explain
    from advinterp.explain import explain_model

    model, data = toy()
    seen = {}

    def recorder(name, params=None):
        def explain(m, x, t, background, seed):
            seen.update(x=x, t=t, background=background)
            return np.ones_like(x)
        return explain

    monkeypatch.setattr(advinterp.explain, "make_explainer", recorder)
    explain_model(model, data, ["saliency"], {}, cells_per_class=4, background_cells=25, seed=3)
    x, t, background = explained_cells(data, 4, 25, 3)
    assert np.array_equal(x, seen["x"]) and np.array_equal(t, seen["t"])
    assert np.array_equal(background, seen["background"])


# (d) deletion / insertion
@pytest.fixture(scope="module")
def planted():
    """An MLP trained on cells whose class is written in 2 marker genes per class (genes 0-5)."""
    rng = np.random.default_rng(0)
    n_genes, n_classes = 40, 3
    y = np.repeat(np.arange(n_classes), 60)
    x = rng.normal(size=(len(y), n_genes)).astype(np.float32)
    for c in range(n_classes):
        x[y == c, 2 * c:2 * c + 2] += 3.0
    torch.manual_seed(0)
    model = train_classifier(x, y, x, y, n_classes, Architecture(hidden=(16, 8), dropout=(0.0, 0.0)),
                             TrainSpec(epochs=30, batch_size=32), seed=0, device=CPU).model
    truth = np.zeros_like(x, dtype=np.float64)
    truth[np.arange(len(y)), 2 * y] = truth[np.arange(len(y)), 2 * y + 1] = 1.0  # the cell's own markers
    return model, x[::6], y[::6], truth[::6]


def test_deletion_and_insertion_favour_true_attributions_over_random_ones(planted):
    model, x, y, truth = planted
    baseline = np.zeros(x.shape[1])
    d_true, i_true = deletion_insertion_auc(model, x, y, truth, baseline, steps=20)
    rng = np.random.default_rng(1)
    random = [deletion_insertion_auc(model, x, y, rng.normal(size=x.shape), baseline, steps=20) for _ in range(5)]
    d_rand, i_rand = np.mean([d for d, _ in random], axis=0), np.mean([i for _, i in random], axis=0)
    assert d_true.shape == i_true.shape == (len(x),)
    assert ((0 <= d_true) & (d_true <= 1) & (0 <= i_true) & (i_true <= 1)).all()
    assert d_true.mean() < d_rand.mean() - 0.2
    assert i_true.mean() > i_rand.mean() + 0.2
    # and a real explainer does better than random too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ig = make_explainer("integrated_gradients")(model, x, y, x[:10], seed=0)
    d_ig, i_ig = deletion_insertion_auc(model, x, y, ig, baseline, steps=20)
    assert d_ig.mean() < d_rand.mean() and i_ig.mean() > i_rand.mean()


def test_deletion_insertion_equal_a_cell_by_cell_loop_and_do_not_depend_on_chunking(planted):
    model, x, y, _ = planted
    x, y = x[:4], y[:4]
    rng = np.random.default_rng(2)
    attributions = rng.normal(size=x.shape)
    attributions[0] = 0.0  # all tied: the gene order is the index order
    baseline = rng.normal(size=x.shape[1])
    steps = 7
    d, i = deletion_insertion_auc(model, x, y, attributions, baseline, steps=steps)
    d1, i1 = deletion_insertion_auc(model, x, y, attributions, baseline, steps=steps, chunk_elements=1)
    np.testing.assert_allclose(d, d1, atol=1e-12)
    np.testing.assert_allclose(i, i1, atol=1e-12)
    n = x.shape[1]
    ks = np.round(np.linspace(0, n, steps + 1)).astype(int)
    for c in range(len(x)):
        order = sorted(range(n), key=lambda g, row=attributions[c]: (-abs(row[g]), g))
        dele, ins = [], []
        for k in ks:
            removed = np.array(x[c], dtype=np.float32)
            removed[order[:k]] = baseline[order[:k]]
            inserted = np.array(baseline, dtype=np.float32)
            inserted[order[:k]] = x[c, order[:k]]
            with torch.no_grad():
                p = torch.softmax(model(torch.as_tensor(np.stack([removed, inserted]))).double(), dim=1)[:, y[c]]
            dele.append(p[0].item())
            ins.append(p[1].item())
        assert d[c] == pytest.approx(np.trapezoid(dele, ks / n), abs=1e-6)
        assert i[c] == pytest.approx(np.trapezoid(ins, ks / n), abs=1e-6)


# (e) max-sensitivity
def test_max_sensitivity_is_zero_for_an_input_blind_explainer_and_positive_for_saliency():
    model, data = toy()
    x, t = data.x_test[:10], data.y_test[:10]
    bg = data.x_train[:20]
    constant = Constant()

    def saliency(inputs, targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make_explainer("saliency")(model, inputs, targets, bg, seed=0)

    blind = max_sensitivity(lambda inputs, targets: constant(model, inputs, targets, bg), x, t, 0.5, 5, seed=0)
    assert np.array_equal(blind, np.zeros(len(x)))
    sal = max_sensitivity(saliency, x, t, 0.5, 5, seed=0)
    assert sal.shape == (len(x),) and (sal >= 0).all() and sal.max() > 0
    np.testing.assert_array_equal(sal, max_sensitivity(saliency, x, t, 0.5, 5, seed=0))
    assert not np.array_equal(sal, max_sensitivity(saliency, x, t, 0.5, 5, seed=1))


def test_max_sensitivity_equals_the_definition_and_a_direct_quantus_call():
    import quantus

    model, data = toy()
    x, t = data.x_test[:8], data.y_test[:8]
    bg = data.x_train[:20]

    def explain(inputs, targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make_explainer("smoothgrad", {"samples": 5})(model, inputs, targets, bg, seed=0)

    np.random.seed(123)
    state = np.random.get_state()
    ours = max_sensitivity(explain, x, t, radius=0.3, n_samples=4, seed=5)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the global generator is left as it was
    # the definition: uniform noise in the L-inf ball, max of ||e(x+δ) - e(x)||₂ / ||e(x)||₂
    rng = np.random.RandomState(5)
    a = explain(x, t)
    ratios = []
    for _ in range(4):
        perturbed = (x + rng.uniform(-0.3, 0.3, size=x.shape)).astype(np.float32)
        ratios.append(np.linalg.norm(explain(perturbed, t) - a, axis=1) / np.linalg.norm(a, axis=1))
    np.testing.assert_allclose(ours, np.max(ratios, axis=0), rtol=1e-10)
    # quantus itself, called directly
    np.random.seed(5)
    direct = quantus.MaxSensitivity(nr_samples=4, lower_bound=0.3, disable_warnings=True)(
        model=model, x_batch=x, y_batch=t, a_batch=a, batch_size=len(x),
        explain_func=lambda model, inputs, targets, **kw: explain(inputs, targets))
    np.testing.assert_allclose(ours, direct, rtol=1e-12)
    np.testing.assert_array_equal(ours, max_sensitivity(explain, x, t, 0.3, 4, seed=5, attributions=a))
    assert ours.max() > 0


def test_max_sensitivity_of_a_cell_without_attribution_is_nan():
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)

    def explain(inputs, targets):
        out = np.asarray(inputs, dtype=np.float64) ** 2
        out[0] = 0.0
        return out

    s = max_sensitivity(explain, x, np.zeros(3, dtype=int), 0.1, 3, seed=0)
    assert np.isnan(s[0]) and np.isfinite(s[1:]).all() and (s[1:] > 0).all()
    assert np.isnan(max_sensitivity(lambda i, t: np.zeros(i.shape), x, np.zeros(3, dtype=int), 0.1, 3, 0)).all()


# label randomisation
def test_label_randomised_models_learn_nothing_about_the_classes():
    _, data = toy()
    real = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, 3, TOY_ARCH, TOY_SPEC, 0, CPU)
    shuffled = label_randomised_training(data, TOY_ARCH, TOY_SPEC, seed=0, device=CPU)
    assert real.history["test_accuracy"].iloc[-1] > 0.9
    assert shuffled.history["test_accuracy"].iloc[-1] < 0.6
    again, history = label_randomised_model(data, "standard", TOY_ARCH, TOY_SPEC, 0, CPU)
    assert all(torch.equal(v, shuffled.model.state_dict()[k]) for k, v in again.state_dict().items())
    assert history["test_accuracy"].iloc[-1] < 0.6
    before = {k: v.clone() for k, v in shuffled.model.state_dict().items()}
    adv, _ = label_randomised_model(data, "adv_fgsm", TOY_ARCH, TOY_SPEC, 0, CPU, epsilon=0.1,
                                    adv_spec=AdversarialTrainingSpec(mode="static", epochs=2), attack_spec=AttackSpec(),
                                    standard=shuffled.model)
    assert isinstance(adv, MLP) and adv is not shuffled.model
    assert not torch.equal(adv.net[0].weight, shuffled.model.net[0].weight)
    assert all(torch.equal(v, before[k]) for k, v in shuffled.model.state_dict().items())
    with pytest.raises(ValueError, match="needs epsilon"):
        label_randomised_model(data, "adv_pgd", TOY_ARCH, TOY_SPEC, 0, CPU, standard=shuffled.model)
    with pytest.raises(ValueError, match="unknown regime .adv_cw."):
        label_randomised_model(data, "adv_cw", TOY_ARCH, TOY_SPEC, 0, CPU)


def test_evaluate_explanations_uses_one_draw_of_cells_for_every_model(monkeypatch):
    # The real, the randomised and the label-randomised models explain the same cells with the same background.
    model, data = toy()
    calls = []

    class Recorder(Explainer):
        name = "recorder"

        def attribute(self, m, inputs, target, background, seed=0):
            calls.append((inputs.numpy().copy(), target.numpy().copy(), background.numpy().copy()))
            return inputs.numpy() * 0 + np.arange(inputs.shape[1])

    monkeypatch.setitem(REGISTRY, "recorder", Recorder)
    other = MLP(data.x_train.shape[1], 3, TOY_ARCH)
    out = run(model, other, data, "adv_pgd", ["recorder"], {}, 3, 10, 4, 0.1, 2, 5)
    x, t, bg = explained_cells(data, 3, 10, 4)
    assert len(calls) == 1 + 3 + 1 + 2  # real, 3 cascade levels, labels, 2 sensitivity samples (e(x) reused)
    for inputs, target, background in calls[:1 + 3 + 1]:
        assert np.array_equal(inputs, x) and np.array_equal(target, t) and np.array_equal(background, bg)
    assert (out["regime"] == "adv_pgd").all() and (out["seed"] == 4).all()
