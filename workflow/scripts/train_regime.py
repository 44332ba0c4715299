"""rules train_regime(_seed): one of Koo et al.'s regimes (noise, *_reg), its history and training metrics."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.io import read_json, write_json, write_tsv
from advinterp.model import load_model, save_model, split_store
from advinterp.regimes import train_regime
from advinterp.smk import setup_logging
from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    NoiseTrainingSpec,
    RegularisationSpec,
    TrainSpec,
    evaluation_epsilon,
)

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
regime = smk.wildcards.regime
data = split_store(smk.input.data, smk.config["scale"])
base = load_model(smk.input.base, device)[0] if "base" in smk.input.keys() else None
epsilon = evaluation_epsilon(regime, read_json(smk.input.epsilon)) if "epsilon" in smk.input.keys() else None
result, metrics, arch = train_regime(
    regime, data, Architecture.from_config(smk.params.model), TrainSpec.from_config(smk.params.training),
    RegularisationSpec.from_config(smk.params.regularisation), smk.params.seed, device, base=base,
    noise=NoiseTrainingSpec.from_config(smk.params.noise_training),
    adv_spec=AdversarialTrainingSpec.from_config(smk.params.adversarial_training),
    attack_spec=AttackSpec.from_config(smk.params.attacks), epsilon=epsilon)
log.info("%s: %s", regime, {k: v for k, v in metrics.items() if k != "per_class_f1"})
save_model(smk.output.model, result.model, len(data.gene_names), arch, data.class_names, data.gene_names,
           regime=regime, seed=smk.params.seed)
write_tsv(result.history, smk.output.history)
write_json(metrics, smk.output.metrics)
