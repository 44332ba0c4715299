"""rule compare_consensus_de: consensus top-N vs DE top-N per class, counts and Venn diagrams (Fig. 3d,e)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.compare import consensus_vs_de, top_consensus_genes
from advinterp.de import top_de_genes
from advinterp.io import write_tsv
from advinterp.plots import save_figure, venn_grid_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
ranked, de = pd.read_csv(smk.input.ranked, sep="\t"), pd.read_csv(smk.input.de, sep="\t")
n = smk.params.n
write_tsv(consensus_vs_de(ranked, de, n), smk.output.table)
cons, de_top = top_consensus_genes(ranked, n), top_de_genes(de, n)
sets = {c: (set(cons[c]), set(de_top[c])) for c in sorted(cons)}
title = f"{smk.wildcards.dataset}: top {n} consensus ({smk.params.regime}) vs top {n} Wilcoxon DE genes"
save_figure(venn_grid_figure(sets, ("consensus", "DE"), title), smk.output.png, smk.output.pdf)
