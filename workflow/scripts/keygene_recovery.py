"""rule keygene_recovery: key genes recovered per regime, method, ground truth, class and seed."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from pathlib import Path

import anndata as ad

from advinterp.consensus import read_importances
from advinterp.io import write_tsv
from advinterp.keygenes import recovery_for_dataset
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
importances = {}
for key in smk.input.keys():
    if key == "data":
        continue
    regime, seed = key.split("__seed")
    files = smk.input[key]  # explain/.../{method}.tsv: an MLP's and a TabNet's methods differ
    importances[(regime, int(seed))] = read_importances([Path(f).stem for f in files], files)
table = recovery_for_dataset(ad.read_h5ad(smk.input.data), importances, smk.params.interpretability["top_n"],
                             smk.params.seed, voters=smk.params.voters, model_kind=smk.params.model_kind)
write_tsv(table, smk.output[0])
