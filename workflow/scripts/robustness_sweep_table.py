"""rule robustness_sweep_table: concatenate the per-(attack, seed) sweep tables into sweep.tsv."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.io import write_tsv
from advinterp.robustness_tables import combine_sweeps
from advinterp.smk import setup_logging

setup_logging(snakemake)  # noqa: F821
write_tsv(combine_sweeps(snakemake.input), snakemake.output[0])  # noqa: F821
