"""rule regcode_logos: one trained model + sequences → attribution logos of a few positive test sequences."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.regcode_attribution import RegcodeAttributionSpec
from advinterp.regcode_data import load_dataset
from advinterp.regcode_model import load_regcode_model
from advinterp.regcode_plots import logo_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
model, record = load_regcode_model(smk.input.model, select_device(smk.params.device))
logo_figure(model, record, load_dataset(smk.input.data), RegcodeAttributionSpec.from_config(smk.params.attribution),
            smk.params.seed, smk.output.png, smk.output.pdf)
log.info("logos of %s written", smk.input.model)
