"""Dataset loaders: the embedded pbmc68k counts."""

import numpy as np
import pytest

from advinterp.datasets import load_pbmc68k, recover_counts


def test_recover_counts_inverts_log_normalisation_and_flags_other_data():
    counts = np.array([[3.0, 0.0, 17.0], [1.0, 250.0, 4.0]])
    n_counts = counts.sum(axis=1) + np.array([100.0, 3000.0])  # genes not in the matrix count too
    log_norm = np.log1p(counts / n_counts[:, None] * 1e4).astype(np.float32)
    back, residual = recover_counts(log_norm, n_counts)
    np.testing.assert_array_equal(back, counts)
    assert residual < 1e-3
    _, wrong = recover_counts(log_norm, n_counts * 1.37)
    assert wrong > 0.05


def test_pbmc68k_counts_are_integers_with_the_documented_labels():
    adata = load_pbmc68k()
    assert adata.shape == (700, 765)
    assert np.array_equal(adata.X, np.rint(adata.X)) and adata.X.min() == 0
    labels = adata.obs["bulk_labels"].value_counts()
    assert len(labels) == 10 and labels.min() == 8 and labels["CD14+ Monocyte"] == 129
    # counts are consistent with the shipped log-normalised values: log1p(c / n_counts · 1e4)
    import scanpy as sc

    src = sc.datasets.pbmc68k_reduced()
    expected = np.log1p(adata.X.astype(np.float64) / src.obs["n_counts"].to_numpy()[:, None] * 1e4)
    np.testing.assert_allclose(expected, src.raw.X.toarray() if hasattr(src.raw.X, "toarray") else src.raw.X,
                               atol=5.01e-4)  # the file stores raw.X rounded to 3 decimals
    assert "LYZ" in adata.var_names and "NKG7" in adata.var_names


def test_pbmc68k_rejects_a_file_that_is_not_normalised_as_expected(monkeypatch):
    import scanpy as sc

    original = sc.datasets.pbmc68k_reduced

    def tampered():
        a = original()
        a.obs["n_counts"] = a.obs["n_counts"] * 1.37
        return a

    monkeypatch.setattr(sc.datasets, "pbmc68k_reduced", tampered)
    with pytest.raises(ValueError, match="pbmc68k: counts recovered"):
        load_pbmc68k()
