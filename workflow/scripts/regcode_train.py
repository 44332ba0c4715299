"""rule regcode_train: synthetic sequences → one trained LocalNet/DistNet (standard, noise or adversarial)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.regcode_data import load_dataset
from advinterp.regcode_model import RegcodeTrainSpec, save_regcode_model, train_regcode
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
result = train_regcode(load_dataset(smk.input[0]), smk.params.model, smk.params.regularised, smk.params.regime,
                       RegcodeTrainSpec.from_config(smk.params.training), smk.params.seed, device)
log.info("%s regularised=%s %s: test AUC %.4f after %d epochs on %s in %.1f s", result.arch, result.regularised,
         result.regime, result.metrics["test_auc"], result.metrics["epochs"], result.metrics["device"],
         result.metrics["seconds"])
save_regcode_model(smk.output[0], result)
