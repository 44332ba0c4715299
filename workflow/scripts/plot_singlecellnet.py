"""rule plot_singlecellnet: Fig. 5a, b, per-class precision and recall, clean and under FGSM at the marked ε."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import annotator_precision_recall_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
fig = annotator_precision_recall_figure(pd.read_csv(smk.input[0], sep="\t"), smk.params.marked,
                                        f"{smk.wildcards.run}: SingleCellNet (SVM)")
save_figure(fig, smk.output.png, smk.output.pdf)
