"""rule plot_preservation: neighbour preservation and accuracy against ε, with the random-noise reference."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.io import read_json
from advinterp.plots import preservation_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
table = pd.read_csv(smk.input.table, sep="\t")
selected = read_json(smk.input.epsilon)
curves = pd.read_csv(smk.input.curves, sep="\t")
fig = preservation_figure(table, selected, f"{smk.wildcards.dataset}: structure preservation under attack",
                          robust=curves[curves["model"] == "standard"])
save_figure(fig, smk.output.png, smk.output.pdf)
