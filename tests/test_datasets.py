"""Dataset loaders: the embedded pbmc68k counts."""

import numpy as np
import pytest
import scipy.sparse as sp

from advinterp.datasets import load_pbmc68k, read_mtx_dataset, recover_counts


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


def _write(adata, tmp_path, name="mine.h5ad"):
    path = tmp_path / name
    adata.write_h5ad(path)
    return str(path)


def _entry(**extra):
    return {"source": "path", "label_key": "cell_type", "organism": "hsapiens", "values": "counts", **extra}


def _blobs(n_genes=20):
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], [30, 30, 4])
    x = rng.poisson(3.0, size=(len(labels), n_genes)).astype(np.float32)
    obs = pd.DataFrame({"cell_type": labels, "batch": "x"}, index=[f"c{i}" for i in range(len(x))])
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))


def test_load_dataset_registry_pbmc68k():
    from advinterp.datasets import load_dataset

    adata = load_dataset("pbmc68k", {"source": "scanpy", "label_key": "bulk_labels", "organism": "hsapiens",
                                     "values": "counts", "n_cells": 700}, None, min_cells_per_class=5)
    assert adata.shape == (700, 765) and list(adata.obs.columns) == ["bulk_labels"]
    assert adata.uns["dataset"]["name"] == "pbmc68k"


def test_load_dataset_checks_each_bad_input(tmp_path):
    from advinterp.datasets import load_dataset

    good = _blobs()
    kw = {"min_cells_per_class": 3}
    cases = []
    missing_key = good.copy()
    missing_key.obs = missing_key.obs.rename(columns={"cell_type": "celltype"})
    cases.append((missing_key, _entry(),
                  r"label key 'cell_type' is not in obs; available keys: \['celltype', 'batch'\]"))
    with_nan = good.copy()
    with_nan.X[0, 0] = np.nan
    cases.append((with_nan, _entry(), "NaN or infinite"))
    negative = good.copy()
    negative.X[0, 0] = -1
    cases.append((negative, _entry(), "negative values but counts are expected"))
    fractional = good.copy()
    fractional.X[0, 0] = 0.5
    cases.append((fractional, _entry(), r"non-integer values \(e.g. 0.5\) but values: counts expects integer counts; "
                                        "set values: normalized"))
    tpm_as_log = good.copy()
    tpm_as_log.X = tpm_as_log.X * 1000.0 + 0.25  # TPM-like, declared as log values
    cases.append((tpm_as_log, _entry(values="log_normalized"), r"dataset mine: X reaches \d+.*beyond any log scale.*"
                                                              "set values: normalized"))
    one_class = good.copy()
    one_class.obs["cell_type"] = "a"
    cases.append((one_class, _entry(), r"dataset mine: obs\['cell_type'\] has 1 class; a cell-type classifier needs"))
    duplicated = good.copy()
    duplicated.var_names = ["g0"] * 2 + [f"g{j}" for j in range(2, 20)]
    cases.append((duplicated, _entry(), "duplicate gene names"))
    cases.append((good, _entry(counts_layer="spliced"), "counts_layer 'spliced' is not a layer"))
    cases.append((good, _entry(n_cells=100), "64 cells, the registry expects 100"))
    cases.append((good, _entry(labels=["a", "b", "d"]), r"missing: \['d'\], unexpected: \['c'\]"))
    for i, (adata, entry, message) in enumerate(cases):
        with pytest.raises(ValueError, match=message):
            load_dataset("mine", entry, _write(adata, tmp_path, f"case{i}.h5ad"), **kw)
    with pytest.raises(ValueError, match=r"classes with fewer than 5 cells \(min_cells_per_class\): c \(4\)"):
        load_dataset("mine", _entry(), _write(good, tmp_path), min_cells_per_class=5)
    for name, content in (("empty.h5ad", b""), ("corrupt.h5ad", b"not an HDF5 file at all" * 10)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"dataset mine: .*{name} is not a readable \.h5ad file"):
            load_dataset("mine", _entry(), str(tmp_path / name), **kw)


def test_load_dataset_drops_small_classes_and_reads_a_layer(tmp_path, caplog):
    from advinterp.datasets import load_dataset

    adata = _blobs()
    adata.layers["spliced"] = adata.X * 2
    adata.X = adata.X + 0.5  # X is not counts; the layer is
    out = load_dataset("mine", _entry(counts_layer="spliced"), _write(adata, tmp_path), min_cells_per_class=5,
                       small_classes="drop")
    assert out.n_obs == 60 and set(out.obs["cell_type"]) == {"a", "b"}
    np.testing.assert_array_equal(out.X, adata.layers["spliced"][:60])
    assert "dropping classes with fewer than 5 cells: c (4)" in caplog.text


def test_load_dataset_log_normalized_values(tmp_path):
    from advinterp.datasets import load_dataset

    adata = _blobs()
    adata.X = np.log2(adata.X + 1)
    out = load_dataset("mine", _entry(values="log_normalized"), _write(adata, tmp_path), min_cells_per_class=3)
    assert out.uns["dataset"]["values"] == "log_normalized"
    with pytest.raises(ValueError, match="non-integer values .* but values: counts expects integer counts"):
        load_dataset("mine", _entry(), _write(adata, tmp_path, "b.h5ad"), min_cells_per_class=3)


def _mtx_files(tmp_path, genes_by_cells=True):
    import gzip

    import pandas as pd
    import scipy.io

    counts = sp.random(5, 4, density=0.5, format="coo", random_state=1, data_rvs=lambda n: np.arange(1, n + 1))
    matrix = tmp_path / "m.mtx.gz"
    with gzip.open(matrix, "wb") as fh:
        scipy.io.mmwrite(fh, counts if genes_by_cells else counts.T)
    pd.DataFrame({"cellid": [f"c{i}" for i in range(4)], "celltype": ["a", "b", "a", "b"],
                  "nGene": [1, 2, 3, 4]}).rename(columns={"cellid": ""}).to_csv(tmp_path / "meta.csv", index=False)
    pd.DataFrame({"x": ["G1", "G2", "G3", "G4", "G5"]}).to_csv(tmp_path / "genes.csv", index=False)
    return matrix, tmp_path / "meta.csv", tmp_path / "genes.csv", counts.toarray()


@pytest.mark.parametrize("genes_by_cells", [True, False])
def test_read_mtx_dataset_either_orientation(tmp_path, genes_by_cells):
    matrix, meta, genes, dense = _mtx_files(tmp_path, genes_by_cells)
    adata = read_mtx_dataset(str(matrix), str(meta), str(genes))
    assert adata.shape == (4, 5) and sp.issparse(adata.X)
    np.testing.assert_array_equal(adata.X.toarray(), dense.T)
    assert list(adata.obs_names) == ["c0", "c1", "c2", "c3"] and list(adata.var_names) == ["G1", "G2", "G3", "G4", "G5"]
    assert adata.obs["celltype"].tolist() == ["a", "b", "a", "b"] and adata.obs["nGene"].tolist() == [1, 2, 3, 4]


def test_read_mtx_dataset_errors_name_the_files(tmp_path):
    import pandas as pd

    matrix, meta, genes, _ = _mtx_files(tmp_path)
    pd.DataFrame({"x": ["G1", "G2"]}).to_csv(tmp_path / "short.csv", index=False)
    expected = r"m\.mtx\.gz is 5 × 4, but .*meta\.csv lists 4 cells and .*short\.csv 2 genes"
    with pytest.raises(ValueError, match=expected):
        read_mtx_dataset(str(matrix), str(meta), str(tmp_path / "short.csv"))
    with pytest.raises(ValueError, match=r"genes\.csv has no column 'symbol'"):
        read_mtx_dataset(str(matrix), str(meta), str(genes), gene_column="symbol")
    (tmp_path / "bad.mtx").write_text("not a matrix")
    with pytest.raises(ValueError, match=r"bad\.mtx is not a readable Matrix Market file"):
        read_mtx_dataset(str(tmp_path / "bad.mtx"), str(meta), str(genes))


def test_cell_filter_keeps_cells_reaching_the_minimum_and_names_a_missing_column():
    import anndata as ad
    import pandas as pd

    from advinterp.datasets import apply_cell_filter

    adata = ad.AnnData(np.ones((4, 2)), obs=pd.DataFrame({"nGene": [100, 500, 501, 499]}, index=list("abcd")))
    assert list(apply_cell_filter(adata, {"nGene": 500}, "dataset q").obs_names) == ["b", "c"]
    with pytest.raises(ValueError, match=r"dataset q: cell_filter names obs column 'nUMI'"):
        apply_cell_filter(adata, {"nUMI": 1}, "dataset q")
