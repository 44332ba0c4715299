import warnings

import numpy as np
import pytest
import torch
from captum.attr import DeepLiftShap
from torch import nn
from toy import toy

from advinterp.explain import REGISTRY, ActivationMaximization, make_explainer

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
        out = {name: make_explainer(name, FAST.get(name))(model, x, t, bg, seed=0) for name in REGISTRY}
    return model, x, t, bg, out


def test_registry_has_paper_methods_and_extras():
    assert set(PAPER_METHODS) | {"deeplift", "integrated_gradients", "smoothgrad"} == set(REGISTRY)


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown explanation method 'Kernel'.*shap_kernel"):
        make_explainer("Kernel")


@pytest.mark.parametrize("name", sorted(REGISTRY))
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


def test_factorised_first_layer_matches_direct_evaluation():
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
    direct = kernel_shap_batched(Opaque(model), x, t, bg, w, n_samples=100, seed=3)
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
