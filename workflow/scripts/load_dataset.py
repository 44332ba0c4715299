"""rule load_dataset: a registry or custom dataset → checked AnnData (counts or log-normalised values)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.datasets import load_dataset
from advinterp.io import write_h5ad
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
# no input (scanpy ships it), one file, or a mtx dataset's three (matrix, obs, var)
path = list(smk.input) if len(smk.input) > 1 else (smk.input[0] if smk.input else None)
adata = load_dataset(smk.wildcards.dataset, smk.params.entry, path,
                     min_cells_per_class=smk.params.min_cells_per_class, small_classes=smk.params.small_classes)
write_h5ad(adata, smk.output[0])
