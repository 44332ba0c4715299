"""rule plot_keygenes: key genes detected per class and method, standard vs adversarial (Fig. 2), and AUROC."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.plots import keygene_auroc_figure, keygenes_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
table = pd.read_csv(smk.input[0], sep="\t")
ds = smk.wildcards.dataset
save_figure(keygenes_figure(table, "all_mr", f"{ds}: master regulators in each method's top N"),
            smk.output.all_mr, smk.output.all_mr_pdf)
save_figure(keygenes_figure(table, "class_mr", f"{ds}: the class's own master regulators in the top N"),
            smk.output.class_mr, smk.output.class_mr_pdf)
save_figure(keygene_auroc_figure(table, f"{ds}: AUROC of importance vs key-gene membership"), smk.output.auroc,
            smk.output.auroc_pdf)
