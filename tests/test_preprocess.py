import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from advinterp.preprocess import PreprocessSpec, preprocess
from advinterp.store import zscored


def make_counts(n_cells=200, n_genes=80, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b", "c", "d"], n_cells // 4)
    rates = rng.gamma(2.0, 2.0, size=(4, n_genes))
    rates[:, :5] = 0.01  # five genes too rare to pass the min_counts filter
    x = rng.poisson(rates[np.searchsorted(["a", "b", "c", "d"], labels)]).astype(np.int64)
    obs = pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(n_cells)])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    return ad.AnnData(sp.csr_matrix(x) if sparse else x, obs=obs, var=var)


SPEC = PreprocessSpec(label_key="cell_type", min_counts=30, n_hvg=40, test_size=0.25)


def test_no_leakage_zscore_uses_train_cells_only():
    out = preprocess(make_counts(), SPEC, seed=1)
    train = (out.obs["split"] == "train").to_numpy()
    logx = out.X.toarray()  # the store keeps log-normalised values; the model input is z-scored from them
    np.testing.assert_allclose(out.var["train_mean"], logx[train].mean(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.var["train_std"], logx[train].std(axis=0), rtol=1e-6, atol=1e-7)
    # the statistics differ from those of all cells, so test cells did not leak in
    assert not np.allclose(out.var["train_mean"], logx.mean(axis=0), rtol=1e-6, atol=1e-7)
    z = np.asarray(zscored(out))
    np.testing.assert_allclose(z[train].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[train].std(axis=0), 1, atol=1e-4)
    assert abs(z[~train].mean()) > 1e-6


def test_the_store_is_sparse_log_normalised_values_and_the_zscoring_is_the_dense_one():
    raw = make_counts()
    out = preprocess(raw, SPEC, seed=1)
    assert sp.isspmatrix_csr(out.X) and out.X.dtype == np.float32 and not out.layers
    assert out.uns["preprocess"]["x"] == "log_normalized"
    # log1p of library-size-normalised counts of the kept genes, by hand
    counts = raw.X[:, np.isin(raw.var_names, ["gene0", "gene1", "gene2", "gene3", "gene4"], invert=True)]
    by_hand = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    kept = [list(raw.var_names[5:]).index(g) for g in out.var_names]
    np.testing.assert_allclose(out.X.toarray(), by_hand[:, kept], rtol=1e-5)
    # z-scored on demand equals the dense in-memory z-scoring, bit for bit
    train = (out.obs["split"] == "train").to_numpy()
    logx = out.X.toarray()
    mean, std = logx[train].mean(axis=0), logx[train].std(axis=0)
    np.testing.assert_array_equal(np.asarray(zscored(out)), ((logx - mean) / np.where(std > 0, std, 1)))


def test_hvg_selection_split_and_samples():
    raw = make_counts()
    out = preprocess(raw, SPEC, seed=1)
    assert out.n_vars == 40 and out.var["highly_variable"].all()
    assert not set(out.var_names) & {f"gene{j}" for j in range(5)}  # failed min_counts
    assert out.X.dtype == np.float32
    # stratified 75/25 split: every class keeps its proportion
    frac = out.obs.groupby("cell_type", observed=True)["split"].apply(lambda s: (s == "test").mean())
    np.testing.assert_allclose(frac, 0.25, atol=0.011)  # 12 or 13 of 50 cells
    assert out.uns["preprocess"]["label_key"] == "cell_type"
    # the seed decides the split
    assert preprocess(raw, SPEC, seed=1).obs["split"].equals(out.obs["split"])
    assert not preprocess(raw, SPEC, seed=2).obs["split"].equals(out.obs["split"])
    # no caps: every cell is in the samples (the embedded default's results do not change)
    assert out.obs["sample_embedding"].all()
    assert out.obs["sample_evaluation"].equals(out.obs["split"] == "test")
    assert out.uns["preprocess"]["samples"]["evaluation"] == {"n_cells": 50, "of": 50}
    capped = preprocess(raw, SPEC, seed=1, samples={"embedding": 100, "evaluation": 20})
    assert capped.uns["preprocess"]["samples"] == {"embedding": {"n_cells": 100, "of": 200, "max_cells": 100},
                                                   "evaluation": {"n_cells": 20, "of": 50, "max_cells": 20}}
    sampled = capped.obs[capped.obs["sample_evaluation"]]
    assert (sampled["split"] == "test").all() and sampled["cell_type"].value_counts().tolist() == [5, 5, 5, 5]
    assert capped.obs.loc[capped.obs["sample_embedding"], "cell_type"].value_counts().tolist() == [25] * 4


def test_keeps_all_genes_when_fewer_than_n_hvg(caplog):
    with caplog.at_level(logging.WARNING):
        out = preprocess(make_counts(sparse=True), PreprocessSpec(n_hvg=2500), seed=0)
    assert out.n_vars == 75
    assert "keeping them all" in caplog.text


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda a: a.obs.rename(columns={"cell_type": "celltype"}, inplace=True), "label key 'cell_type'.*celltype"),
        (lambda a: a.X.__setitem__((0, 0), -1), "negative"),
        (lambda a: a.X.__setitem__((0, 0), np.nan), "NaN"),
        (lambda a: a.X.__setitem__((0, 0), 0.5), "non-integer"),
        (lambda a: setattr(a, "var_names", ["g"] * 2 + [f"x{j}" for j in range(78)]), "duplicate gene names"),
    ],
)
def test_bad_input_one_clear_error(corrupt, message):
    adata = make_counts()
    adata.X = adata.X.astype(float)
    corrupt(adata)
    with pytest.raises(ValueError, match=message):
        preprocess(adata, SPEC, seed=0)


def test_no_gene_passes_min_counts():
    with pytest.raises(ValueError, match="min_counts"):
        preprocess(make_counts(), PreprocessSpec(min_counts=10**9), seed=0)


def test_small_classes_are_an_error_or_dropped_with_a_warning(caplog):
    from advinterp.preprocess import enforce_min_cells

    labels = ["a"] * 10 + ["b"] * 10 + ["rare"] * 3
    adata = ad.AnnData(X=np.ones((23, 2), dtype=np.float32),
                       obs=pd.DataFrame({"cell_type": pd.Categorical(labels)}, index=[f"c{i}" for i in range(23)]))
    assert enforce_min_cells(adata, "cell_type", 3) is adata
    with pytest.raises(ValueError, match=r"mine: classes with fewer than 5 cells \(min_cells_per_class\): rare \(3\)"):
        enforce_min_cells(adata, "cell_type", 5, source="mine")
    with caplog.at_level("WARNING"):
        kept = enforce_min_cells(adata, "cell_type", 5, action="drop")
    assert kept.n_obs == 20 and list(kept.obs["cell_type"].cat.categories) == ["a", "b"]
    assert "dropping classes with fewer than 5 cells: rare (3)" in caplog.text
    with pytest.raises(ValueError, match="would leave fewer than two classes"):
        enforce_min_cells(adata, "cell_type", 11, action="drop")


def test_log_normalized_input_skips_normalisation_and_filters_by_cells():
    raw = make_counts()
    logged = raw.copy()
    logged.X = np.log2(raw.X / raw.X.sum(axis=1, keepdims=True) * 1e6 + 1).astype(np.float32)  # log2(CPM + 1)
    logged.X[:, 5:8] = 0
    logged.X[:2, 5] = 1.0  # expressed in 2 cells: below min_cells=3
    spec = PreprocessSpec(label_key="cell_type", min_cells=3, n_hvg=40, test_size=0.25, values="log_normalized")
    out = preprocess(logged, spec, seed=0)
    assert not out.layers and out.uns["preprocess"]["values"] == "log_normalized"
    assert not {"gene5", "gene6", "gene7"} & set(out.var_names)
    # the values are used as they are: no library-size normalisation, no second log
    np.testing.assert_allclose(out.X.toarray(), logged[:, out.var_names].X, rtol=1e-6)


def test_normalized_input_is_logged_then_takes_the_log_path():
    # SMART-seq2-like TPM: non-integer, not logged (declared as log_normalized it used to crash in scanpy's HVG bins)
    raw = make_counts()
    tpm = raw.copy()
    tpm.X = (raw.X / raw.X.sum(axis=1, keepdims=True) * 1e6).astype(np.float32)
    spec = PreprocessSpec(label_key="cell_type", min_cells=3, n_hvg=40, test_size=0.25, values="normalized")
    out = preprocess(tpm, spec, seed=0)
    assert out.uns["preprocess"]["values"] == "normalized" and not out.layers
    np.testing.assert_allclose(out.X.toarray(), np.log1p(tpm[:, out.var_names].X), rtol=1e-5)
    with pytest.raises(ValueError, match=r"X reaches .* beyond any log scale .* set values: normalized"):
        preprocess(tpm, PreprocessSpec(label_key="cell_type", n_hvg=40, values="log_normalized"), 0)
    with pytest.raises(ValueError, match="seurat_v3' models counts, but this dataset has normalized values"):
        preprocess(tpm, PreprocessSpec(label_key="cell_type", hvg_flavor="seurat_v3", values="normalized"), 0)


def test_log_normalized_input_errors():
    logged = make_counts()
    logged.X = np.log1p(logged.X).astype(np.float32)
    spec = PreprocessSpec(label_key="cell_type", n_hvg=40, values="log_normalized")
    with pytest.raises(ValueError, match="seurat_v3' models counts"):
        preprocess(logged, PreprocessSpec(label_key="cell_type", hvg_flavor="seurat_v3", values="log_normalized"), 0)
    zscored = logged.copy()
    zscored.X = zscored.X - zscored.X.mean(axis=0)
    with pytest.raises(ValueError, match="negative values, but log-normalised values"):
        preprocess(zscored, spec, 0)
    with pytest.raises(ValueError, match=r"no gene is left: none are expressed in >= 1000 cells"):
        preprocess(logged, PreprocessSpec(label_key="cell_type", min_cells=1000, values="log_normalized"), 0)


def with_zero_cells(sparse=False):
    """make_counts with cells c0 and c60 (classes a and b) holding counts only in gene0, which fails
    min_counts: after the gene filter they are zero vectors."""
    raw = make_counts()
    x = raw.X.copy()
    for i in (0, 60):
        x[i] = 0
        x[i, 0] = 1
    assert x[:, 0].sum() < 30
    return ad.AnnData(sp.csr_matrix(x) if sparse else x, obs=raw.obs, var=raw.var)


@pytest.mark.parametrize("sparse", [False, True])
def test_cells_with_zero_counts_after_the_gene_filter_are_dropped_and_counted(caplog, sparse):
    with caplog.at_level(logging.WARNING):
        out = preprocess(with_zero_cells(sparse), SPEC, seed=1, source="dataset planted")
    assert out.n_obs == 198 and not {"c0", "c60"} & set(out.obs_names)
    assert out.uns["preprocess"]["zero_cells"] == "drop"
    assert out.uns["preprocess"]["zero_cells_dropped"] == 2 and out.uns["preprocess"]["n_cells_input"] == 200
    assert "dataset planted: 2 of 200 cells have zero counts after the gene filter" in caplog.text
    assert "dropping them (preprocess.zero_cells: drop)" in caplog.text
    assert np.isfinite(np.asarray(zscored(out))).all()
    assert preprocess(make_counts(), SPEC, seed=1).uns["preprocess"]["zero_cells_dropped"] == 0


def test_cells_with_zero_counts_are_an_error_when_asked():
    spec = PreprocessSpec(label_key="cell_type", min_counts=30, n_hvg=40, test_size=0.25, zero_cells="error")
    with pytest.raises(ValueError) as info:
        preprocess(with_zero_cells(), spec, seed=1, source="dataset planted")
    message = str(info.value)
    assert message.startswith("dataset planted: 2 of 200 cells have zero counts after the gene filter")
    assert "preprocess.min_counts" in message and "set preprocess.zero_cells: drop" in message
    with pytest.raises(ValueError, match=r"preprocess.zero_cells='keep'; use one of \['drop', 'error'\]"):
        preprocess(make_counts(), PreprocessSpec(zero_cells="keep"), seed=1)


def test_dropping_zero_cells_below_min_cells_per_class_is_a_clear_error():
    # class a has 50 cells; dropping c0 leaves 49, class b (c60) too
    with pytest.raises(ValueError, match=r"dataset planted: 2 of 200 cells .* leaves classes with fewer than 50 cells "
                                         r"\(min_cells_per_class\): a \(49 left of 50\), b \(49 left of 50\)"):
        preprocess(with_zero_cells(), SPEC, seed=1, min_cells_per_class=50, source="dataset planted")
    assert preprocess(with_zero_cells(), SPEC, seed=1, min_cells_per_class=49).n_obs == 198
