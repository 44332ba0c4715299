"""rule keygene_regimes: Koo-style summary of key-gene recovery per regime and method, with test accuracy."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.io import read_json, write_tsv
from advinterp.keygenes import regimes_table
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
accuracy = {}
for key in smk.input.keys():
    if key != "recovery":
        regime, seed = key.split("__seed")
        accuracy[(regime, int(seed))] = read_json(smk.input[key])["accuracy"]
write_tsv(regimes_table(pd.read_csv(smk.input.recovery, sep="\t"), accuracy), smk.output[0])
