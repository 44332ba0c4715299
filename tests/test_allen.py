"""advinterp.allen_data and advinterp.allen_mlp: the Allen human MTG zip reader, Le et al.'s preprocessing and MLP,
F1 under attack."""

import tracemalloc
import zipfile

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import f1_score

from advinterp.allen_data import (
    PUBLISHED,
    encode_labels,
    preprocess_allen,
    read_allen_zip,
    sparse_column_medians,
    split_stratified,
)
from advinterp.allen_mlp import (
    HISTORY_COLUMNS,
    AllenAdversarialSpec,
    AllenMLP,
    AllenMLPSpec,
    attacked_f1,
    evaluate_allen,
    f1_per_class,
    f1_sweep,
    load_allen_model,
    save_allen_model,
    train_allen_mlp,
)

PREFIX = "human_MTG_2018-06-14_"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- a stand-in for the Allen zip, in its real layout ---------------------------------------------------

def allen_tables(n_genes=7, n_per_cluster=12, n_no_class=4, seed=0, density=0.4):
    rng = np.random.default_rng(seed)
    clusters = [c for c in ["Exc L2 LAMP5", "Inh L1 SST", "Astro L1-6 FGFR3"] for _ in range(n_per_cluster)]
    clusters += ["no class"] * n_no_class
    samples = [f"F2S4_16{i:04d}_A01" for i in range(len(clusters))]
    gene_ids = [str(1000 + 7 * g) for g in range(n_genes)]  # entrez ids, the matrices' first column
    shape = (n_genes, len(samples))
    exon = rng.poisson(5, shape) * (rng.random(shape) < density)
    intron = rng.poisson(3, shape) * (rng.random(shape) < density)
    genes = pd.DataFrame({"gene": [f"G{g}" for g in range(n_genes)], "chromosome": "1",
                          "entrez_id": [int(i) for i in gene_ids], "gene_name": "a gene"})
    meta = pd.DataFrame({"sample_name": samples, "sample_id": range(len(samples)), "cluster": clusters,
                         "donor_id": "H200.1023"})
    return {"exon": exon, "intron": intron, "gene_ids": gene_ids, "samples": samples, "genes": genes, "meta": meta}


def matrix_csv(counts, gene_ids, samples) -> bytes:
    return pd.DataFrame(counts, index=gene_ids, columns=samples).to_csv().encode()


def write_zip(path, t, skip=(), intron_gene_ids=None, meta=None, genes=None):
    members = {
        "exon-matrix.csv": matrix_csv(t["exon"], t["gene_ids"], t["samples"]),
        "intron-matrix.csv": matrix_csv(t["intron"], intron_gene_ids or t["gene_ids"], t["samples"]),
        "genes-rows.csv": (t["genes"] if genes is None else genes).to_csv(index=False).encode(),
        # the metadata in another order than the matrices' columns
        "samples-columns.csv": (t["meta"].iloc[::-1] if meta is None else meta).to_csv(index=False).encode(),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(PREFIX + "readme.txt", "Human MTG")
        for suffix, data in members.items():
            if suffix not in skip:
                zf.writestr(PREFIX + suffix, data)
    return path


def test_read_zip_sums_exon_and_intron_into_sparse_counts_with_aligned_metadata(tmp_path):
    t = allen_tables()
    adata = read_allen_zip(write_zip(tmp_path / "allen.zip", t), chunksize=500)
    assert sp.isspmatrix_csr(adata.X) and adata.X.dtype.kind == "i"
    assert adata.shape == (40, 7)
    np.testing.assert_array_equal(adata.X.toarray(), (t["exon"] + t["intron"]).T)
    assert list(adata.obs_names) == t["samples"]
    assert list(adata.obs["cluster"]) == list(t["meta"]["cluster"])  # realigned from the reversed table
    assert list(adata.var_names) == list(t["genes"]["gene"])
    assert list(adata.var["gene_id"]) == t["gene_ids"]
    assert adata.uns["allen_source"]["exon"] == PREFIX + "exon-matrix.csv"


@pytest.mark.parametrize("chunksize", [1, 2, 3])
def test_chunks_smaller_than_the_gene_count_give_the_same_result(tmp_path, chunksize):
    t = allen_tables()
    path = write_zip(tmp_path / "allen.zip", t)
    whole, chunked = read_allen_zip(path, chunksize=100), read_allen_zip(path, chunksize=chunksize)
    assert (whole.X != chunked.X).nnz == 0 and whole.X.dtype == chunked.X.dtype
    pd.testing.assert_frame_equal(whole.obs, chunked.obs)
    pd.testing.assert_frame_equal(whole.var, chunked.var)


def test_a_missing_member_is_named(tmp_path):
    path = write_zip(tmp_path / "partial.zip", allen_tables(), skip=("intron-matrix.csv",))
    with pytest.raises(ValueError, match=r"partial\.zip.*intron-matrix\.csv"):
        read_allen_zip(path)


def test_exon_and_intron_genes_in_another_order_are_an_error_naming_them(tmp_path):
    t = allen_tables()
    ids = list(t["gene_ids"])
    ids[4], ids[5] = ids[5], ids[4]
    path = write_zip(tmp_path / "allen.zip", t, intron_gene_ids=ids)
    with pytest.raises(ValueError, match=rf"gene order: gene 5 is '?{t['gene_ids'][4]}'? in the exon.*"
                                         rf"'?{t['gene_ids'][5]}'? in the intron"):
        read_allen_zip(path, chunksize=2)


def test_samples_and_genes_that_do_not_match_are_errors_naming_them(tmp_path):
    t = allen_tables()
    meta = t["meta"].copy()
    meta.loc[3, "sample_name"] = "not_a_nucleus"
    with pytest.raises(ValueError, match=r"F2S4_160003_A01.*not_a_nucleus"):
        read_allen_zip(write_zip(tmp_path / "a.zip", t, meta=meta))
    genes = t["genes"].copy()
    genes.loc[2, "entrez_id"] = 99
    with pytest.raises(ValueError, match=r"row 3 has entrez_id '99'"):
        read_allen_zip(write_zip(tmp_path / "b.zip", t, genes=genes))


def test_integer_gene_ids_read_as_floats_still_match(tmp_path):
    t = allen_tables()
    genes = t["genes"].astype({"entrez_id": float})
    adata = read_allen_zip(write_zip(tmp_path / "allen.zip", t, genes=genes))
    assert list(adata.var["gene_id"]) == t["gene_ids"]


def test_reader_peak_memory_stays_well_below_the_dense_matrix(tmp_path):
    """Python-level allocations (numpy's included; not the CSV parser's own C buffers) while reading
    5,000 genes × 300 nuclei at ~6 % density in chunks of 200 genes stay a fraction of the dense int64
    matrix (12 MB); measured 0.38 of it, most of it fixed overhead and the sparse result."""
    t = allen_tables(n_genes=5000, n_per_cluster=96, n_no_class=12, density=0.03)
    path = write_zip(tmp_path / "allen.zip", t)
    dense_bytes = 5000 * 300 * 8
    tracemalloc.start()
    try:
        adata = read_allen_zip(path, chunksize=200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(adata.X.toarray(), (t["exon"] + t["intron"]).T)
    assert peak < 0.5 * dense_bytes, peak


# --- preprocessing ----------------------------------------------------------------------------------------

def hand_made():
    # genes: varies, one cell per cluster only (medians 0 in both), zero, only in the "no class" cell, filler
    counts = np.array([
        [3, 1, 0, 0, 6],    # A, total 10
        [2, 0, 0, 0, 8],    # A, total 10
        [5, 0, 0, 0, 15],   # A, total 20
        [0, 2, 0, 0, 18],   # B, total 20
        [0, 0, 0, 0, 10],   # B, total 10
        [1, 0, 0, 0, 9],    # B, total 10
        [0, 0, 0, 7, 3],    # no class, total 10
    ])
    obs = pd.DataFrame({"cluster": ["A"] * 3 + ["B"] * 3 + ["no class"]}, index=[f"c{i}" for i in range(7)])
    var = pd.DataFrame(index=["varies", "one_cell", "zero", "no_class_only", "filler"])
    return ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)


def test_preprocessing_as_le_et_al_on_a_hand_made_matrix():
    out = preprocess_allen(hand_made())
    assert list(out.var_names) == ["varies", "filler"]
    assert list(out.obs_names) == [f"c{i}" for i in range(6)]
    # log2(CPM + 1), library size over all five genes (the dropped ones included)
    expected = np.log2(np.array([[3 / 10, 6 / 10], [2 / 10, 8 / 10], [5 / 20, 15 / 20],
                                 [0, 18 / 20], [0, 10 / 10], [1 / 10, 9 / 10]]) * 1e6 + 1)
    assert sp.issparse(out.X) and out.X.dtype == np.float32
    np.testing.assert_allclose(out.X.toarray(), expected, rtol=1e-6)
    assert out.uns["allen_preprocess"] | {"published": None} == {
        "cluster_key": "cluster", "n_cells_in": 7, "n_no_class": 1, "n_cells_kept": 6, "n_genes_in": 5,
        "n_genes_nonzero": 4, "n_genes_kept": 2, "n_clusters": 2, "published": None}
    assert out.uns["allen_preprocess"]["published"] == PUBLISHED
    assert PUBLISHED["n_cells_kept"] == PUBLISHED["n_nuclei"] - PUBLISHED["n_no_class"]


def test_a_gene_with_the_same_nonzero_median_in_every_cluster_is_dropped():
    # every cell has 10 counts; "flat" has 2 in every clustered cell (its "no class" value, 5, is not in
    # any cluster's median), so all its cluster medians are log2(200001)
    counts = np.array([[1, 2, 7], [3, 2, 5], [2, 2, 6], [0, 2, 8], [0, 2, 8], [1, 2, 7], [0, 5, 5]])
    obs = pd.DataFrame({"cluster": ["A"] * 3 + ["B"] * 3 + ["no class"]}, index=[f"c{i}" for i in range(7)])
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=["varies", "flat", "filler"]))
    out = preprocess_allen(adata)
    assert list(out.var_names) == ["varies", "filler"]
    assert out.uns["allen_preprocess"]["n_genes_nonzero"] == 3


def test_sparse_column_medians_match_numpy():
    rng = np.random.default_rng(1)
    for n_rows in (1, 4, 7):
        dense = rng.random((n_rows, 30)) * (rng.random((n_rows, 30)) < 0.4)
        dense[:, 0] = 0
        np.testing.assert_allclose(sparse_column_medians(sp.csr_matrix(dense)), np.median(dense, axis=0))
    with pytest.raises(ValueError, match="non-negative"):
        sparse_column_medians(sp.csr_matrix(-np.ones((2, 2))))


# --- the network --------------------------------------------------------------------------------------------

def planted(seed=0, n_per=100, k=3, n_strong=2, n_weak=60, sep=3.0, weak=0.4):
    """Classes told apart by a few strong genes (robust features: a gap of ``sep``) and many weakly
    shifted genes (non-robust: each moves by ``weak`` with unit noise)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    strong = rng.normal(0, 0.3, (len(y), n_strong))
    for c in range(1, k):
        strong[:, (c - 1) % n_strong] += sep * (y == c)
    weak_genes = weak * rng.choice([-1, 1], size=(k, n_weak))[y] + rng.normal(0, 1.0, (len(y), n_weak))
    return np.hstack([strong, weak_genes]).astype(np.float32), y


def split_planted(seed=0, **kwargs):
    x, y = planted(seed, **kwargs)
    train, val, test = split_stratified(y, seed=seed)
    return x[train], y[train], x[val], y[val], x[test], y[test]


def test_architecture_and_keras_initialisation():
    model = AllenMLP(50, 75)
    assert [(m.in_features, m.out_features) for m in model.hidden] == [(50, 100), (100, 100), (100, 100)]
    assert (model.out.in_features, model.out.out_features) == (100, 75)
    for layer in [*model.hidden, model.out]:
        limit = np.sqrt(6 / (layer.in_features + layer.out_features))  # Glorot uniform
        largest = float(layer.weight.detach().abs().max())
        assert 0.9 * limit < largest <= limit
        assert torch.all(layer.bias == 0)
    assert model(torch.zeros(4, 50)).shape == (4, 75)


def test_l2_penalty_is_on_hidden_kernels_only():
    model = AllenMLP(20, 5)
    with torch.no_grad():
        for layer in model.hidden:
            layer.weight.fill_(0.5)
            layer.bias.fill_(3.0)
        model.out.weight.fill_(7.0)
    assert model.l2_penalty().item() == pytest.approx(0.25 * (20 * 100 + 100 * 100 + 100 * 100))
    x, y = planted(n_weak=18)
    plain, _ = evaluate_allen(model, x, y, l2=0.0)
    regularised, _ = evaluate_allen(model, x, y, l2=1e-5)
    assert regularised - plain == pytest.approx(1e-5 * 0.25 * 22000, rel=1e-4)


def test_spec_defaults_and_config():
    spec = AllenMLPSpec()
    assert (spec.hidden, spec.l2, spec.learning_rate, spec.adam_epsilon, spec.batch_size, spec.max_epochs,
            spec.patience, spec.restore_best, spec.split) == ((100, 100, 100), 1e-5, 1e-3, 1e-7, 32, 30, 5, False,
                                                              (0.6, 0.2, 0.2))
    assert AllenMLPSpec.from_config({"hidden": [10, 10], "l2": "1e-4", "restore_best": True}) == AllenMLPSpec(
        hidden=(10, 10), l2=1e-4, restore_best=True)
    with pytest.raises(ValueError, match="epoch"):
        AllenMLPSpec.from_config({"epoch": 3})
    adv = AllenAdversarialSpec.from_config({"epsilon": 1, "attack": "pgd", "pgd_steps": 3})
    assert adv.attack_spec().pgd_steps == 3 and adv.epsilon == 1.0
    with pytest.raises(ValueError, match="epsilon"):
        AllenAdversarialSpec.from_config({"attack": "pgd"})
    with pytest.raises(ValueError, match="attack"):
        AllenAdversarialSpec(epsilon=1.0, attack="cw")


def test_trains_on_planted_classes_and_is_deterministic():
    xtr, ytr, xva, yva, xte, yte = split_planted()
    spec = AllenMLPSpec(max_epochs=10)
    model, history = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=3)
    assert list(history.columns) == HISTORY_COLUMNS and history["epoch"].tolist() == list(range(1, len(history) + 1))
    assert f1_per_class(yte, model(torch.as_tensor(xte)).argmax(1).numpy(), list("abc"))["f1"].min() > 0.9
    again, history_again = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=3)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    pd.testing.assert_frame_equal(history, history_again)
    other, _ = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=4)
    assert not torch.equal(model.out.weight, other.out.weight)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    xtr, ytr, xva, yva, _, _ = split_planted()
    # lr 0: the validation loss never changes, so only epoch 1 counts as an improvement (over +inf)
    model, history = train_allen_mlp(xtr, ytr, xva, yva, AllenMLPSpec(learning_rate=0.0, patience=2), seed=0)
    assert len(history) == 3 and history.attrs["stopped_early"] and history.attrs["best_epoch"] == 1
    torch.manual_seed(0)
    init = AllenMLP(xtr.shape[1], 3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), init.state_dict().values(), strict=True))


def test_the_last_weights_are_kept_unless_restore_best():
    xtr, ytr, xva, yva, _, _ = split_planted()
    yva_wrong = (yva + 1) % 3  # the better the network learns, the worse its validation loss
    results = {}
    for restore in (False, True):
        spec = AllenMLPSpec(patience=3, restore_best=restore)
        model, history = train_allen_mlp(xtr, ytr, xva, yva_wrong, spec, seed=0)
        assert history.attrs["stopped_early"] and len(history) == history.attrs["best_epoch"] + 3
        results[restore] = (evaluate_allen(model, xva, yva_wrong, spec.l2)[0], history)
    last, history = results[False]
    assert last == pytest.approx(history["val_loss"].iloc[-1], rel=1e-6)
    assert history["val_loss"].min() < history["val_loss"].iloc[-1]
    best, history = results[True]
    assert best == pytest.approx(history["val_loss"].min(), rel=1e-6) and history.attrs["restored_best"]


def test_stratified_split_proportions_and_determinism():
    labels = np.repeat(["a", "b", "c"], [50, 30, 20])
    train, val, test = split_stratified(labels, (0.6, 0.2, 0.2), seed=314)
    assert len(np.intersect1d(train, val)) == len(np.intersect1d(train, test)) == len(np.intersect1d(val, test)) == 0
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    for c, n in [("a", 50), ("b", 30), ("c", 20)]:
        assert abs((labels[train] == c).sum() - 0.6 * n) <= 1
        assert abs((labels[val] == c).sum() - 0.2 * n) <= 1 and abs((labels[test] == c).sum() - 0.2 * n) <= 1
    again = split_stratified(labels, (0.6, 0.2, 0.2), seed=314)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(train, split_stratified(labels, seed=1)[0])
    with pytest.raises(ValueError, match="fractions"):
        split_stratified(labels, (0.6, 0.3, 0.2))


def test_encode_labels_sorted():
    codes, names = encode_labels(["b", "a", "c", "a"])
    assert names == ["a", "b", "c"] and codes.tolist() == [1, 0, 2, 0]


# --- evaluation and attacks ---------------------------------------------------------------------------------

def test_f1_per_class_lists_every_class():
    table = f1_per_class([0, 0, 1, 1], [0, 1, 1, 1], ["x", "y", "absent"])
    assert list(table.columns) == ["class", "f1", "support"] and table["class"].tolist() == ["x", "y", "absent"]
    np.testing.assert_allclose(table["f1"], f1_score([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1, 2], average=None,
                                                     zero_division=0))
    assert table["support"].tolist() == [2, 2, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fgsm_lowers_f1_and_adversarial_training_keeps_it_higher(seed):
    xtr, ytr, xva, yva, xte, yte = split_planted(seed)
    spec = AllenMLPSpec(max_epochs=20, patience=20)
    standard, _ = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=seed)
    robust, _ = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=seed, adversarial=AllenAdversarialSpec(epsilon=0.5))
    names = ["a", "b", "c"]
    clean = attacked_f1(standard, xte, yte, names, "fgsm", 0.0)["f1"].mean()
    attacked = attacked_f1(standard, xte, yte, names, "fgsm", 0.5)["f1"].mean()
    attacked_robust = attacked_f1(robust, xte, yte, names, "fgsm", 0.5)["f1"].mean()
    assert clean > 0.9 and attacked < clean - 0.4
    assert attacked_robust > attacked + 0.15


def test_adversarial_training_with_pgd_is_deterministic_and_changes_the_weights():
    xtr, ytr, xva, yva, _, _ = split_planted(n_per=40)
    spec = AllenMLPSpec(max_epochs=3)
    adv = AllenAdversarialSpec(epsilon=0.3, attack="pgd", pgd_steps=2, pgd_random_start=True)
    a, history = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=5, adversarial=adv)
    b, _ = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=5, adversarial=adv)
    standard, _ = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=5)
    assert len(history) == 3
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.out.weight, standard.out.weight)


def test_f1_sweep_and_model_round_trip(tmp_path):
    xtr, ytr, xva, yva, xte, yte = split_planted(n_per=40)
    spec = AllenMLPSpec(max_epochs=3)
    model, _ = train_allen_mlp(xtr, ytr, xva, yva, spec, seed=0)
    table = f1_sweep(model, sp.csr_matrix(xte), yte, ["a", "b", "c"], ["fgsm", "pgd"], [0.0, 0.5])
    assert list(table.columns) == ["attack", "epsilon", "class", "f1", "support"]
    assert table.groupby(["attack", "epsilon"]).size().to_dict() == {("fgsm", 0.5): 3, ("none", 0.0): 3,
                                                                     ("pgd", 0.5): 3}
    save_allen_model(tmp_path / "m.pt", model, ["a", "b", "c"], [f"g{i}" for i in range(xtr.shape[1])], spec, seed=0)
    loaded, payload = load_allen_model(tmp_path / "m.pt")
    assert payload["spec"]["hidden"] == (100, 100, 100) and payload["meta"] == {"seed": 0}
    assert torch.equal(loaded(torch.as_tensor(xte)), model(torch.as_tensor(xte)))
