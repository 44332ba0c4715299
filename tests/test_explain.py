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
