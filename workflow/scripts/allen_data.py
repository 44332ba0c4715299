"""rule allen_data: the Allen zip's counts → Le et al.'s log2(CPM + 1), filtered genes, 60/20/20 split."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.allen_data import annotator_data
from advinterp.io import write_h5ad
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
adata = annotator_data(ad.read_h5ad(smk.input[0]), tuple(smk.params.split), smk.params.seed,
                       cluster_key=smk.params.label_key)
log.info("%s", adata.uns["allen_preprocess"])
write_h5ad(adata, smk.output[0])
