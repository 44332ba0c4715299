"""rule preprocess: counts (or log-normalised values) → normalised, HVG-selected, split and z-scored AnnData."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.config import preprocess_spec
from advinterp.io import write_h5ad
from advinterp.preprocess import preprocess
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
spec = preprocess_spec({"preprocess": smk.params.preprocess}, smk.params.dataset)
# min_cells_per_class (checked when the dataset was loaded) also bounds what dropping zero-count cells may leave
adata = preprocess(ad.read_h5ad(smk.input[0]), spec, seed=smk.params.seed,
                   min_cells_per_class=smk.params.min_cells_per_class, source=f"dataset {smk.wildcards.dataset}")
write_h5ad(adata, smk.output[0])
