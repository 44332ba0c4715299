"""rule paper_figure: one of the paper's figures, composed from the workflow's figures (results/paper/)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.paper import compose_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
compose_figure(dict(smk.input.items()), smk.params.title, smk.output.png, smk.output.pdf)
