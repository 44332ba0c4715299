"""rule robustness_sanity: Carlini et al. 2019 checks of the robust accuracy of every model, and its ε curves."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from pathlib import Path

from advinterp.attack_sanity import sanity_checks
from advinterp.config import with_evaluation_batch
from advinterp.device import seed_everything, select_device
from advinterp.io import read_json, write_tsv
from advinterp.model import load_model, split_store
from advinterp.smk import setup_logging
from advinterp.specs import EvaluationSpec, SanitySpec, evaluation_epsilon

smk = snakemake  # noqa: F821
setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
evaluation = with_evaluation_batch(smk.params.evaluation, smk.config)
selected = read_json(smk.input.epsilon)
models = {Path(path).stem: load_model(path, device)[0] for path in smk.input.models}
# adversarial regimes are reported at their training epsilon, the others at the smallest selected one
model_epsilon = {name: evaluation_epsilon(name, selected) for name in models}
data = split_store(smk.input.data, smk.config["scale"], sample="evaluation")
table, curves = sanity_checks(models, load_model(smk.input.surrogate, device)[0], data.x_test, data.y_test,
                              [float(e) for e in smk.params.robustness["epsilons"]], model_epsilon,
                              EvaluationSpec.from_config(evaluation), SanitySpec.from_config(evaluation["sanity"]),
                              smk.params.seed)
write_tsv(table, smk.output.table)
write_tsv(curves, smk.output.curves)
