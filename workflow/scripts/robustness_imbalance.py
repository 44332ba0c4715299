"""rule robustness_imbalance: per-class accuracy under attack with thinned-out classes (Supp. Fig. S2b)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import anndata as ad

from advinterp.config import (
    adversarial_training_spec,
    architecture,
    attack_spec,
    evaluation_spec,
    train_spec,
    with_evaluation_batch,
)
from advinterp.device import seed_everything, select_device
from advinterp.io import read_json, write_json, write_tsv
from advinterp.model import split_data
from advinterp.robustness import imbalance_experiment
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
config = {k: smk.params[k] for k in ("attacks", "adversarial_training", "training", "model")}
config |= with_evaluation_batch(smk.params.evaluation, smk.config)
selected = read_json(smk.input.epsilon)
epsilons = {attack: selected[attack]["epsilon"] for attack in smk.params.robustness["attacks"]}
imb = smk.params.imbalance
table, dropped = imbalance_experiment(
    split_data(ad.read_h5ad(smk.input.data)), epsilons, imb["n_classes"], tuple(imb["drop_fraction"]),
    architecture(config), train_spec(config), adversarial_training_spec(config), attack_spec(config),
    smk.params.seed, device, evaluation_spec(config),
)
log.info("dropped training-cell fractions: %s", dropped)
write_tsv(table, smk.output.table)
write_json({"dropped_fraction": dropped, "epsilon": epsilons}, smk.output.dropped)
