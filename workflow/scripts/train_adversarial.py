"""rules train_adversarial(_seed): the adv_{attack} regime at the selected ε, its history and training metrics."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.adversarial import train_adversarial_regime
from advinterp.device import seed_everything, select_device
from advinterp.io import read_json, write_json, write_tsv
from advinterp.model import load_model, payload_architecture, save_model, split_store
from advinterp.smk import setup_logging
from advinterp.specs import AdversarialTrainingSpec, AttackSpec, TrainSpec

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
attack = smk.wildcards.attack
epsilon = read_json(smk.input.epsilon)[attack]["epsilon"]
standard, payload = load_model(smk.input.model, device)
data = split_store(smk.input.data, smk.config["scale"])
result, metrics = train_adversarial_regime(standard, data, attack, epsilon,
                                           AdversarialTrainingSpec.from_config(smk.params.adversarial_training),
                                           AttackSpec.from_config(smk.params.attacks),
                                           TrainSpec.from_config(smk.params.training), smk.params.seed, device)
log.info("adv_%s at eps %g: %s", attack, epsilon, {k: v for k, v in metrics.items() if k != "per_class_f1"})
save_model(smk.output.model, result.model, payload["n_inputs"], payload_architecture(payload), data.class_names,
           data.gene_names, regime=f"adv_{attack}", epsilon=epsilon, seed=smk.params.seed)
write_tsv(result.history, smk.output.history)
write_json(metrics, smk.output.metrics)
