"""rule train_label_randomised: {regime}'s training on shuffled labels (Adebayo et al. 2018's data randomisation)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.explain_checks import label_randomised_model
from advinterp.io import read_json, write_tsv
from advinterp.model import load_model, save_model, split_store
from advinterp.regimes import trained_architecture
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
arch = Architecture.from_config(smk.params.model)
regime = smk.wildcards.regime
data = split_store(smk.input.data, smk.config["scale"])
regularisation = RegularisationSpec.from_config(smk.params.regularisation)
extra = {"regularisation": regularisation, "noise": NoiseTrainingSpec.from_config(smk.params.noise_training),
         "adv_spec": AdversarialTrainingSpec.from_config(smk.params.adversarial_training),
         "attack_spec": AttackSpec.from_config(smk.params.attacks)}
if "epsilon" in smk.input.keys():
    extra["epsilon"] = evaluation_epsilon(regime, read_json(smk.input.epsilon))
if "base" in smk.input.keys():
    extra["standard"] = load_model(smk.input.base, device)[0]
model, history = label_randomised_model(data, regime, arch, TrainSpec.from_config(smk.params.training), smk.params.seed,
                                        device, **extra)
arch = trained_architecture(regime, arch, regularisation)
log.info("%s on shuffled labels: last epoch %s", regime, history.iloc[-1].to_dict())
save_model(smk.output.model, model, data.x_train.shape[1], arch, data.class_names, data.gene_names,
           regime=f"{regime} (shuffled labels)", seed=smk.params.seed)
write_tsv(history, smk.output.history)
