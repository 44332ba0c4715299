"""rule allen_f1: per-class F1 of the standard and the adversarially trained Allen MLP, clean and
under white-box attacks over ε (paper Fig. 5c; annotator/f1.tsv)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import json

import anndata as ad

from advinterp.allen_mlp import f1_table, load_allen_model
from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.smk import setup_logging
from advinterp.specs import AttackSpec

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
# the grid and the ε the figure marks (the selection rule's, possibly an override off the grid)
marked = json.loads(open(smk.input.epsilon).read())[smk.params.adversarial_attack]["epsilon"]
epsilons = sorted({float(e) for e in smk.params.epsilons} | {float(marked)})
models = {name: load_allen_model(smk.input[name], device)[0] for name in ["standard", "adversarial"]}
table = f1_table(models, ad.read_h5ad(smk.input.data), smk.params.attacks, epsilons,
                 AttackSpec.from_config(smk.params.attack_spec), smk.params.seed)
write_tsv(table, smk.output[0])
