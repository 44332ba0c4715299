"""rule plot_allen_f1: Fig. 5c, per-class F1 heatmap, clean and attacked at the selected ε."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import json

import pandas as pd

from advinterp.plots import annotator_f1_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
epsilon = json.loads(open(smk.input.epsilon).read())[smk.params.attack]["epsilon"]
fig = annotator_f1_figure(pd.read_csv(smk.input.table, sep="\t"), epsilon,
                          f"{smk.wildcards.dataset}: Allen MLP (Le et al. 2022), F1 per cell type")
save_figure(fig, smk.output.png, smk.output.pdf)
