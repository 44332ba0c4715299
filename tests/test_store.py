"""The preprocessed store (advinterp.store): z-scoring on demand equals the in-memory one, bit for bit,
whether the rows come from a dense array, a sparse matrix in memory or the h5ad file on disk."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from advinterp.io import write_h5ad
from advinterp.model import device_batches, host_batch, on_device, split_data, split_store, train_classifier
from advinterp.preprocess import PreprocessSpec, preprocess
from advinterp.specs import Architecture, TrainSpec
from advinterp.store import (
    BackedCSR,
    ZScored,
    column_mean,
    open_store,
    stratified_sample,
    write_store,
    zscore,
    zscore_fit,
    zscored,
)


def log_values(n=1503, g=37, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.gamma(1.0, 2.0, size=(n, g)) * (rng.random((n, g)) < 0.3)
    x[:, 3] = 0  # a gene never expressed: SD 1
    return np.log1p(x).astype(np.float32)


@pytest.mark.parametrize("block_rows", [1, 7, 500, 4096])
def test_zscore_fit_is_numpy_mean_and_std_bit_for_bit(block_rows):
    x = log_values()
    mean, std = zscore_fit(sp.csr_matrix(x), block_rows=block_rows)
    np.testing.assert_array_equal(mean, x.mean(axis=0))
    np.testing.assert_array_equal(std, np.where(x.std(axis=0) > 0, x.std(axis=0), 1))
    assert std[3] == 1 and mean.dtype == std.dtype == np.float32
    np.testing.assert_array_equal(zscore_fit(x, block_rows=block_rows)[0], mean)  # dense input: the same
    rows = np.flatnonzero(np.arange(len(x)) % 3 != 0)  # a subset (the training cells), never copied whole
    sub_mean, sub_std = zscore_fit(sp.csr_matrix(x), rows, block_rows)
    np.testing.assert_array_equal(sub_mean, x[rows].mean(axis=0))
    np.testing.assert_array_equal(sub_std, np.where(x[rows].std(axis=0) > 0, x[rows].std(axis=0), 1))
    with pytest.raises(ValueError, match="no rows"):
        zscore_fit(x[:0])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A preprocessed store written as the preprocess rule writes it, and its dense z-scored input."""
    rng = np.random.default_rng(1)
    labels = np.repeat(["a", "b", "c"], [300, 200, 100])
    rates = rng.gamma(2.0, 1.0, size=(3, 60)) * (rng.random((3, 60)) < 0.6)
    counts = rng.poisson(rates[np.searchsorted(["a", "b", "c"], labels)] * 3)
    raw = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=pd.DataFrame({"cell_type": labels},
                     index=[f"c{i}" for i in range(600)]), var=pd.DataFrame(index=[f"g{j}" for j in range(60)]))
    out = preprocess(raw, PreprocessSpec(label_key="cell_type", min_counts=5, n_hvg=40, test_size=0.25), seed=3)
    path = tmp_path_factory.mktemp("store") / "preprocessed.h5ad"
    write_store(out, path)
    write_h5ad(out, path.with_name("anndata_chunked.h5ad"), compression=None)  # as anndata writes X
    logx = out.X.toarray()
    train = (out.obs["split"] == "train").to_numpy()
    mean, std = logx[train].mean(axis=0), logx[train].std(axis=0)
    dense = ((logx - mean) / np.where(std > 0, std, 1)).astype(np.float32)
    return path, dense


def test_rows_from_disk_and_from_memory_equal_the_dense_matrix(store):
    path, dense = store
    in_memory = zscored(open_store(path))
    on_disk = zscored(open_store(path, in_memory_max_cells=10))
    assert isinstance(on_disk.x, BackedCSR) and sp.issparse(in_memory.x)
    rng = np.random.default_rng(0)
    idx = rng.permutation(600)[:123]  # unsorted, as a shuffled mini-batch
    for lazy in (in_memory, on_disk):
        assert lazy.shape == dense.shape and len(lazy) == 600
        np.testing.assert_array_equal(lazy[idx], dense[idx])
        np.testing.assert_array_equal(lazy[10:250], dense[10:250])
        np.testing.assert_array_equal(lazy[5], dense[5])
        np.testing.assert_array_equal(np.asarray(lazy), dense)
        on_cpu = on_device(lazy, host_batch(lazy, torch.as_tensor(idx)), "cpu")
        np.testing.assert_array_equal(on_cpu.numpy(), dense[idx])
        sub = lazy.subset(np.array([7, 3, 599]))
        np.testing.assert_array_equal(sub[[2, 0]], dense[[599, 7]])
    on_disk.x.close()


def test_the_store_is_an_h5ad_with_x_memory_mapped_and_anndata_files_are_read_through_hdf5(store):
    path, dense = store
    chunked = path.with_name("anndata_chunked.h5ad")
    ours, theirs = ad.read_h5ad(path), ad.read_h5ad(chunked)
    assert (ours.X != theirs.X).nnz == 0 and ours.X.dtype == np.float32 and ours.X.shape == theirs.X.shape
    pd.testing.assert_frame_equal(ours.obs, theirs.obs)
    pd.testing.assert_frame_equal(ours.var, theirs.var)
    assert ours.uns["preprocess"].keys() == theirs.uns["preprocess"].keys()
    mapped, read = BackedCSR(str(path)), BackedCSR(str(chunked))
    assert mapped.memory_mapped and not read.memory_mapped
    rows = np.sort(np.random.default_rng(2).permutation(600)[:77])
    for idx in (rows, np.arange(100, 180), np.array([0, 599]), np.array([5]), np.array([], dtype=int)):
        a, b = mapped.rows(idx), read.rows(idx)
        assert a.shape == b.shape == (len(idx), dense.shape[1]) and a.dtype == np.float32
        np.testing.assert_array_equal(a.toarray(), b.toarray())
        np.testing.assert_array_equal(a.toarray(), ours.X[idx].toarray())
    mapped.close()
    read.close()


def test_a_store_that_cannot_be_memory_mapped_is_read_through_hdf5(store, monkeypatch, caplog):
    path, dense = store
    import advinterp.store as store_module

    def no_mmap(*args, **kwargs):
        raise OSError("Cannot allocate memory")

    monkeypatch.setattr(store_module.np, "memmap", no_mmap)
    reader = BackedCSR(str(path))
    assert not reader.memory_mapped and "reading rows through HDF5 instead" in caplog.text
    idx = np.array([3, 4, 5, 100, 599])
    np.testing.assert_array_equal(reader.rows(idx).toarray(), ad.read_h5ad(path).X[idx].toarray())
    reader.close()


def test_write_store_leaves_the_anndata_as_it_was_and_no_file_when_it_fails(store, tmp_path, monkeypatch):
    path, _ = store
    adata = ad.read_h5ad(path)
    original = adata.X
    write_store(adata, tmp_path / "copy.h5ad")
    assert adata.X is original and BackedCSR(str(tmp_path / "copy.h5ad")).memory_mapped

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        write_store(adata, tmp_path / "failed.h5ad")
    assert adata.X is original and sorted(p.name for p in tmp_path.iterdir()) == ["copy.h5ad"]


def test_split_data_lazy_equals_materialised(store):
    path, _ = store
    adata = open_store(path)
    dense, lazy = split_data(adata), split_data(adata, lazy=True)
    assert isinstance(lazy.x_train, ZScored) and isinstance(lazy.x_test, ZScored)
    backed = split_store(path, {"in_memory_max_cells": 10, "loader_workers": 2}, sample="evaluation")
    assert isinstance(backed.x_train.x, BackedCSR) and backed.x_train.loader_workers == 2
    np.testing.assert_array_equal(backed.x_test, dense.x_test)  # the sample, read from disk
    np.testing.assert_array_equal(np.asarray(backed.x_train), dense.x_train)
    assert isinstance(split_store(path, {"in_memory_max_cells": 10**6, "loader_workers": 1}).x_train.x,
                      sp.csr_matrix)  # small enough: in memory
    backed = split_data(open_store(path, in_memory_max_cells=10), lazy=True)
    assert isinstance(backed.x_train.x, BackedCSR)
    assert backed.x_train.x is backed.x_test.x  # one reader of the file (one memory map, its pages counted once)
    np.testing.assert_array_equal(np.asarray(lazy.x_train), dense.x_train)
    np.testing.assert_array_equal(lazy.y_test, dense.y_test)
    sampled = split_data(adata, lazy=True, sample="evaluation")
    assert isinstance(sampled.x_test, np.ndarray) and sampled.n_test_all == 150
    np.testing.assert_array_equal(sampled.x_test, dense.x_test)  # no cap: every test cell


def test_training_streamed_from_disk_equals_training_on_the_dense_matrix(store):
    """The same mini-batches, the same weights: z-scoring per mini-batch changes nothing."""
    path, _ = store
    spec = TrainSpec(epochs=3, batch_size=64, learning_rate=1e-3)
    arch = Architecture(hidden=(16, 8), dropout=(0.1, 0.0))
    results = []
    for adata in (open_store(path), open_store(path, in_memory_max_cells=10)):
        for lazy in (False, True):
            data = split_data(adata, lazy=lazy)
            results.append(train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, 3, arch, spec,
                                            seed=5, device=torch.device("cpu")))
    first = results[0]
    for other in results[1:]:
        pd.testing.assert_frame_equal(other.history, first.history)
        for a, b in zip(first.model.state_dict().values(), other.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)


def test_zscore_is_one_float32_expression():
    x = log_values(20, 5)
    mean, std = zscore_fit(x)
    z = zscore(x, mean, std)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, ((x - mean) / std).astype(np.float32))


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    labels = np.repeat(["a", "b", "c"], [700, 250, 50])
    idx = stratified_sample(labels, 100, seed=0)
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    assert pd.Series(labels[idx]).value_counts().to_dict() == {"a": 70, "b": 25, "c": 5}
    np.testing.assert_array_equal(idx, stratified_sample(labels, 100, seed=0))
    assert not np.array_equal(idx, stratified_sample(labels, 100, seed=1))
    np.testing.assert_array_equal(stratified_sample(labels, None, 0), np.arange(1000))
    np.testing.assert_array_equal(stratified_sample(labels, 5000, 0), np.arange(1000))
    rare = np.array(["a"] * 998 + ["b", "c"])
    assert set(rare[stratified_sample(rare, 10, 0)]) == {"a", "b", "c"}  # every class keeps a cell


def test_a_store_of_an_older_version_is_refused(store):
    path, _ = store
    old = open_store(path)
    del old.uns["preprocess"]["x"]
    with pytest.raises(ValueError, match="not a preprocessed store of this version.*rerun the preprocess rule"):
        zscored(old)


def test_batches_read_ahead_by_any_number_of_workers_are_the_batches_in_order(store):
    path, dense = store
    lazy = zscored(open_store(path, in_memory_max_cells=10))
    order = np.random.default_rng(2).permutation(600)
    batches = [order[i:i + 64] for i in range(0, 600, 64)]
    for workers in (None, 0, 1, 3, 20):  # None: the matrix's loader_workers (1)
        got = list(device_batches(lazy, batches, "cpu", workers=workers))
        assert len(got) == len(batches)
        for (idx, xb), want in zip(got, batches, strict=True):
            assert idx is want
            np.testing.assert_array_equal(xb.numpy(), dense[want])
    assert list(device_batches(lazy, [], "cpu")) == []
    early = device_batches(lazy, batches, "cpu", workers=3)
    idx, xb = next(early)  # a consumer that stops after one batch: the reads ahead are dropped
    early.close()
    np.testing.assert_array_equal(xb.numpy(), dense[batches[0]])
    assert lazy.loader_workers == 1 and lazy.subset([1, 2]).loader_workers == 1
    assert zscored(open_store(path), loader_workers=4).subset([0]).loader_workers == 4


def test_column_mean_is_numpy_mean_bit_for_bit(store):
    path, dense = store
    lazy = zscored(open_store(path, in_memory_max_cells=10))
    for block_rows in (1, 50, 4096):
        np.testing.assert_array_equal(column_mean(lazy, block_rows=block_rows),
                                      np.asarray(dense, dtype=np.float64).mean(axis=0))
    np.testing.assert_array_equal(column_mean(dense, np.float32), dense.mean(axis=0))
