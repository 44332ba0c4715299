"""rule preprocess: counts (or log-normalised values) → normalised, HVG-selected, split and z-scored AnnData."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.config import preprocess_spec
from advinterp.io import write_h5ad
from advinterp.preprocess import preprocess
from advinterp.smk import setup_logging

setup_logging(snakemake)  # noqa: F821
spec = preprocess_spec({"preprocess": snakemake.params.preprocess}, snakemake.params.dataset)  # noqa: F821
adata = preprocess(ad.read_h5ad(snakemake.input[0]), spec, seed=snakemake.params.seed)  # noqa: F821
write_h5ad(adata, snakemake.output[0])  # noqa: F821
