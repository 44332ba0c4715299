"""rule plot_type_relevance: type x gene heatmap of the UnitedNet-style relevance (scaled mean |DeepSHAP|)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import save_figure, type_relevance_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
table = pd.read_csv(smk.input[0], sep="\t")
save_figure(type_relevance_figure(table, f"{smk.wildcards.dataset}, {smk.wildcards.regime}: relevance of genes to "
                                         "predicted types (DeepSHAP, UnitedNet-style)"),
            smk.output.png, smk.output.pdf)
