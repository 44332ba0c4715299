"""rule plot_adversarial_umap: UMAPs of clean cells, attacked at the selected and the largest ε (Fig. 1a-c)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.model import load_model
from advinterp.io import read_json
from advinterp.plots import embedding_panels_figure, save_figure
from advinterp.robustness import adversarial_embeddings
from advinterp.smk import setup_logging
from advinterp.specs import AttackSpec

smk = snakemake  # noqa: F821
setup_logging(smk)
adata = ad.read_h5ad(smk.input.data)
model, _ = load_model(smk.input.model)
selected = read_json(smk.input.epsilon)
rob = smk.params.robustness
panels, labels = adversarial_embeddings(
    model, adata, {a: selected[a]["epsilon"] for a in rob["attacks"]}, max(rob["epsilons"]),
    AttackSpec.from_config(smk.params.attacks), smk.params.seed, **smk.params.umap,
)
title = (f"{smk.wildcards.dataset}: {len(labels)} of {adata.n_obs} cells (embedding sample), attacked against the "
         "standard model")
fig = embedding_panels_figure(panels, labels, title)
save_figure(fig, smk.output.png, smk.output.pdf)
