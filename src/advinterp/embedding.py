"""Low-dimensional embeddings for figures (UMAP through scanpy)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scanpy as sc


def umap_embedding(x: np.ndarray, seed: int, n_pcs: int = 50, n_neighbors: int = 15) -> np.ndarray:
    """PCA → kNN graph → UMAP on the rows of ``x``, seeded."""
    work = ad.AnnData(np.asarray(x, dtype=np.float32))
    n_comps = int(min(n_pcs, work.n_obs - 1, work.n_vars - 1))
    sc.pp.pca(work, n_comps=n_comps, random_state=seed)
    sc.pp.neighbors(work, n_neighbors=n_neighbors, n_pcs=n_comps, random_state=seed)
    sc.tl.umap(work, random_state=seed)
    return work.obsm["X_umap"]
