"""rule plot_umap: UMAP of the preprocessed cells coloured by cell type (paper Fig 1a)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad
import numpy as np

from advinterp.embedding import umap_embedding
from advinterp.plots import save_figure, umap_figure
from advinterp.smk import setup_logging
from advinterp.store import sample_mask, zscored

smk = snakemake  # noqa: F821
setup_logging(smk)
adata = ad.read_h5ad(smk.input[0])
cells = np.flatnonzero(sample_mask(adata, "embedding"))  # all cells up to scale.embedding_max_cells
emb = umap_embedding(zscored(adata, cells), smk.params.seed, **smk.params.umap)
labels = adata.obs[adata.uns["preprocess"]["label_key"]].iloc[cells]
shown = f"{len(cells)} cells" if len(cells) == adata.n_obs else f"{len(cells)} of {adata.n_obs} cells (sample)"
fig = umap_figure(emb, labels, f"{smk.wildcards.dataset}: {shown}, {adata.n_vars} genes")
save_figure(fig, smk.output.png, smk.output.pdf)
