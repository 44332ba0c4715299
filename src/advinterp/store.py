"""The preprocessed store and the model input computed from it.

``preprocessed.h5ad`` keeps the log-normalised values of the model's genes sparse in ``X``
(CSR, float32, its arrays contiguous and uncompressed so that rows are read at random from disk
through a memory map: :func:`write_store`, :class:`BackedCSR`) and the training
cells' per-gene mean and SD in ``var['train_mean']``/``var['train_std']``. The model input, the
z-scored values, is never stored: :class:`ZScored` computes it for the rows asked for, a block at
a time, on the CPU or on the device. No step needs the whole dense matrix, so a dataset of a
million cells × 2,500 genes (10 GB dense) trains in the memory of its sparse values, or of a
mini-batch when the store is read from disk (:func:`open_store`; the pages of the file read
through the memory map also count towards the resident memory, but the system can drop them).

The numbers are exactly those of z-scoring the dense matrix in memory: :func:`zscore_fit`
accumulates rows in the order :func:`numpy.mean`/:func:`numpy.std` do, and :func:`zscore` is the
same float32 element-wise expression wherever it runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

#: rows densified at once when fitting or materialising (× genes × 4 bytes: 40 MB at 2,500 genes)
BLOCK_ROWS = 4096
#: what ``uns['preprocess']['x']`` says ``X`` holds in a store written by this version
STORE_VALUES = "log_normalized"


def _block(x, start: int, stop: int, rows: np.ndarray | None = None) -> np.ndarray:
    part = x[start:stop] if rows is None else x[rows[start:stop]]
    return np.asarray(part.toarray() if sp.issparse(part) else part, dtype=np.float32)


def _rows_in_order_sum(blocks, n_cols: int, dtype) -> np.ndarray:
    """The column sums of the row ``blocks`` stacked, adding the rows one after another in ``dtype``:
    what NumPy's reduction over the rows of a C-ordered matrix does, so ``/ n`` is its mean bit for bit."""
    total = np.zeros(n_cols, dtype=dtype)
    for block in blocks:
        total = np.add.reduce(np.vstack([total[None], block]), axis=0)
    return total


def zscore_fit(x, rows: np.ndarray | None = None, block_rows: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and SD (ddof=0) of the rows of ``x`` (dense or sparse; only the sorted
    indices ``rows`` if given), float32, one block of rows densified at a time; constant genes get
    SD 1 so they map to 0.

    Bit-identical to ``x[rows].mean(axis=0)``/``x[rows].std(axis=0)`` of the dense float32 matrix:
    NumPy reduces a C-ordered matrix over its rows by adding them one after another, and so does
    this. The rows are never all copied (the training cells of an atlas).
    """
    n = x.shape[0] if rows is None else len(rows)
    if n == 0:
        raise ValueError("zscore_fit: no rows to fit the scaling on")
    starts = range(0, n, block_rows)
    mean = np.true_divide(_rows_in_order_sum((_block(x, s, s + block_rows, rows) for s in starts), x.shape[1],
                                             np.float32), n)
    deviations = ((_block(x, s, s + block_rows, rows) - mean) ** 2 for s in starts)
    std = np.sqrt(np.true_divide(_rows_in_order_sum(deviations, x.shape[1], np.float32), n))
    return mean, np.where(std > 0, std, np.float32(1.0)).astype(np.float32)


def column_mean(x, dtype=np.float64, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """``np.asarray(x, dtype).mean(axis=0)``, bit for bit, a block of rows at a time (``x``: an
    array or a lazy :class:`ZScored`, whose rows are never all materialised)."""
    n = len(x)
    if n == 0:
        raise ValueError("column_mean: no rows")
    blocks = (np.asarray(x[s:s + block_rows], dtype=dtype) for s in range(0, n, block_rows))
    return np.true_divide(_rows_in_order_sum(blocks, x.shape[1], dtype), n)


def zscore(block: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(block - mean) / std`` in float32: the model input of log-normalised rows."""
    return ((np.asarray(block, dtype=np.float32) - mean) / std).astype(np.float32)


def scaling(adata) -> tuple[np.ndarray, np.ndarray]:
    """The store's per-gene training mean and SD as float32 (they were fitted in float32)."""
    _check_store(adata)
    return (adata.var["train_mean"].to_numpy(dtype=np.float32),
            adata.var["train_std"].to_numpy(dtype=np.float32))


def _check_store(adata) -> None:
    meta = adata.uns.get("preprocess", {}) if hasattr(adata, "uns") else {}
    if meta.get("x") != STORE_VALUES or "train_mean" not in adata.var:
        raise ValueError("this AnnData is not a preprocessed store of this version (uns['preprocess']['x'] is "
                         f"{meta.get('x')!r}, expected {STORE_VALUES!r}, with var['train_mean'/'train_std']); "
                         "rerun the preprocess rule")


def write_store(adata, path) -> None:
    """Write a preprocessed store to ``path`` (atomically): an ordinary h5ad, except that the CSR
    arrays of ``X`` are stored contiguous and uncompressed.

    anndata writes them chunked (so that they can be appended to), and a chunked dataset is read
    through HDF5 a run of rows at a time: two calls per cell of a shuffled mini-batch. Contiguous,
    :class:`BackedCSR` maps them into memory and gathers a mini-batch's rows in one NumPy
    operation. Any h5ad reader reads the file as before.
    """
    import h5py

    from advinterp.io import atomic_path

    original = adata.X
    with atomic_path(path) as tmp:
        if not sp.issparse(original):
            adata.write_h5ad(tmp, compression=None)
            return
        x = sp.csr_matrix(original)
        adata.X = None
        try:
            adata.write_h5ad(tmp, compression=None)
        finally:
            adata.X = original
        with h5py.File(tmp, "a") as f:
            group = f.create_group("X")
            group.attrs["encoding-type"] = "csr_matrix"
            group.attrs["encoding-version"] = "0.1.0"
            group.attrs["shape"] = np.asarray(x.shape, dtype=np.int64)
            for name in ("data", "indices", "indptr"):
                group.create_dataset(name, data=getattr(x, name))


def _memory_map(path: str, dataset):
    """``dataset`` as a read-only memory map of its bytes in ``path`` when it is stored contiguous
    and unfiltered (:func:`write_store`), else ``None``."""
    offset = dataset.id.get_offset() if dataset.chunks is None and dataset.size else None
    if offset is None:
        return None
    try:
        return np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)
    except (OSError, ValueError) as err:  # e.g. an address-space limit, a file system without mmap
        log.warning("%s: cannot memory-map %s (%s): reading rows through HDF5 instead", path, dataset.name, err)
        return None


class BackedCSR:
    """Rows of the CSR matrix ``X`` of an h5ad file, read from disk on demand.

    Only ``indptr`` (8 bytes per cell) is held in memory. In a store written by :func:`write_store`
    the values and column indices are memory-mapped and a mini-batch's rows are gathered in one
    NumPy operation (the pages read stay in the operating system's file cache, which it can drop,
    and count towards the job's resident memory). In any other h5ad, sorted runs of consecutive
    rows are read through HDF5 as one range: a contiguous block costs two reads and a random
    mini-batch two per cell.
    """

    def __init__(self, path: str, key: str = "X"):
        import h5py

        self._file = h5py.File(path, "r", rdcc_nbytes=64 * 2**20)
        group = self._file[key]
        if not isinstance(group, h5py.Group) or group.attrs.get("encoding-type") != "csr_matrix":
            raise ValueError(f"{path}: {key} is not a CSR matrix; rerun the preprocess rule")
        self.shape = tuple(int(s) for s in group.attrs["shape"])
        self._data, self._indices = group["data"], group["indices"]
        self._mapped = (_memory_map(path, self._data), _memory_map(path, self._indices))
        if any(part is None for part in self._mapped):
            self._mapped = None
            if self._data.compression is not None:
                log.warning("%s: X is compressed (%s): reading random rows will be slow", path,
                            self._data.compression)
        self.indptr = group["indptr"][:].astype(np.int64)
        self.dtype = np.dtype(np.float32)

    @property
    def memory_mapped(self) -> bool:
        """Whether rows are gathered from a memory map (a store written by :func:`write_store`)."""
        return self._mapped is not None

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, idx: np.ndarray) -> sp.csr_matrix:
        """Rows ``idx`` (sorted, unique) as an in-memory CSR matrix."""
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.indptr[idx + 1] - self.indptr[idx]
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        if len(idx) == 0:
            return sp.csr_matrix((0, self.shape[1]), dtype=np.float32)
        if self._mapped is not None:
            data, indices = self._gather(idx, lengths, indptr)
        else:
            data, indices = self._read_runs(idx)
        return sp.csr_matrix((np.asarray(data, dtype=np.float32), np.asarray(indices), indptr),
                             shape=(len(idx), self.shape[1]))

    def _gather(self, idx, lengths, indptr):
        """Values and column indices of rows ``idx`` from the memory maps: one slice for a run of
        consecutive rows, else one fancy index over every row's positions."""
        data, indices = self._mapped
        if idx[-1] - idx[0] == len(idx) - 1:
            lo, hi = self.indptr[idx[0]], self.indptr[idx[-1] + 1]
            return np.array(data[lo:hi]), np.array(indices[lo:hi])
        positions = np.repeat(self.indptr[idx] - indptr[:-1], lengths) + np.arange(indptr[-1])
        return data[positions], indices[positions]

    def _read_runs(self, idx):
        """Values and column indices of rows ``idx`` through HDF5, a run of consecutive rows a read."""
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        data, indices = [], []
        for run in np.split(idx, breaks):
            lo, hi = self.indptr[run[0]], self.indptr[run[-1] + 1]
            data.append(self._data[lo:hi])
            indices.append(self._indices[lo:hi])
        return np.concatenate(data), np.concatenate(indices)

    def __getitem__(self, key) -> sp.csr_matrix:
        if isinstance(key, slice):
            return self.rows(np.arange(*key.indices(self.shape[0])))
        raise TypeError("BackedCSR rows are read with .rows(sorted indices) or a slice")

    def close(self) -> None:
        self._mapped = None
        self._file.close()


def _read_rows(x, idx: np.ndarray):
    """Rows ``idx`` (any order) of ``x`` (dense, scipy sparse or :class:`BackedCSR`), in that order."""
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    part = x.rows(sorted_idx) if isinstance(x, BackedCSR) else x[sorted_idx]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return part[inverse]


@dataclass(eq=False)
class ZScored:
    """The z-scored rows ``rows`` of a store's values ``x``, computed when asked for.

    Behaves as a read-only float32 matrix for what the workflow does with its input: ``len``,
    ``shape``, indexing by an int, a slice or an index array (dense NumPy rows) and ``np.asarray``
    (all of it: only for samples and small data). Mini-batches z-scored on the device, for
    training and prediction: :func:`advinterp.model.device_batches` (this module needs no torch).
    """

    x: object
    mean: np.ndarray
    std: np.ndarray
    rows: np.ndarray
    #: threads reading mini-batches ahead (``scale.loader_workers``; :func:`advinterp.model.device_batches`)
    loader_workers: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), int(self.x.shape[1]))

    @property
    def dtype(self):
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return len(self.rows)

    def values(self, idx: np.ndarray):
        """The stored (log-normalised, usually sparse) values of rows ``idx``, in that order."""
        return _read_rows(self.x, self.rows[idx])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        idx = np.arange(len(self.rows))[key]
        part = self.values(np.asarray(idx, dtype=np.int64))
        return zscore(part.toarray() if sp.issparse(part) else part, self.mean, self.std)

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, dtype=np.float32)
        for start in range(0, len(self), BLOCK_ROWS):
            out[start:start + BLOCK_ROWS] = self[start:start + BLOCK_ROWS]
        return out if dtype is None else out.astype(dtype)

    def subset(self, idx: np.ndarray) -> ZScored:
        """The rows ``idx`` of this matrix, still lazy."""
        return ZScored(self.x, self.mean, self.std, self.rows[np.asarray(idx, dtype=np.int64)], self.loader_workers)


def zscored(adata, rows: np.ndarray | None = None, loader_workers: int = 1) -> ZScored:
    """The z-scored model input of a preprocessed store (all cells, or ``rows``), lazily; its
    mini-batches read ahead by ``loader_workers`` threads."""
    mean, std = scaling(adata)
    x = adata.X
    if hasattr(x, "to_memory") or type(x).__name__.endswith("Dataset"):  # anndata backed: read rows ourselves
        x = BackedCSR(str(adata.filename))
    rows = np.arange(adata.n_obs) if rows is None else np.asarray(rows, dtype=np.int64)
    return ZScored(x, mean, std, rows, loader_workers)


def open_store(path: str, in_memory_max_cells: int | None = None):
    """A preprocessed store, in memory when it has at most ``in_memory_max_cells`` cells (``None``:
    always), else backed by the file (its ``X`` read from disk a block at a time)."""
    import anndata as ad

    backed = ad.read_h5ad(path, backed="r")
    if in_memory_max_cells is None or backed.n_obs <= in_memory_max_cells:
        backed.file.close()
        adata = ad.read_h5ad(path)
    else:
        log.info("%s: %d cells > %d (scale.in_memory_max_cells): reading X from disk", path, backed.n_obs,
                 in_memory_max_cells)
        adata = backed
    _check_store(adata)
    return adata


def stratified_sample(labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``cap`` cells, each class keeping its share (largest remainders; at least
    one cell, so many rare classes may add a few),
    reproducible from ``seed``; all cells when ``cap`` is ``None`` or not smaller than their number."""
    n = len(labels)
    if cap is None or n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    share = counts * cap / n
    quota = np.floor(share).astype(int)
    quota[np.argsort(quota - share, kind="stable")[:cap - quota.sum()]] += 1  # largest remainders: cap cells
    quota = np.maximum(quota, 1)
    picked = [rng.choice(np.flatnonzero(codes == c), size=min(q, counts[c]), replace=False)
              for c, q in enumerate(quota)]
    return np.sort(np.concatenate(picked))


#: the stratified samples a store marks: name → the cells it is drawn from
SAMPLES = {
    "embedding": "all cells (UMAPs, the PCA and kNN graphs of neighbour preservation)",
    "evaluation": "test cells (attacks: sweeps, strong evaluation, sanity checks, preservation, explanation checks)",
}


def mark_samples(adata, caps: dict[str, int | None], seed: int) -> dict[str, dict]:
    """Mark the stratified samples of :data:`SAMPLES` in ``obs['sample_{name}']`` (bool), at most
    ``caps[name]`` cells each (``None``: every cell of its pool), and return what was drawn
    (``max_cells``, ``n_cells``, ``of``) for ``uns['preprocess']['samples']``.

    ``evaluation`` is drawn from the test cells (``obs['split']``), ``embedding`` from all cells.
    """
    unknown = set(caps) - set(SAMPLES)
    if unknown:
        raise ValueError(f"unknown samples {sorted(unknown)}; known: {sorted(SAMPLES)}")
    labels = adata.obs[adata.uns["preprocess"]["label_key"]].astype(str).to_numpy()
    pools = {"embedding": np.ones(adata.n_obs, dtype=bool),
             "evaluation": (adata.obs["split"] == "test").to_numpy()}
    record = {}
    for i, name in enumerate(SAMPLES):
        cap = caps.get(name)
        pool = np.flatnonzero(pools[name])
        picked = pool[stratified_sample(labels[pool], cap, seed + i)]
        mask = np.zeros(adata.n_obs, dtype=bool)
        mask[picked] = True
        adata.obs[f"sample_{name}"] = mask
        record[name] = {"n_cells": int(mask.sum()), "of": int(len(pool))}
        if cap is not None:  # (h5ad cannot store None)
            record[name]["max_cells"] = int(cap)
        if len(picked) < len(pool):
            log.info("sample %s: %d of %d cells (scale.%s_max_cells)", name, len(picked), len(pool), name)
    return record


def sample_mask(adata, name: str) -> np.ndarray:
    """``obs['sample_{name}']`` as a bool array; an error naming the rule to rerun when absent."""
    column = f"sample_{name}"
    if column not in adata.obs:
        raise ValueError(f"the preprocessed store has no {column!r} column (samples: {sorted(SAMPLES)}); "
                         "rerun the preprocess rule")
    return adata.obs[column].to_numpy(dtype=bool)
