"""SingleCellNet with an SVM (advinterp.singlecellnet): the top-pair transform, gene and pair
selection, the split, the random class, the SVM on planted classes, the torch copy of its
decision values, the attacks in pair-feature and (BPDA) expression space, and precision/recall."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy import stats
from sklearn.metrics import classification_report
from sklearn.svm import SVC

from advinterp import singlecellnet as scn

N_MARKER = 3  # planted up- and down-genes per class


def planted(seed: int = 0, n_per: int = 70, n_genes: int = 400, n_classes: int = 3):
    """Counts (cells × genes, sparse) of ``n_classes`` types over a shared log-normal profile. Type c
    has up-genes ``6c .. 6c+2`` (high in c, low elsewhere) and down-genes ``6c+3 .. 6c+5`` (about
    100× lower in c than elsewhere)."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(0.0, 1.0, n_genes)
    base *= 0.6 / base.sum()
    labels = np.repeat([f"type{c}" for c in range(n_classes)], n_per)
    counts = np.zeros((len(labels), n_genes))
    for c in range(n_classes):
        p = base.copy()
        for k in range(n_classes):
            up = np.arange(k * 2 * N_MARKER, k * 2 * N_MARKER + N_MARKER)
            p[up] = 0.004 if k == c else 0.0003
            p[up + N_MARKER] = 0.00003 if k == c else 0.003
        p /= p.sum()
        rows = labels == f"type{c}"
        counts[rows] = rng.poisson(rng.integers(1500, 3000, rows.sum())[:, None] * p[None, :])
    return sp.csr_matrix(counts), labels, np.array([f"g{i}" for i in range(n_genes)])


SPEC = scn.SCNSpec(n_train_per_class=50, n_top_genes=10, n_top_pairs=10, n_rand=30)


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(data):
    counts, labels, genes = data
    model, train_idx, held_out = scn.fit_reference(counts, labels, genes, SPEC, seed=0)
    return model, train_idx, held_out


@pytest.fixture(scope="module")
def held_out(data, fitted):
    """Held-out cells: labels, log1p-CPM of the model's genes, and their pair features."""
    counts, labels, genes = data
    model, _, idx = fitted
    e, missing = scn.align_genes(scn.log1p_cpm(counts[idx]), genes, model.genes)
    assert missing == 0
    return labels[idx], e, scn.pair_transform(e, model.pairs)


# ------------------------------------------------------------------------------------------ spec


def test_spec_defaults_and_config():
    spec = scn.SCNSpec()
    assert (spec.n_train_per_class, spec.cells_reserved, spec.n_top_genes, spec.n_top_pairs, spec.max_pairs_per_gene,
            spec.n_rand) == (200, 3, 100, 100, 3, 100)
    assert (spec.svm_c, spec.svm_kernel, spec.svm_gamma, spec.scale_max, spec.limit_to_hvg) == (1.0, "rbf", "scale",
                                                                                               10.0, True)
    built = scn.SCNSpec.from_config({"n_top_pairs": 25, "svm_c": 2, "svm_gamma": 0.5, "bpda_tau": "0.2"})
    assert built.n_top_pairs == 25 and built.svm_c == 2.0 and built.svm_gamma == 0.5 and built.bpda_tau == 0.2
    with pytest.raises(ValueError, match="n_trees"):
        scn.SCNSpec.from_config({"n_trees": 1000})
    with pytest.raises(ValueError, match="svm_kernel"):
        scn.SCNSpec(svm_kernel="precomputed")


# ------------------------------------------------------------------------------------- transform


def test_pair_transform_by_hand():
    expr = np.array([[3.0, 1.0, 0.0, 0.0],
                     [1.0, 3.0, 2.0, 2.0]])
    pairs = np.array([(0, 1), (1, 0), (2, 3), (1, 2)])
    want = np.array([[1, 0, 0, 1],  # 3>1, 1>3 no, 0 vs 0 tie -> 0, 1>0
                     [0, 1, 0, 1]])  # 1>3 no, 3>1, 2 vs 2 tie -> 0, 3>2
    np.testing.assert_array_equal(scn.pair_transform(expr, pairs), want)
    np.testing.assert_array_equal(scn.pair_transform(sp.csr_matrix(expr), pairs), want)
    # monotone within a cell: counts and log1p-CPM give the same features
    np.testing.assert_array_equal(scn.pair_transform(scn.log1p_cpm(expr), pairs), want)


def test_pairs_are_index_tuples_into_the_model_genes(fitted):
    model, _, _ = fitted
    assert model.pairs.dtype.kind == "i" and model.pairs.shape == (len(model.pairs), 2)
    assert model.pairs.min() >= 0 and model.pairs.max() < len(model.genes)
    assert list(model.genes) == sorted(model.genes)
    assert len({tuple(p) for p in model.pairs}) == len(model.pairs)  # a union, no duplicates
    union = {p for ps in model.class_pairs.values() for p in ps}
    assert union == {tuple(int(v) for v in p) for p in model.pairs}
    assert all(isinstance(p, tuple) and len(p) == 2 for ps in model.class_pairs.values() for p in ps)
    assert model.pair_names[0] == f"{model.genes[model.pairs[0, 0]]}_{model.genes[model.pairs[0, 1]]}"


# ------------------------------------------------------------------------------------- selection


def test_point_biserial_equals_pearson():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5))
    x[:, 4] = 1.0  # constant gene: no correlation
    ind = np.arange(40) < 15
    x[ind, 1] += 2
    r = scn.class_correlation(x, ind)
    for g in range(4):
        assert r[g] == pytest.approx(stats.pearsonr(ind.astype(float), x[:, g])[0], abs=1e-12)
    assert np.isnan(r[4]) and r[1] == np.nanmax(r)


def test_zscore_clips_above_only():
    x = np.zeros((200, 2))
    x[0, 0] = 1.0  # one outlier: z = (1 - 1/200) / std ≈ 14.1 > 10
    x[1:, 1] = 1.0  # the mirror image: z ≈ -14.1, not clipped
    z = scn.zscore(x, 10.0)
    assert z[0, 0] == 10.0 and z[0, 1] < -10
    assert np.all(scn.zscore(np.ones((5, 1)), 10.0) == 0)  # constant gene -> 0


def test_top_bottom_genes_by_hand():
    cval = np.array([0.5, np.nan, -0.9, 0.1, -0.2, 0.8])
    assert list(scn.top_bottom_genes(cval, 2)) == [5, 0, 4, 2]  # top 2 desc, then bottom 2 desc
    assert list(scn.top_bottom_genes(cval, 4)) == [5, 0, 3, 4, 2]  # overlap: each gene once


def test_gene_prefilter_by_hand():
    z = np.full((1000, 3), -0.1)
    z[:100, 0] = 1.0  # 10% above 0: kept
    z[:3, 1] = 5.0  # 0.3% above 0, mean 5 > 2: kept
    z[:3, 2] = 1.0  # 0.3% above 0, mean 1: dropped
    assert list(scn.gene_prefilter(z)) == [True, True, False]


def test_planted_class_genes_are_selected(fitted):
    model, _, _ = fitted
    n = SPEC.n_top_genes
    for c in range(3):
        genes = model.class_genes[f"type{c}"]
        assert len(genes) == 2 * n
        up = {f"g{g}" for g in range(6 * c, 6 * c + N_MARKER)}
        down = {f"g{g}" for g in range(6 * c + N_MARKER, 6 * c + 2 * N_MARKER)}
        assert up <= set(genes[:n]), (c, genes[:n])
        assert down <= set(genes[n:]), (c, genes[n:])
        assert set(genes[:N_MARKER]) == up  # the strongest up-genes come first


def test_greedy_pair_acceptance_by_hand():
    pairs = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])
    score = np.array([0.9, 0.8, 0.7, 0.6, np.nan, -0.5])
    # gene 0 may be used twice: (0, 3) is skipped, (1, 2) fits; nan and negative scores never count
    assert scn.select_pairs(pairs, score, n=10, max_per_gene=2) == [(0, 1), (0, 2), (1, 2)]
    assert scn.select_pairs(pairs, score, n=2, max_per_gene=2) == [(0, 1), (0, 2)]
    assert scn.select_pairs(pairs, score, n=10, max_per_gene=1) == [(0, 1)]


def test_trained_pairs_respect_the_limits(fitted):
    model, _, _ = fitted
    for cls, pairs in model.class_pairs.items():
        assert len(pairs) == SPEC.n_top_pairs, cls
        used = np.bincount(np.ravel(pairs), minlength=len(model.genes))
        assert used.max() <= SPEC.max_pairs_per_gene, cls
        class_genes = set(model.class_genes[cls])
        assert all(model.genes[i] in class_genes and model.genes[j] in class_genes for i, j in pairs)


def test_pair_correlation_matches_pearson():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(60, 4))
    ind = np.arange(60) < 20
    z[ind, 0] += 1.5
    pairs, phi = scn.pair_correlation(z, np.array([0, 2, 3]), ind)
    assert [tuple(p) for p in pairs] == [(0, 2), (0, 3), (2, 3)]  # itertools.combinations order
    for k, (i, j) in enumerate(pairs):
        bits = (z[:, i] > z[:, j]).astype(float)
        assert phi[k] == pytest.approx(stats.pearsonr(ind.astype(float), bits)[0], abs=1e-12)


# ----------------------------------------------------------------------------------------- split


def test_split_per_class():
    labels = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 300)
    train, held = scn.split_per_class(labels, 200, 3, np.random.default_rng(0))
    counts = {c: int((labels[train] == c).sum()) for c in "abc"}
    assert counts == {"a": 7, "b": 2, "c": 200}
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(labels)
    assert {c: int((labels[held] == c).sum()) for c in "abc"} == {"a": 3, "b": 3, "c": 100}
    again, _ = scn.split_per_class(labels, 200, 3, np.random.default_rng(0))
    other, _ = scn.split_per_class(labels, 200, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)
    with pytest.raises(ValueError, match="'tiny'"):
        scn.split_per_class(np.array(["a"] * 10 + ["tiny"] * 3), 200, 3, np.random.default_rng(0))


# ---------------------------------------------------------------------------------- random class


def test_random_profiles():
    rng = np.random.default_rng(0)
    mat = (rng.uniform(size=(50, 12)) < np.linspace(0.1, 0.9, 12)).astype(float)
    out = scn.shuffle_rows_then_columns(mat, np.random.default_rng(7))
    step1 = np.random.default_rng(7).permuted(mat, axis=1)
    # step 1 keeps each row's multiset, step 2 each column's multiset of step 1's output
    np.testing.assert_array_equal(np.sort(step1, axis=1), np.sort(mat, axis=1))
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(step1, axis=0))
    assert out.sum() == mat.sum() and set(np.unique(out)) <= {0.0, 1.0}
    rand = scn.random_profiles(mat, 20, np.random.default_rng(7))
    np.testing.assert_array_equal(rand, out[:20])
    with pytest.raises(ValueError, match="n_rand"):
        scn.random_profiles(mat, 51, np.random.default_rng(7))


def test_rand_is_a_class(fitted, held_out):
    model, _, _ = fitted
    _, _, feats = held_out
    assert scn.RAND in model.classes and list(model.classes) == sorted(model.classes)
    assert model.svc.n_features_in_ == len(model.pairs)
    # fresh random profiles of the held-out features mostly land in "rand"
    rand = scn.random_profiles(feats, 30, np.random.default_rng(11))
    assert np.mean(scn.predict_pairs(model, rand) == scn.RAND) > 0.5


# ------------------------------------------------------------------------------------ classifier


def test_held_out_accuracy_and_missing_genes(data, fitted):
    counts, labels, genes = data
    model, train_idx, held = fitted
    assert len(train_idx) == 3 * SPEC.n_train_per_class and len(held) == 3 * 20
    res = scn.classify(model, counts[held], genes)
    assert res.n_missing_genes == 0
    assert np.mean(res.labels == labels[held]) > 0.9
    assert list(res.scores.columns) == list(model.classes)
    np.testing.assert_array_equal(res.labels, model.classes[res.scores.to_numpy().argmax(1)])
    # log1p-CPM gives the same labels; a query lacking two of the model's (unplanted) genes reads them as 0
    np.testing.assert_array_equal(scn.classify(model, scn.log1p_cpm(counts[held]), genes).labels, res.labels)
    unplanted = [g for g in model.genes if int(g[1:]) >= 6 * 3]
    drop = np.isin(genes, unplanted[:2])
    partial = scn.classify(model, counts[held][:, ~drop], genes[~drop])
    assert partial.n_missing_genes == 2
    assert np.mean(partial.labels == labels[held]) > 0.9


def test_same_seed_same_model(data, fitted):
    counts, labels, genes = data
    model, train_idx, held = fitted
    again, train2, _ = scn.fit_reference(counts, labels, genes, SPEC, seed=0)
    np.testing.assert_array_equal(train_idx, train2)
    np.testing.assert_array_equal(again.pairs, model.pairs)
    np.testing.assert_array_equal(scn.classify(again, counts, genes).scores.to_numpy(),
                                  scn.classify(model, counts, genes).scores.to_numpy())
    _, train3, _ = scn.fit_reference(counts, labels, genes, SPEC, seed=1)
    assert not np.array_equal(train_idx, train3)


def test_training_input_errors(data):
    counts, labels, genes = data
    with pytest.raises(ValueError, match="'rand'"):
        scn.train_scn(counts[:20], np.array(["rand"] * 10 + ["x"] * 10), genes, SPEC)
    with pytest.raises(ValueError, match="genes"):
        scn.train_scn(counts[:20], labels[:20], genes[:-1], SPEC)


# ----------------------------------------------------------------------------- torch decision


def _ovo_copy(svc: SVC) -> SVC:
    out = copy.deepcopy(svc)
    out.decision_function_shape = "ovo"
    return out


@pytest.mark.parametrize("kernel,n_classes", [("rbf", 4), ("linear", 4), ("poly", 3), ("rbf", 2)])
def test_torch_ovo_equals_sklearn(kernel, n_classes):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(120, 8))
    y = rng.integers(0, n_classes, 120)
    x[:, 0] += y  # some structure, still many support vectors
    svc = SVC(kernel=kernel, gamma="scale").fit(x, y)
    query = rng.uniform(-0.5, n_classes, size=(50, 8))
    torch_ovo = scn.TorchOvOSVC(svc)(torch.as_tensor(query)).detach().numpy()
    want = _ovo_copy(svc).decision_function(query).reshape(50, -1)
    np.testing.assert_allclose(torch_ovo, want, atol=1e-5, rtol=0)


def test_margin_loss_gradient_equals_finite_differences(fitted, held_out):
    """The attack's gradient is that of −Σ_k margin(y over k) computed from sklearn itself."""
    model, _, _ = fitted
    labels, _, feats = held_out
    ovo = scn.TorchOvOSVC(model.svc)
    svc = _ovo_copy(model.svc)
    y = scn._class_indices(model, labels[:3]).numpy()
    x0 = np.random.default_rng(2).uniform(size=(3, feats.shape[1]))

    def loss(z, cls):
        d = svc.decision_function(z[None])[0]
        return -sum(d[p] if i == cls else -d[p] for p, (i, j) in enumerate(ovo.class_pairs) if cls in (i, j))

    x = torch.tensor(x0, requires_grad=True)
    scn.ovo_margin_loss(ovo, ovo(x), torch.as_tensor(y)).sum().backward()
    h, eye = 1e-6, np.eye(x0.shape[1])
    for c in range(3):
        num = [(loss(x0[c] + h * eye[k], y[c]) - loss(x0[c] - h * eye[k], y[c])) / (2 * h) for k in range(len(eye))]
        np.testing.assert_allclose(x.grad[c].numpy(), num, atol=1e-6)


def test_binary_margin_loss_sign():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] > 0).astype(int)
    svc = SVC().fit(x, y)
    ovo = scn.TorchOvOSVC(svc)
    loss = scn.ovo_margin_loss(ovo, ovo(torch.as_tensor(x)), torch.as_tensor(y)).numpy()
    np.testing.assert_array_equal(loss < 0, svc.predict(x) == y)


# ---------------------------------------------------------------------------------------- BPDA


def test_bpda_forward_is_exact_and_its_gradient_is_not_zero():
    e = torch.tensor([[1.00, 0.99, 3.0, 0.0]], dtype=torch.float64, requires_grad=True)
    pairs = torch.tensor([(0, 1), (2, 3)])
    out = scn.bpda_pairs(e, pairs, tau=0.1)
    np.testing.assert_array_equal(out.detach().numpy(), scn.pair_transform(e.detach().numpy(), pairs.numpy()))
    (grad,) = torch.autograd.grad(out[0, 0], e)
    # the exact transform is flat around e (a small step changes nothing) ...
    for k in range(4):
        step = torch.zeros_like(e)
        step[0, k] = 1e-3
        np.testing.assert_array_equal(scn.pair_transform((e + step).detach().numpy(), pairs.numpy()),
                                      out.detach().numpy())
    # ... while the surrogate's gradient of the near-tie pair is sigmoid'(0.1)/tau, +/- on its genes
    s = torch.sigmoid(torch.tensor(0.1, dtype=torch.float64))
    want = float(s * (1 - s) / 0.1)
    np.testing.assert_allclose(grad.numpy()[0], [want, -want, 0.0, 0.0], rtol=1e-12)


def test_attacks_respect_the_ball_and_the_box(fitted, held_out):
    model, _, _ = fitted
    labels, e, feats = held_out
    for fn in (scn.fgsm_pairs, scn.pgd_pairs):
        adv = fn(model, feats, labels, 0.3, device="cpu")
        assert np.abs(adv - feats).max() <= 0.3 + 1e-12 and adv.min() >= 0 and adv.max() <= 1
    for fn in (scn.fgsm_bpda, scn.pgd_bpda):
        adv = fn(model, e, labels, 1.0, device="cpu")
        assert np.abs(adv - e).max() <= 1.0 + 1e-12 and adv.min() >= 0
    np.testing.assert_array_equal(scn.fgsm_pairs(model, feats, labels, 0.0, device="cpu"), feats)


def test_attacks_lower_accuracy(fitted, held_out):
    model, _, _ = fitted
    labels, e, feats = held_out
    clean = np.mean(scn.predict_pairs(model, feats) == labels)
    assert clean > 0.9 and np.mean(scn.predict_logcpm(model, e) == labels) == clean
    for fn in (scn.fgsm_pairs, scn.pgd_pairs):
        adv = fn(model, feats, labels, 0.3, device="cpu")
        assert np.mean(scn.predict_pairs(model, adv) == labels) < clean - 0.5, fn.__name__
    for fn in (scn.fgsm_bpda, scn.pgd_bpda):
        adv = fn(model, e, labels, 1.0, device="cpu")
        assert np.mean(scn.predict_logcpm(model, adv) == labels) < clean - 0.5, fn.__name__
    # a tiny ε does (almost) nothing
    tiny = scn.pgd_bpda(model, e, labels, 1e-4, device="cpu")
    assert np.mean(scn.predict_logcpm(model, tiny) == labels) >= clean - 0.05


# -------------------------------------------------------------------------------------- metrics


def test_precision_recall_equals_classification_report():
    y_true = ["a", "a", "b", "b", "b", "c", "c"]
    y_pred = ["a", "b", "b", "b", "rand", "a", "a"]  # "c" is never predicted
    table = scn.precision_recall(y_true, y_pred, ["a", "b", "c"])
    assert list(table.columns) == ["class", "precision", "recall", "support"]
    report = classification_report(y_true, y_pred, labels=["a", "b", "c"], output_dict=True, zero_division=0)
    for row in table.itertuples():
        assert row.precision == pytest.approx(report[row._1]["precision"])
        assert row.recall == pytest.approx(report[row._1]["recall"])
        assert row.support == report[row._1]["support"]
    assert table.set_index("class").loc["c", "precision"] == 0 and table.loc[0, "precision"] == pytest.approx(1 / 3)
    # a class without cells: its recall is undefined (NaN), not 0
    table = scn.precision_recall(y_true, y_pred, ["a", "b", "c", "d"]).set_index("class")
    assert table.loc["d", "support"] == 0 and np.isnan(table.loc["d", "recall"])
    assert table.loc[["a", "b", "c"], "recall"].notna().all()


def test_read_label_map_checks_its_columns_and_duplicates(tmp_path):
    from advinterp.singlecellnet import read_label_map

    path = tmp_path / "map.tsv"
    path.write_text("query_label\treference_class\nB_cells\tB cell\nClub_cells\tepithelial cell\n")
    assert read_label_map(str(path)) == {"B_cells": "B cell", "Club_cells": "epithelial cell"}
    assert read_label_map(None) is None
    path.write_text("label\tclass\nB_cells\tB cell\n")
    with pytest.raises(ValueError, match="needs columns query_label, reference_class"):
        read_label_map(str(path))
    path.write_text("query_label\treference_class\nB_cells\tB cell\nB_cells\tT cell\n")
    with pytest.raises(ValueError, match=r"mapped more than once: \['B_cells'\]"):
        read_label_map(str(path))
    # an empty class: reviewed and left unmapped; further columns are the reviewer's
    path.write_text("query_label\treference_class\tbasis\nB_cells\tB cell\tsame type\nnan\t\tno label\n"
                    "Club_cells\tepithelial cel\tairway epithelium\n")
    assert read_label_map(str(path)) == {"B_cells": "B cell", "Club_cells": "epithelial cel"}
    with pytest.raises(ValueError, match=r"map.tsv: reference_class names classes the reference does not have: "
                       r"\['epithelial cel'\]; the reference's classes are \['B cell', 'epithelial cell'\]"):
        read_label_map(str(path), ["B cell", "epithelial cell", "B cell"])


#: the reference's classes as the pySCN tutorial's figures show them (docs/methods.md, Fig. 5)
LUNG_REFERENCE_CLASSES = {"B cell", "endothelial cell", "epithelial cell", "granulocyte", "lymphocyte", "macrophage",
                          "monocyte", "myeloid cell", "natural killer cell", "stromal cell"}


def test_the_shipped_lung_label_map_reviews_every_query_label_once():
    """workflow/resources/labelmaps/lung_query_to_reference.tsv: each of GSE124872's 33 cell types once,
    mapped onto a class of the reference or left unmapped with a reason."""
    from advinterp.singlecellnet import read_label_map

    path = Path(__file__).resolve().parents[1] / "workflow/resources/labelmaps/lung_query_to_reference.tsv"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["query_label", "reference_class", "basis"] and len(table) == 33
    assert (table["basis"].str.len() > 10).all()
    unmapped = table[table["reference_class"] == ""]
    assert unmapped["basis"].str.startswith("left unmapped:").all()
    mapping = read_label_map(str(path), sorted(LUNG_REFERENCE_CLASSES))
    assert len(mapping) == 33 - len(unmapped) and set(mapping.values()) == LUNG_REFERENCE_CLASSES
    assert mapping["Type_2_pneumocytes"] == "epithelial cell" and mapping["Alveolar_macrophage"] == "macrophage"
    assert {"low_quality_cells", "red_blood_cells", "Mki67+_proliferating_cells"} <= set(unmapped["query_label"])


def test_evaluate_annotator_reports_held_out_query_and_unmapped_labels():
    import anndata as ad

    from advinterp.singlecellnet import evaluate_annotator

    rng = np.random.default_rng(0)
    genes = [f"g{j}" for j in range(24)]

    def counts(labels):
        x = rng.poisson(2.0, (len(labels), len(genes))).astype(float)
        for k, cls in enumerate(["a", "b", "c"]):
            x[np.asarray(labels) == cls, 3 * k:3 * k + 3] += 20
        return x

    ref_labels = rng.choice(["a", "b", "c"], 400)
    reference = ad.AnnData(counts(ref_labels), obs=pd.DataFrame({"t": ref_labels}), var=pd.DataFrame(index=genes))
    q_labels = rng.choice(["A", "B", "C", "junk"], 200)
    truth = {"A": "a", "B": "b", "C": "c", "junk": "a"}
    query = ad.AnnData(counts([truth[x] for x in q_labels])[:, 2:], obs=pd.DataFrame({"ct": q_labels}),
                       var=pd.DataFrame(index=genes[2:]))  # two reference genes missing from the query
    spec = scn.SCNSpec(n_train_per_class=50, limit_to_hvg=False, n_top_genes=4, n_top_pairs=8, n_rand=20)
    table, composition, summary = evaluate_annotator(
        reference, query, "t", "ct", spec, {"pairs": [0, 0.4], "expression": [1.5]}, seed=1,
        label_map={"A": "a", "B": "b", "C": "c", "D": "d"}, device="cpu")
    assert summary["n_common_genes"] == 22 and summary["n_reference_train"] == 150
    assert summary["unmapped_query_labels"] == {"junk": int((q_labels == "junk").sum())}
    assert summary["map_labels_not_in_query"] == ["D"]  # mapped, but no query cell has it
    assert set(table["model"]) == {"reference_held_out", "query"}
    assert set(zip(table["attack_space"], table["epsilon"], strict=True)) == {("none", 0.0), ("pairs", 0.4),
                                                                             ("expression", 1.5)}
    query_clean = table[(table["model"] == "query") & (table["attack_space"] == "none")]
    assert query_clean["support"].sum() == int((q_labels != "junk").sum()) and query_clean["recall"].min() > 0.9
    for space in ["pairs", "expression"]:
        attacked = table[(table["model"] == "query") & (table["attack_space"] == space)]
        assert attacked["recall"].mean() < query_clean["recall"].mean()
    clean_comp = composition[composition["attack_space"] == "none"]
    assert clean_comp["n_cells"].sum() == 200 and set(clean_comp["query_label"]) == {"A", "B", "C", "junk"}
