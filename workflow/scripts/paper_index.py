"""rule paper_index: results/paper/index.md, every paper panel and the tables it is drawn from."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from pathlib import Path

from advinterp.paper import index_markdown
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
Path(smk.output[0]).write_text(index_markdown(smk.params.datasets, smk.params.regime))
