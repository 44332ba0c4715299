"""rule explain_evaluation: randomisation, deletion/insertion and max-sensitivity of every explainer for one regime."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.config import explain_params, with_device_batches
from advinterp.device import seed_everything, select_device
from advinterp.explain_checks import evaluate_explanations
from advinterp.io import write_tsv
from advinterp.model import load_model, split_store
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
# device batch sizes come from the config, not from params (changing them must not rerun the job)
interp = with_device_batches(smk.params.interpretability, smk.config["interpretability"])
checks = smk.params.checks
model, _ = load_model(smk.input.model, device)
shuffled = load_model(smk.input.label_randomised, device)[0] if smk.input.label_randomised else None
data = split_store(smk.input.data, smk.config["scale"])
table = evaluate_explanations(model, shuffled, data, smk.wildcards.regime,
                              smk.params.methods, explain_params({"interpretability": interp}),
                              checks["cells_per_class"], interp["background_cells"], smk.params.seed,
                              checks["sensitivity_radius"], checks["sensitivity_samples"], checks["deletion_steps"])
write_tsv(table, smk.output[0])
