"""Make this workflow's own advinterp library the one every job imports.

Snakemake puts this directory on ``sys.path`` of each script job; importing this module first puts
the workflow's library in front of ``sys.path``, so jobs run the workflow's own library, also
inside ``--use-conda`` environments, on cluster nodes, and where another advinterp is installed.
In a checkout that is the repository's ``src/``. When the workflow runs as a module from a git
source there is no ``src/`` on disk: the workflow copies the library next to the cached scripts
(``library_dir()`` in ``workflow/rules/common.smk``), i.e. next to this file.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARY = HERE if (HERE / "advinterp").is_dir() else HERE.parents[1] / "src"
sys.path.insert(0, str(LIBRARY))
