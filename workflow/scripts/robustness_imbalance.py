"""rule robustness_imbalance: per-class accuracy under attack with thinned-out classes (Supp. Fig. S2b)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.config import with_evaluation_batch
from advinterp.device import seed_everything, select_device
from advinterp.io import read_json, write_json, write_tsv
from advinterp.model import split_store
from advinterp.robustness import imbalance_experiment
from advinterp.smk import setup_logging
from advinterp.specs import AdversarialTrainingSpec, Architecture, AttackSpec, EvaluationSpec, TrainSpec

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
selected = read_json(smk.input.epsilon)
epsilons = {attack: selected[attack]["epsilon"] for attack in smk.params.robustness["attacks"]}
imb = smk.params.imbalance
table, dropped = imbalance_experiment(
    split_store(smk.input.data, smk.config["scale"], sample="evaluation"), epsilons, imb["n_classes"],
    tuple(imb["drop_fraction"]),
    Architecture.from_config(smk.params.model), TrainSpec.from_config(smk.params.training),
    AdversarialTrainingSpec.from_config(smk.params.adversarial_training), AttackSpec.from_config(smk.params.attacks),
    smk.params.seed, device, EvaluationSpec.from_config(with_evaluation_batch(smk.params.evaluation, smk.config)),
)
log.info("dropped training-cell fractions: %s", dropped)
write_tsv(table, smk.output.table)
write_json({"dropped_fraction": dropped, "epsilon": epsilons}, smk.output.dropped)
