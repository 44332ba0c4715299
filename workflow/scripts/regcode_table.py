"""rule regcode_table: per-sequence interpretability scores of every model → Table 1 (TSV + Markdown)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.io import atomic_path, write_tsv
from advinterp.regcode_attribution import table1, table1_markdown
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
table = table1(pd.concat([pd.read_csv(p, sep="\t") for p in smk.input], ignore_index=True))
log.info("%d Table 1 rows", len(table))
write_tsv(table, smk.output.tsv)
with atomic_path(smk.output.md) as tmp, open(tmp, "w") as fh:
    fh.write(table1_markdown(table))
