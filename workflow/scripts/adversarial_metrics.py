"""rule adversarial_metrics: metrics/adv_{attack}.json, the regime's clean and robust accuracy at its ε."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.adversarial import regime_metrics
from advinterp.config import with_evaluation_batch
from advinterp.device import seed_everything, select_device
from advinterp.io import read_json, write_json
from advinterp.model import load_model, split_store
from advinterp.smk import setup_logging
from advinterp.specs import AttackSpec, EvaluationSpec

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
metrics = regime_metrics(load_model(smk.input.standard, device)[0], load_model(smk.input.model, device)[0],
                         split_store(smk.input.data, smk.config["scale"], sample="evaluation"),
                         read_json(smk.input.training),
                         AttackSpec.from_config(smk.params.attacks),
                         EvaluationSpec.from_config(with_evaluation_batch(smk.params.evaluation, smk.config)),
                         smk.params.seed, device)
log.info("adv_%s: %s", smk.wildcards.attack, {k: v for k, v in metrics.items() if k != "per_class_f1"})
write_json(metrics, smk.output[0])
