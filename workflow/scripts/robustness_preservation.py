"""rule robustness_preservation: neighbour preservation and standard-model accuracy per (attack, ε)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad
import numpy as np

from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.model import load_model, split_data
from advinterp.robustness import preservation_table
from advinterp.smk import setup_logging
from advinterp.specs import AttackSpec
from advinterp.store import sample_mask, zscored

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
rob = smk.params.robustness
adata = ad.read_h5ad(smk.input.data)
model, _ = load_model(smk.input.model, device)
embedded = zscored(adata, np.flatnonzero(sample_mask(adata, "embedding")))  # PCA: up to scale.embedding_max_cells
data = split_data(adata, lazy=True, sample="evaluation")
table = preservation_table(model, np.asarray(embedded), data, rob["attacks"],
                           [float(e) for e in rob["epsilons"]], AttackSpec.from_config(smk.params.attacks),
                           rob["neighbours"], rob["n_pcs"], smk.params.seed, device)
write_tsv(table, smk.output[0])
