"""rule plot_sweep: accuracy and macro-F1 against ε, one panel per attack (paper Fig. 1d,e; Supp. Fig. S2c,d)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import save_figure, sweep_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
sweep = pd.read_csv(smk.input[0], sep="\t")
ds = smk.wildcards.dataset
save_figure(sweep_figure(sweep, "accuracy", f"{ds}: test accuracy under attack"),
            smk.output.accuracy_png, smk.output.accuracy_pdf)
save_figure(sweep_figure(sweep, "macro_f1", f"{ds}: test macro-F1 under attack"), smk.output.f1_png,
            smk.output.f1_pdf)
