"""rule de_wilcoxon: one-vs-rest Wilcoxon rank-sum DE with Benjamini-Hochberg, the paper's baseline."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.de import wilcoxon_de
from advinterp.io import write_tsv
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
adata = ad.read_h5ad(smk.input[0])
table = wilcoxon_de(adata, adata.uns["preprocess"]["label_key"], alpha=smk.params.alpha)
log.info("significant genes per class: %s", table[table["significant"]].groupby("class").size().to_dict())
write_tsv(table, smk.output[0])
