"""rule robustness_sweep: one attack, one seed: standard and adversarially trained models over the ε grid."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.config import adversarial_training_spec, attack_spec, evaluation_spec, train_spec, with_evaluation_batch
from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.model import load_model, split_data
from advinterp.robustness import epsilon_sweep
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
config = {"attacks": smk.params.attacks, "adversarial_training": smk.params.adversarial_training,
          "training": smk.params.training, **with_evaluation_batch(smk.params.evaluation, smk.config)}
model, _ = load_model(smk.input.model, device)
table = epsilon_sweep(
    model, split_data(ad.read_h5ad(smk.input.data)), smk.wildcards.attack,
    [float(e) for e in smk.params.robustness["epsilons"]],
    [float(e) for e in smk.params.robustness["adversarial_epsilons"]],
    adversarial_training_spec(config), attack_spec(config), train_spec(config), smk.params.seed, device,
    evaluation_spec(config),
)
write_tsv(table, smk.output[0])
