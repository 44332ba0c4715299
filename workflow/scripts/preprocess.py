"""rule preprocess: counts (or log-normalised values) → the preprocessed store: log-normalised HVGs, split,
z-scoring fitted on the training cells, stratified samples (advinterp.store)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.config import preprocess_spec
from advinterp.preprocess import preprocess
from advinterp.smk import setup_logging
from advinterp.store import SAMPLES, write_store

smk = snakemake  # noqa: F821
setup_logging(smk)
spec = preprocess_spec({"preprocess": smk.params.preprocess}, smk.params.dataset)
# min_cells_per_class (checked when the dataset was loaded) also bounds what dropping zero-count cells may leave
adata = preprocess(ad.read_h5ad(smk.input[0]), spec, seed=smk.params.seed,
                   min_cells_per_class=smk.params.min_cells_per_class, source=f"dataset {smk.wildcards.dataset}",
                   samples={name: smk.params.scale[f"{name}_max_cells"] for name in SAMPLES}, copy=False)
write_store(adata, smk.output[0])  # X contiguous and uncompressed: training reads random rows from disk
