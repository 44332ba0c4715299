"""rule robustness_sweep: one attack, one seed: standard and adversarially trained models over the ε grid."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.config import with_evaluation_batch
from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.model import load_model, split_store
from advinterp.robustness import epsilon_sweep
from advinterp.smk import setup_logging
from advinterp.specs import AdversarialTrainingSpec, AttackSpec, EvaluationSpec, TrainSpec

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
model, _ = load_model(smk.input.model, device)
table = epsilon_sweep(
    model, split_store(smk.input.data, smk.config["scale"], sample="evaluation"), smk.wildcards.attack,
    [float(e) for e in smk.params.robustness["epsilons"]],
    [float(e) for e in smk.params.robustness["adversarial_epsilons"]],
    AdversarialTrainingSpec.from_config(smk.params.adversarial_training), AttackSpec.from_config(smk.params.attacks),
    TrainSpec.from_config(smk.params.training), smk.params.seed, device,
    EvaluationSpec.from_config(with_evaluation_batch(smk.params.evaluation, smk.config)),
)
write_tsv(table, smk.output[0])
