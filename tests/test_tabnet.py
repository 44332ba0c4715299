"""The SIMS-style TabNet classifier (advinterp.tabnet): shapes, training, attacks, its mask explainer."""

import importlib
import warnings

import numpy as np
import pytest
import torch
from toy import blobs

from advinterp.attacks import attack
from advinterp.device import seed_everything
from advinterp.model import MLP, build_classifier, class_weight_vector, predict, train_classifier
from advinterp.specs import TABNET_UNSUPPORTED, Architecture, AttackSpec, TabNetSpec, TrainSpec, check_methods

CPU = torch.device("cpu")
SMALL = {"n_d": 8, "n_a": 8, "virtual_batch_size": 16}
TRAIN = TrainSpec(epochs=20, batch_size=32, learning_rate=0.02)


@pytest.fixture(scope="module")
def tn():
    return importlib.import_module("advinterp.tabnet")


def train_tabnet(tn, data, epochs=TRAIN.epochs, seed=0, **spec):
    xtr, ytr, xte, yte = data
    seed_everything(seed, threads=2)
    model = tn.TabNetClassifier(xtr.shape[1], int(ytr.max()) + 1, TabNetSpec(**{**SMALL, **spec}))
    return train_classifier(xtr, ytr, xte, yte, int(ytr.max()) + 1, None,
                            TrainSpec(epochs=epochs, batch_size=TRAIN.batch_size, learning_rate=TRAIN.learning_rate),
                            seed, CPU, model=model)


@pytest.fixture(scope="module")
def trained(tn):
    """A small TabNet trained on tests/toy.py's 3-class blobs."""
    data = blobs()
    return train_tabnet(tn, data), data


def planted(k=7, n_genes=20, n_per_class=60, seed=0):
    """3 classes that differ only in gene ``k`` (means -3, 0, 3; every gene N(0, 1) noise)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    x = rng.normal(size=(len(y), n_genes)).astype(np.float32)
    x[:, k] += 3.0 * (y - 1)
    test = np.arange(len(y)) % 5 == 0
    return x[~test], y[~test], x[test], y[test]


# --------------------------------------------------------------------------------------- building
def test_builds_with_the_configured_shapes(tn):
    spec = TabNetSpec(n_d=12, n_a=6, n_steps=4, n_independent=1, n_shared=3)
    model = tn.TabNetClassifier(30, 5, spec)
    assert (model.n_inputs, model.n_classes, model.spec) == (30, 5, spec)
    enc = model.network.tabnet.encoder
    assert (enc.n_d, enc.n_a, enc.n_steps) == (12, 6, 4)
    assert len(enc.att_transformers) == len(enc.feat_transformers) == 4
    assert enc.att_transformers[0].fc.in_features == 6 and enc.att_transformers[0].fc.out_features == 30
    assert model.network.tabnet.final_mapping.in_features == 12
    assert model.network.tabnet.final_mapping.out_features == 5
    assert len(enc.initial_splitter.shared.glu_layers) == 3
    assert len(enc.initial_splitter.specifics.glu_layers) == 1
    assert enc.initial_splitter.shared.glu_layers[0].fc.out_features == 2 * (12 + 6)
    model.eval()
    assert model(torch.randn(7, 30)).shape == (7, 5)


def test_defaults_are_sims_venti(tn):
    spec = TabNetSpec()
    assert (spec.n_d, spec.n_a, spec.n_steps, spec.gamma, spec.n_independent, spec.n_shared) == (64, 64, 3, 1.3, 2, 2)
    assert (spec.mask_type, spec.lambda_sparse, spec.virtual_batch_size, spec.momentum) == ("sparsemax", 1e-3, 128,
                                                                                            0.02)
    assert spec.class_weights and spec.l2_normalise
    assert spec.weight_decay == 0.01


def test_batch_norm_in_eval_and_training(tn):
    model = tn.TabNetClassifier(10, 3, TabNetSpec(**SMALL)).eval()
    assert model(torch.randn(1, 10)).shape == (1, 3)  # running statistics: one cell is fine
    model.train()
    assert model(torch.randn(17, 10)).shape == (17, 3)  # ghost batches of 9 and 8
    for n in (1, 241):  # one cell; 241 = 15·16 + 1 leaves a last ghost batch of one cell
        with pytest.raises(ValueError, match=f"batch of {n} cells.*training.batch_size"):
            model(torch.randn(n, 10))


def test_group_matrix_follows_the_model_and_state_dict_rebuilds(tn, trained):
    result, (xtr, _, xte, _) = trained
    model = result.model
    assert "group_attention_matrix" not in "".join(model.state_dict())  # not stored: it is the identity
    rebuilt = tn.TabNetClassifier(model.n_inputs, model.n_classes, model.spec)
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(torch.as_tensor(xte)), model(torch.as_tensor(xte)))
        doubled = rebuilt.double()  # .to(dtype/device) moves the group matrix with the parameters
        assert doubled.network.tabnet.encoder.group_attention_matrix.dtype == torch.float64
        assert doubled(torch.as_tensor(xte, dtype=torch.float64)).dtype == torch.float64


def test_build_classifier(tn):
    assert isinstance(build_classifier(10, 3, Architecture(hidden=(4,), dropout=(0.0,))), MLP)
    model = build_classifier(10, 3, Architecture(kind="tabnet", tabnet=TabNetSpec(**SMALL)))
    assert isinstance(model, tn.TabNetClassifier) and model.spec == TabNetSpec(**SMALL)
    with pytest.raises(ValueError, match="model.kind='xgboost'"):
        Architecture(kind="xgboost")
    with pytest.raises(ValueError, match="model.kind='xgboost'"):
        Architecture.from_config({"kind": "xgboost"})


# --------------------------------------------------------------------------------------- the spec
@pytest.mark.parametrize("key, value, message", [
    ("n_steps", 0, "model.tabnet.n_steps=0 must be >= 1"),
    ("n_d", 0, "model.tabnet.n_d=0 must be >= 1"),
    ("n_a", 2.5, "model.tabnet.n_a=2.5 must be an integer"),
    ("gamma", 0.5, "model.tabnet.gamma=0.5 must be >= 1"),
    ("mask_type", "softmax", "model.tabnet.mask_type='softmax'; use one of"),
    ("lambda_sparse", -1.0, "model.tabnet.lambda_sparse=-1.0 must be >= 0"),
    ("virtual_batch_size", 1, "model.tabnet.virtual_batch_size=1 must be >= 2"),
    ("momentum", 0.0, r"model.tabnet.momentum=0.0 must be in \(0, 1\]"),
    ("weight_decay", -0.1, "model.tabnet.weight_decay=-0.1 must be >= 0"),
    ("l2_normalise", "yes", "model.tabnet.l2_normalise='yes' must be true or false"),
    ("n_independent", -1, "model.tabnet.n_independent=-1 must be >= 0"),
])
def test_bad_spec_values_name_the_key(tn, key, value, message):
    with pytest.raises(ValueError, match=message):
        TabNetSpec(**{key: value})


def test_spec_from_config(tn):
    assert TabNetSpec.from_config({}) == TabNetSpec()
    spec = TabNetSpec.from_config({"n_d": 8, "lambda_sparse": "1e-4", "l2_normalise": False})  # YAML's 1e-4: str
    assert (spec.n_d, spec.lambda_sparse, spec.l2_normalise) == (8, 1e-4, False)
    with pytest.raises(ValueError, match=r"unknown model.tabnet keys \['n_e'\]"):
        TabNetSpec.from_config({"n_e": 8})
    with pytest.raises(ValueError, match="n_independent and n_shared are both 0"):
        TabNetSpec.from_config({"n_independent": 0, "n_shared": 0})


def test_class_weight_vector(tn):
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 0, 1, 3, 3])
    w = class_weight_vector(y, 4)
    assert w.dtype == torch.float32 and w.shape == (4,)
    np.testing.assert_allclose(w[[0, 1, 3]].numpy(), compute_class_weight("balanced", classes=np.array([0, 1, 3]), y=y),
                               rtol=1e-6)
    assert w[2] == 0  # absent from training
    assert w.numpy()[y].mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        class_weight_vector(y, 2)


# --------------------------------------------------------------------------------------- training
def test_trains_well_above_chance(trained):
    result, (*_, xte, yte) = trained
    assert (predict(result.model, xte, CPU) == yte).mean() > 0.6  # chance: 1/3
    assert result.history.loss.iloc[-1] < result.history.loss.iloc[0]


def test_regularisation_loss_is_pytorch_tabnets_sparsity_term(tn):
    model = tn.TabNetClassifier(10, 3, TabNetSpec(**{**SMALL, "lambda_sparse": 0.5}))
    with pytest.raises(RuntimeError, match="forward pass first"):
        model.regularisation_loss()
    model.train()
    model(torch.randn(32, 10))
    reg = model.regularisation_loss()
    assert reg.requires_grad and reg.item() == pytest.approx(-0.5 * model._m_loss.item())
    assert reg.item() > 0  # M_loss = -entropy of the masks


def test_sparsity_loss_reaches_the_training_loss(tn, monkeypatch):
    data = blobs(n_per_class=20)
    calls = []
    original = tn.TabNetClassifier.regularisation_loss
    monkeypatch.setattr(tn.TabNetClassifier, "regularisation_loss",
                        lambda self: calls.append(1) or original(self))
    train_tabnet(tn, data, epochs=2)
    assert len(calls) == 2 * int(np.ceil(len(data[0]) / TRAIN.batch_size))  # once per update
    monkeypatch.undo()
    # and it changes what is learned: same seed and data, only lambda_sparse differs
    weights = [train_tabnet(tn, data, epochs=2, lambda_sparse=lam).model.state_dict() for lam in (0.0, 10.0)]
    assert not torch.equal(weights[0]["network.tabnet.final_mapping.weight"],
                           weights[1]["network.tabnet.final_mapping.weight"])


def test_deterministic_with_the_same_seed(tn):
    data = blobs(n_per_class=20)
    a, b = (train_tabnet(tn, data, epochs=3, seed=5) for _ in range(2))
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    c = train_tabnet(tn, data, epochs=3, seed=6)
    assert not torch.equal(a.model.state_dict()["network.tabnet.final_mapping.weight"],
                           c.model.state_dict()["network.tabnet.final_mapping.weight"])


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_attacks_change_predictions(trained, name):
    result, (*_, xte, yte) = trained
    model = result.model
    clean = predict(model, xte, CPU)
    x_adv = attack(name, model, xte, yte, epsilon=1.0, spec=AttackSpec(pgd_steps=5), seed=0)
    assert x_adv.shape == xte.shape
    assert np.abs(x_adv.numpy() - xte).max() <= 1.0 + 1e-5
    adv = predict(model, x_adv, CPU)
    assert (adv != clean).any()
    assert (adv == yte).mean() < (clean == yte).mean()


def test_l2_normalise_makes_the_output_invariant_to_scaling_a_cell(tn):
    x = torch.randn(6, 12)
    scale = torch.tensor([0.1, 0.5, 1.0, 2.0, 7.0, 30.0])[:, None]
    for l2, invariant in ((True, True), (False, False)):
        torch.manual_seed(0)
        model = tn.TabNetClassifier(12, 3, TabNetSpec(**SMALL, l2_normalise=l2))
        model.train()
        model(torch.randn(64, 12) * 3)  # move the batch-norm running statistics off their initial values
        model.eval()
        with torch.no_grad():
            same = torch.allclose(model(x), model(scale * x), atol=1e-5)
            masks_same = np.allclose(tn.mask_importance(model, x), tn.mask_importance(model, scale * x), atol=1e-6)
        assert same == invariant and masks_same == invariant


# --------------------------------------------------------------------------------------- explaining
def test_tabnet_mask_rows_are_distributions(tn, trained):
    from advinterp.explain import make_explainer

    result, (xtr, _, xte, yte) = trained
    a = make_explainer("tabnet_mask")(result.model, xte, yte, xtr[:10])
    assert a.shape == xte.shape and (a >= 0).all()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-9)
    # not class-specific: another target gives the same attribution
    np.testing.assert_array_equal(a, make_explainer("tabnet_mask")(result.model, xte, (yte + 1) % 3, xtr[:10]))
    # batching does not change it
    np.testing.assert_allclose(tn.mask_importance(result.model, xte, batch_size=5), a, rtol=1e-4, atol=1e-6)


def test_tabnet_mask_leaves_empty_rows_zero(tn, monkeypatch):
    model = tn.TabNetClassifier(4, 2, TabNetSpec(**SMALL)).eval()
    explain = torch.tensor([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    monkeypatch.setattr(model.network, "forward_masks", lambda x: (explain[:len(x)], {}))
    out = tn.mask_importance(model, torch.ones(3, 4))
    np.testing.assert_allclose(out, [[0.25, 0.75, 0, 0], [0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]])


def test_tabnet_mask_follows_a_planted_gene(tn):
    k = 7
    data = planted(k=k)
    result = train_tabnet(tn, data, epochs=20)
    importance = tn.mask_importance(result.model, data[2]).mean(axis=0)
    assert importance.argmax() == k
    assert importance[k] > 3 * np.delete(importance, k).max()


def test_tabnet_mask_rejects_an_mlp(tn):
    from advinterp.explain import make_explainer

    mlp = MLP(5, 3, Architecture(hidden=(4,), dropout=(0.0,)))
    with pytest.raises(ValueError, match=r"tabnet_mask explains TabNet models \(model.kind: tabnet\) only; "
                                         "this model is MLP"):
        make_explainer("tabnet_mask")(mlp, np.zeros((2, 5)), np.zeros(2, dtype=int), np.zeros((2, 5)))


FAST = {"lime": {"num_samples": 300}, "shap_kernel": {"nsamples": 100, "kmeans": 5},
        "shap_gradient": {"nsamples": 30}, "activation_maximization": {"steps": 30},
        "smoothgrad": {"samples": 10}, "integrated_gradients": {"n_steps": 20}}


@pytest.mark.parametrize("name", ["saliency", "smoothgrad", "shap_gradient", "lime", "shap_kernel"])
def test_supported_explainers_run_on_tabnet(tn, trained, name):
    from advinterp.explain import make_explainer

    result, (xtr, _, xte, yte) = trained
    assert name not in TABNET_UNSUPPORTED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = make_explainer(name, FAST.get(name))(result.model, xte[:4], yte[:4], xtr[:20], seed=0)
    assert a.shape == (4, xte.shape[1]) and np.isfinite(a).all() and np.abs(a).sum() > 0


def test_unsupported_reasons_hold(tn, trained):
    """The reasons in TABNET_UNSUPPORTED, checked: if a new shap or captum handles TabNet, this fails."""
    import shap

    from advinterp.explain import make_explainer

    result, (xtr, _, xte, yte) = trained
    model = result.model
    assert set(TABNET_UNSUPPORTED) == {"shap_deep", "deeplift", "integrated_gradients", "activation_maximization"}
    # activation maximisation from the zero cell: every gene gets nearly the same magnitude ...
    proto = np.abs(make_explainer("activation_maximization", {"steps": 50})(model, xte[:1], yte[:1], xtr[:5])[0])
    assert proto.std() < 1e-3 * proto.mean()
    # ... where the same explainer ranks genes on a TabNet without the L2 normalisation
    plain = train_tabnet(tn, blobs(), epochs=5, l2_normalise=False).model
    proto = np.abs(make_explainer("activation_maximization", {"steps": 50})(plain, xte[:1], yte[:1], xtr[:5])[0])
    assert proto.std() > 0.05 * proto.mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError, match="do not sum up to the model's output"):
            shap.DeepExplainer(model, torch.as_tensor(xtr[:20])).shap_values(torch.as_tensor(xte[:4]))
        # L2-normalised: f is constant along the path from the zero baseline, so integrated gradients sum to 0 ...
        ig = make_explainer("integrated_gradients", FAST["integrated_gradients"])(model, xte[:4], yte[:4], xtr[:20])
    assert np.abs(ig).max() > 1e-3 and np.abs(ig.sum(axis=1)).max() < 1e-4
    with torch.no_grad():  # ... although the logit does differ between 0 and x
        target_logit = model(torch.as_tensor(xte[:4]))[np.arange(4), yte[:4]]
        assert (target_logit - model(torch.zeros(1, xte.shape[1]))[0, yte[:4]]).abs().max() > 0.1
    # ... and they are gradient x input, scaled by the quadrature's sum of 1/alpha
    x = torch.as_tensor(xte[:4]).requires_grad_(True)
    grad = torch.autograd.grad(model(x)[np.arange(4), yte[:4]].sum(), x)[0]
    ratio = ig / (xte[:4] * grad.numpy())
    assert np.nanstd(ratio) < 1e-3 * np.nanmean(ratio) and np.nanmean(ratio) > 2


def test_check_methods(tn):
    check_methods("tabnet", ["saliency", "tabnet_mask", "lime"])
    check_methods("mlp", ["saliency", "shap_deep", "integrated_gradients"])
    with pytest.raises(ValueError, match="explanation method 'shap_deep' cannot explain a TabNet model: shap's "
                                         ".*; remove it from interpretability.tabnet_methods"):
        check_methods("tabnet", ["saliency", "shap_deep"])
    with pytest.raises(ValueError, match="'integrated_gradients' cannot explain a TabNet model: .*l2_normalise"):
        check_methods("tabnet", ["integrated_gradients"])
    check_methods("tabnet", ["integrated_gradients"], TabNetSpec(l2_normalise=False))
    with pytest.raises(ValueError, match="'deeplift' cannot explain"):
        check_methods("tabnet", ["deeplift"], TabNetSpec(l2_normalise=False))
    with pytest.raises(ValueError, match="'tabnet_mask' explains TabNet models .* interpretability.methods"):
        check_methods("mlp", ["tabnet_mask"])


# ------------------------------------------------------------------------- wiring into the workflow's library


def test_save_and_load_rebuild_a_tabnet(tn, trained, tmp_path):
    from advinterp.model import load_model, save_model

    result, (_, _, xte, _) = trained
    arch = Architecture(kind="tabnet", tabnet=result.model.spec)
    save_model(tmp_path / "m.pt", result.model, xte.shape[1], arch, ["a", "b", "c"], [f"g{i}" for i in range(30)])
    model, payload = load_model(tmp_path / "m.pt")
    assert isinstance(model, tn.TabNetClassifier) and model.spec == result.model.spec
    assert payload["architecture"]["kind"] == "tabnet"
    np.testing.assert_array_equal(predict(model, xte, CPU), predict(result.model, xte, CPU))


def test_train_classifier_weights_classes_and_uses_tabnets_weight_decay(tn, monkeypatch):
    """A TabNet (class_weights: true) trains with SIMS's inverse-frequency weights and its own weight decay;
    the MLP with neither."""
    seen = {}
    real_ce, real_adam = torch.nn.CrossEntropyLoss, torch.optim.Adam

    def ce(*args, weight=None, **kwargs):
        seen["weight"] = weight
        return real_ce(*args, weight=weight, **kwargs)

    def adam(params, lr, weight_decay):
        seen["weight_decay"] = weight_decay
        return real_adam(params, lr=lr, weight_decay=weight_decay)

    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", ce)
    monkeypatch.setattr(torch.optim, "Adam", adam)
    xtr, ytr, xte, yte = blobs()
    keep = (ytr != 2) | (np.arange(len(ytr)) % 4 == 0)  # class 2 rarer
    xtr, ytr = xtr[keep], ytr[keep]
    spec = TrainSpec(epochs=1, batch_size=32, weight_decay=1e-6)
    train_classifier(xtr, ytr, xte, yte, 3, Architecture(kind="tabnet", tabnet=TabNetSpec(**SMALL)), spec, 0, CPU)
    np.testing.assert_allclose(seen["weight"].numpy(), class_weight_vector(ytr, 3).numpy())
    assert seen["weight"][2] > seen["weight"][0] and seen["weight_decay"] == 0.01
    unweighted = Architecture(kind="tabnet", tabnet=TabNetSpec(**SMALL, class_weights=False))
    train_classifier(xtr, ytr, xte, yte, 3, unweighted, spec, 0, CPU)
    assert seen["weight"] is None
    train_classifier(xtr, ytr, xte, yte, 3, Architecture(hidden=(4,), dropout=(0.0,)), spec, 0, CPU)
    assert seen["weight"] is None and seen["weight_decay"] == 1e-6


def test_tabnet_regimes(tn):
    from advinterp.regimes import trained_architecture
    from advinterp.specs import RegularisationSpec, base_regime, parse_regime, regime_attack, trained_here

    assert parse_regime("tabnet_adv_pgd") == ("adv_pgd", False) and regime_attack("tabnet_adv_pgd") == "pgd"
    assert base_regime("tabnet_adv_pgd") == base_regime("tabnet_noise") == "tabnet_standard"
    assert base_regime("tabnet_standard") is None and trained_here("tabnet_standard")
    mlp = Architecture()
    assert trained_architecture("tabnet_noise", mlp, RegularisationSpec()).kind == "tabnet"
    assert trained_architecture("noise_reg", mlp, RegularisationSpec()).batch_norm
    with pytest.raises(ValueError, match="unknown regime 'tabnet_noise_reg'"):
        parse_regime("tabnet_noise_reg")
    with pytest.raises(ValueError, match="the regularised .* regimes regularise the MLP; model.kind is 'tabnet'"):
        trained_architecture("standard_reg", Architecture(kind="tabnet"), RegularisationSpec())


def test_explain_model_refuses_a_method_that_cannot_explain_the_model(tn, trained):
    from advinterp.explain import explain_model
    from advinterp.model import SplitData

    result, (xtr, ytr, xte, yte) = trained
    data = SplitData(xtr, ytr, xte, yte, ["a", "b", "c"], [f"g{i}" for i in range(xtr.shape[1])])
    with pytest.raises(ValueError, match="'shap_deep' cannot explain a TabNet model"):
        explain_model(result.model, data, ["saliency", "shap_deep"], {}, 1, 5, 0)
    out = explain_model(result.model, data, ["saliency", "tabnet_mask"], {}, 2, 5, 0)
    assert list(out) == ["saliency", "tabnet_mask"] and out["tabnet_mask"].shape == (xtr.shape[1], 3)
