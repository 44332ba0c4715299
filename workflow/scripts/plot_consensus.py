"""rule plot_consensus: clustered heatmap of consensus importance scores (paper Figs 3c/4c style)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import consensus_heatmap_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
votes = pd.read_csv(smk.input[0], sep="\t", index_col=0)
title = f"{smk.wildcards.dataset}, {smk.wildcards.regime}: consensus importance score"
save_figure(consensus_heatmap_figure(votes, title), smk.output.png, smk.output.pdf)
