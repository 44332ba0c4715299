"""Make this workflow's own advinterp library importable in every job.

Snakemake puts this directory on ``sys.path`` of each script job; importing this module first
adds the repository's ``src/`` too, so jobs run the workflow's library also inside
``--use-conda`` environments and on cluster nodes, where the package is not installed. When the
workflow runs as a module from a git source, there is no ``src/`` on disk: the workflow copies the
library next to the cached scripts (``library_dir()`` in ``workflow/rules/common.smk``), so it is
importable already and this adds nothing.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
if not (HERE / "advinterp").is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
