"""rule plot_imbalance: per-class accuracy with thinned-out classes, before/after adversarial training."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import imbalance_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
table = pd.read_csv(smk.input[0], sep="\t")
fig = imbalance_figure(table, f"{smk.wildcards.dataset}: class imbalance (test cells, per class)")
save_figure(fig, smk.output.png, smk.output.pdf)
