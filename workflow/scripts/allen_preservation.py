"""rule allen_preservation: kNN structure preservation and accuracy of the standard Allen MLP per (attack, ε)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.allen_mlp import load_allen_model, preservation_on_data
from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.smk import setup_logging
from advinterp.specs import AttackSpec

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
model, _ = load_allen_model(smk.input.model, device)
table = preservation_on_data(model, ad.read_h5ad(smk.input.data), smk.params.attacks,
                             [float(e) for e in smk.params.epsilons], AttackSpec.from_config(smk.params.attack_spec),
                             smk.params.neighbours, smk.params.n_pcs, smk.params.seed, device)
write_tsv(table, smk.output[0])
