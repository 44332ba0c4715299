"""rule plot_umap: UMAP of the preprocessed cells coloured by cell type (paper Fig 1a)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.embedding import umap_embedding
from advinterp.plots import save_figure, umap_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
adata = ad.read_h5ad(smk.input[0])
emb = umap_embedding(adata.X, smk.params.seed, **smk.params.umap)
labels = adata.obs[adata.uns["preprocess"]["label_key"]]
fig = umap_figure(emb, labels, f"{smk.wildcards.dataset}: {adata.n_obs} cells, {adata.n_vars} genes")
save_figure(fig, smk.output.png, smk.output.pdf)
