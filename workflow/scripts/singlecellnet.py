"""rule singlecellnet: SingleCellNet (SVM) trained on a reference, applied to a query, clean and under
FGSM on its pair features and on the expression (BPDA) (paper Fig. 5a, b)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.device import seed_everything
from advinterp.io import write_json, write_tsv
from advinterp.singlecellnet import SCNSpec, evaluate_annotator, read_label_map
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
reference = ad.read_h5ad(smk.input.reference)
# the map is checked against the reference's classes before anything is trained
label_map = read_label_map(smk.input.labels if "labels" in smk.input.keys() else None,
                           reference.obs[smk.params.reference_key])
table, composition, summary = evaluate_annotator(
    reference, ad.read_h5ad(smk.input.query), smk.params.reference_key, smk.params.query_key,
    SCNSpec.from_config(smk.params.model), smk.params.epsilons, smk.params.seed, label_map, smk.params.device)
log.info("%s", summary)
write_tsv(table, smk.output.table)
write_tsv(composition, smk.output.composition)
write_json(summary, smk.output.summary)
