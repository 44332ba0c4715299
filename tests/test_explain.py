import warnings

import numpy as np
import pytest
import torch
from captum.attr import DeepLiftShap
from torch import nn
from toy import toy

from advinterp.explain import REGISTRY, ActivationMaximization, class_importance, make_explainer, select_cells

# every method that explains the MLP (tabnet_mask explains TabNet models only: tests/test_tabnet.py)
MLP_METHODS = sorted(set(REGISTRY) - {"tabnet_mask"})
PAPER_METHODS = ["saliency", "activation_maximization", "lime", "shap_gradient", "shap_deep", "shap_kernel"]
FAST = {"lime": {"num_samples": 300}, "shap_kernel": {"nsamples": 150, "kmeans": 5},
        "shap_gradient": {"nsamples": 30}, "activation_maximization": {"steps": 50},
        "smoothgrad": {"samples": 10}, "integrated_gradients": {"n_steps": 20}}


@pytest.fixture(scope="module")
def case():
    model, data = toy()
    x, t, bg = data.x_test[:6], data.y_test[:6], data.x_train[:20]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {name: make_explainer(name, FAST.get(name))(model, x, t, bg, seed=0) for name in MLP_METHODS}
    return model, x, t, bg, out


def test_registry_has_paper_methods_and_extras():
    assert set(PAPER_METHODS) | {"deeplift", "integrated_gradients", "smoothgrad", "tabnet_mask"} == set(REGISTRY)


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown explanation method 'Kernel'.*shap_kernel"):
        make_explainer("Kernel")


@pytest.mark.parametrize("name", MLP_METHODS)
def test_contract_shape_finite_and_target_dependence(case, name):
    model, x, t, bg, out = case
    a = out[name]
    assert a.shape == x.shape and np.isfinite(a).all() and np.abs(a).sum() > 0
    other = (t + 1) % 3  # another class for every cell gives another explanation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = make_explainer(name, FAST.get(name))(model, x, other, bg, seed=0)
    assert not np.allclose(a, b)


def test_methods_differ_from_each_other(case):
    *_, out = case
    names = sorted(out)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.allclose(out[a], out[b]), (a, b)


def test_seeded(case):
    model, x, t, bg, out = case
    for name in ("lime", "shap_kernel", "shap_gradient"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = make_explainer(name, FAST.get(name))(model, x, t, bg, seed=0)
        np.testing.assert_array_equal(again, out[name])


def test_shap_deep_equals_captum_deepliftshap(case):
    model, x, t, bg, out = case
    ref = DeepLiftShap(model).attribute(torch.as_tensor(x), baselines=torch.as_tensor(bg),
                                        target=torch.as_tensor(t)).detach().numpy()
    np.testing.assert_allclose(out["shap_deep"], ref, atol=1e-6)


def test_activation_maximization_on_a_known_model():
    # logits = W x with a single hidden ReLU-free path: the maximiser of w_c·x - l2·|x|² is
    # w_c / (2·l2), so the prototype of class c is proportional to w_c.
    torch.manual_seed(0)
    w = torch.randn(3, 8)
    model = nn.Sequential(nn.Linear(8, 3, bias=False))
    model[0].weight.data = w.clone()
    am = ActivationMaximization(steps=2000, learning_rate=0.05, l2=0.5)
    protos = am.prototypes(model, 8, [0, 1, 2])
    for c in range(3):
        np.testing.assert_allclose(protos[c], (w[c] / (2 * 0.5)).numpy(), atol=1e-3)
    a = am(model, np.zeros((2, 8)), np.array([2, 0]), np.zeros((1, 8)))
    np.testing.assert_allclose(a[0], protos[2])
    np.testing.assert_allclose(a[1], protos[0])


def test_specs_list_matches_registry():
    from advinterp.specs import EXPLAIN_METHODS

    assert set(EXPLAIN_METHODS) == set(REGISTRY)


def test_sparse_first_layer_matches_direct_evaluation():
    from advinterp.batched import kernel_shap_batched

    model, data = toy()
    model.eval()

    class Opaque(nn.Module):  # hides model.net, so the direct evaluation path is used
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)

    x, t = data.x_test[:5], data.y_test[:5]
    bg, w = data.x_train[:4], np.array([1.0, 2.0, 1.0, 1.0])
    fast = kernel_shap_batched(model, x, t, bg, w, n_samples=100, seed=3)
    direct = kernel_shap_batched(Opaque(model).eval(), x, t, bg, w, n_samples=100, seed=3)
    np.testing.assert_allclose(fast, direct, atol=1e-5)


def test_batched_estimators_agree_with_the_reference_packages():
    # Same estimators: at a generous sample size their per-cell rankings agree about as well
    # as two runs of the reference package with different seeds do.
    from scipy.stats import spearmanr

    model, data = toy()
    x, t, bg = data.x_test[:8], data.y_test[:8], data.x_train

    def run(name, impl, seed, **params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make_explainer(name, {**params, "implementation": impl})(model, x, t, bg, seed=seed)

    def rho(a, b):
        return np.mean([spearmanr(a[i], b[i]).statistic for i in range(len(x))])

    for name, params in (("shap_kernel", {"nsamples": 3000, "kmeans": 5}), ("lime", {"num_samples": 3000})):
        ref, ref2, fast = run(name, "reference", 0, **params), run(name, "reference", 1, **params), \
            run(name, "batched", 0, **params)
        assert rho(fast, ref) >= rho(ref, ref2) - 0.1, name
        if name == "shap_kernel":  # efficiency: both sum to f(x) - E f(background)
            np.testing.assert_allclose(fast.sum(axis=1), ref.sum(axis=1), atol=1e-6)


def test_pair_regression_equals_dense_constrained_least_squares():
    # The sparse normal equations of kernel SHAP's weighted complement pairs give the same φ
    # as shap's dense weighted least squares on the explicit coalition matrix.
    from advinterp.batched import _constrained_shapley_fit, shapley_kernel_pairs

    rng = np.random.default_rng(0)
    n_genes = 12
    indices, offsets, weights = (v.numpy() for v in shapley_kernel_pairs(n_genes, 80, torch.Generator().manual_seed(0)))
    n_pairs = len(offsets)
    ends = np.append(offsets, len(indices))
    a = np.zeros((n_pairs, n_genes))
    for j in range(n_pairs):
        a[j, indices[ends[j]:ends[j + 1]]] = 1
    assert (a.sum(axis=1) <= n_genes / 2).all() and (a.sum(axis=1) >= 1).all()
    assert a[:n_genes].sum() == n_genes  # size 1 fits the budget: enumerated first, as shap does
    assert 2 * weights.sum() == pytest.approx(1.0)
    sizes = a.sum(axis=1)  # the budget is spent as shap spends it: 2 samples a pair, 1 for the middle size
    assert np.where(sizes < n_genes / 2, 2, 1).sum() in (80, 81)
    y_in, y_out, total = rng.normal(size=n_pairs), rng.normal(size=n_pairs), 0.7
    phi = _constrained_shapley_fit(*(torch.as_tensor(v) for v in (indices, offsets, weights)), n_genes,
                                   torch.as_tensor(y_in), torch.as_tensor(y_out), total).numpy()
    z, y, w = np.vstack([a, 1 - a]), np.concatenate([y_in, y_out]), np.sqrt(np.concatenate([weights, weights]))
    # eliminate the last gene with the constraint, as shap does, and solve by weighted lstsq
    design = z[:, :-1] - z[:, -1:]
    head = np.linalg.lstsq(design * w[:, None], (y - z[:, -1] * total) * w, rcond=None)[0]
    np.testing.assert_allclose(phi, np.append(head, total - head.sum()), atol=1e-10)
    assert phi.sum() == pytest.approx(total)


def test_batched_kernel_shap_is_exact_when_every_coalition_fits():
    # With a budget of 2^M - 2 coalitions shap enumerates them all and kernel SHAP equals
    # the Shapley values, here computed by brute force for a one-point background.
    from itertools import combinations
    from math import factorial

    from advinterp.batched import kernel_shap_batched

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))

        def forward(self, x):
            return self.net(x)

    model = Net().eval()
    rng = np.random.default_rng(1)
    x, bg = rng.normal(size=(1, 6)).astype(np.float32), rng.normal(size=(1, 6)).astype(np.float32)
    phi = kernel_shap_batched(model, x, np.array([2]), bg, np.ones(1), n_samples="auto")[0]

    def value(subset):
        z = bg[0].copy()
        z[list(subset)] = x[0, list(subset)]
        return torch.softmax(model(torch.as_tensor(z[None])), dim=1)[0, 2].item()

    m = 6
    exact = np.zeros(m)
    for i in range(m):
        others = [g for g in range(m) if g != i]
        for size in range(m):
            for s in combinations(others, size):
                exact[i] += factorial(size) * factorial(m - size - 1) / factorial(m) * (value(s + (i,)) - value(s))
    np.testing.assert_allclose(phi, exact, atol=1e-6)


def test_lime_bins_are_lime_discretizer():
    # The batched sampler uses lime's own discretizer statistics: same bins (coinciding quartiles
    # merged) and, for a bin holding one value, lime's standardised-bound value, float32 rounding
    # included.
    from lime.discretize import QuartileDiscretizer

    from advinterp.batched import QuartileBins

    rng = np.random.default_rng(0)
    bg = rng.normal(size=(100, 4)).astype(np.float32)
    # a sparse gene: 28% of cells at its minimum (zero expression after z-scoring, as in SERGIO);
    # the float32 mean of 28 copies of this value is off by 2 ulp, so lime's value is not 0
    bg[:, 0] = -1.4374518 + np.abs(bg[:, 0]) + 0.01
    bg[:28, 0] = -1.4374518
    bg[:, 1] = np.round(bg[:, 1])  # coinciding quartiles
    ours = QuartileBins(bg)
    lime_bins = QuartileDiscretizer(bg, [], [str(g) for g in range(4)], random_state=0)
    np.testing.assert_array_equal(ours.discretize(torch.as_tensor(bg)).numpy(), lime_bins.discretize(bg))
    bins, values = ours.sample((4000, 4), torch.Generator().manual_seed(0))
    zero_bin = bins[:, 0] == 0
    assert 0.23 < zero_bin.float().mean() < 0.33  # drawn with the bin's background frequency (0.28)
    expected = lime_bins.get_undiscretize_values(0, np.zeros(1, dtype=int))[0]
    assert abs(expected) > 0.5
    np.testing.assert_allclose(values[zero_bin, 0].numpy(), expected, rtol=1e-6)
    for g in range(4):  # every other draw lies inside its bin, as lime's truncated normal
        for b in np.unique(bins[:, g].numpy()):
            inside = values[bins[:, g] == b, g].numpy()
            low, high = lime_bins.mins[g][b], lime_bins.maxs[g][b]
            if low != high:
                assert inside.min() >= low - 1e-5 and inside.max() <= high + 1e-5


def test_batched_lime_does_not_depend_on_chunking():
    from advinterp.batched import lime_batched

    model, data = toy()
    model.eval()
    x, t, bg = data.x_test[:5], data.y_test[:5], data.x_train
    one = lime_batched(model, x, t, bg, num_samples=200, seed=2, chunk_elements=1)
    all_at_once = lime_batched(model, x, t, bg, num_samples=200, seed=2, chunk_elements=10**9)
    np.testing.assert_allclose(one, all_at_once, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, small", [("lime", {"num_samples": 300, "batch_size": 7, "chunk_elements": 1}),
                                         ("shap_kernel", {"nsamples": 300, "batch_size": 7})])
def test_device_batch_sizes_from_config_do_not_change_the_result(case, name, small):
    # config interpretability.params.{lime,shap_kernel}.batch_size/chunk_elements only size the device batches
    model, x, target, background, _ = case
    large = {**small, "batch_size": 10**6, **({"chunk_elements": 10**9} if "chunk_elements" in small else {})}
    a = make_explainer(name, small)(model, x, target, background, seed=3)
    b = make_explainer(name, large)(model, x, target, background, seed=3)
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_class_importance_is_mean_abs_attribution():
    attr = np.array([[1.0, -2.0], [3.0, 0.0], [-5.0, 1.0]])
    out = class_importance(attr, np.array([0, 0, 1]), ["x", "y"], ["g1", "g2"])
    assert out.loc["g1", "x"] == 2.0 and out.loc["g2", "x"] == 1.0 and out.loc["g1", "y"] == 5.0


def test_select_cells():
    labels = np.array([0] * 10 + [1] * 3)
    idx = select_cells(labels, 5, seed=1)
    assert (labels[idx] == 0).sum() == 5 and (labels[idx] == 1).sum() == 3
    np.testing.assert_array_equal(idx, select_cells(labels, 5, seed=1))
