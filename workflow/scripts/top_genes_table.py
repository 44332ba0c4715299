"""rule top_genes_table: each class's top consensus genes, bold where DE does not call them (Tables 1-2)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.compare import top_genes_markdown, top_genes_table
from advinterp.io import atomic_path, write_tsv
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
table = top_genes_table(pd.read_csv(smk.input.ranked, sep="\t"), pd.read_csv(smk.input.de, sep="\t"), smk.params.k)
write_tsv(table, smk.output.tsv)
with atomic_path(smk.output.md) as tmp, open(tmp, "w") as fh:
    fh.write(top_genes_markdown(table))
