"""rule keygene_recovery: key genes recovered per regime, method, ground truth, class and seed."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.consensus import read_importances
from advinterp.io import write_tsv
from advinterp.keygenes import recovery_for_dataset
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
cfg = smk.params.interpretability
importances = {}
for key in smk.input.keys():
    if key == "data":
        continue
    regime, seed = key.split("__seed")
    importances[(regime, int(seed))] = read_importances(cfg["methods"] + cfg["extra_methods"], smk.input[key])
table = recovery_for_dataset(ad.read_h5ad(smk.input.data), importances, cfg["top_n"], smk.params.seed,
                             voters=cfg["methods"])
write_tsv(table, smk.output[0])
