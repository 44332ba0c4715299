"""rule paper_table: one of the paper's tables (results/paper/), the workflow's top-genes table."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.paper import write_table
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
write_table(smk.input.tsv, smk.input.md, smk.params.title, smk.output.tsv, smk.output.md)
