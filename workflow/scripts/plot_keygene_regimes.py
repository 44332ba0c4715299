"""rule plot_keygene_regimes: AU-ROC and AU-PR of every method per training regime (Koo et al. 2019, Table 1)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import keygene_regimes_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
table = pd.read_csv(smk.input[0], sep="\t")
save_figure(keygene_regimes_figure(table, f"{smk.wildcards.dataset}: the class's own key genes by training regime"),
            smk.output.png, smk.output.pdf)
