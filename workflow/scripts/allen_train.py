"""rules allen_train, allen_train_adversarial: Le et al.'s MLP on the Allen data (standard, or
adversarially trained at the selected ε)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import json

import anndata as ad

from advinterp.allen_mlp import AllenAdversarialSpec, AllenMLPSpec, save_allen_model, train_on_data
from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
spec = AllenMLPSpec.from_config(smk.params.network)
adversarial = None
if "epsilon" in smk.input.keys():
    attack = smk.params.adversarial["attack"]
    epsilon = json.loads(open(smk.input.epsilon).read())[attack]["epsilon"]
    adversarial = AllenAdversarialSpec.from_config({**smk.params.adversarial, "epsilon": epsilon})
adata = ad.read_h5ad(smk.input.data)
model, history, names = train_on_data(adata, spec, smk.params.seed, device, adversarial)
log.info("%d epochs, last validation accuracy %.4f", len(history), history["val_accuracy"].iloc[-1])
save_allen_model(smk.output.model, model, names, list(adata.var_names), spec, seed=smk.params.seed,
                 adversarial=None if adversarial is None else {"attack": adversarial.attack,
                                                               "epsilon": adversarial.epsilon})
write_tsv(history, smk.output.history)
