"""rule regcode_attribute: trained model + sequences → per positive test sequence AU-ROC/AU-PR per method."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.regcode_attribution import RegcodeAttributionSpec, attribute_regcode
from advinterp.regcode_data import load_dataset
from advinterp.regcode_model import load_regcode_model
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
model, record = load_regcode_model(smk.input.model, select_device(smk.params.device))
scores = attribute_regcode(model, record, load_dataset(smk.input.data),
                           RegcodeAttributionSpec.from_config(smk.params.attribution), smk.params.seed,
                           {"dataset_size": int(smk.params.size), "trial": int(smk.params.trial)})
log.info("%s", scores.groupby("method")[["auroc", "auprc"]].mean().round(3).to_string())
write_tsv(scores, smk.output[0])
