"""Make this checkout's advinterp library importable in every job.

Snakemake puts this directory on ``sys.path`` of each script job; importing this module
first adds the repository's ``src/`` too, so jobs run the checkout's library also inside
``--use-conda`` environments and on cluster nodes, where the package is not installed.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
