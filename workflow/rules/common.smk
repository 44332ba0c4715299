import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The config checks come from this checkout's library (light: no torch, no scanpy), so
# parsing works in a bare snakemake environment too, e.g. with --use-conda.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from advinterp.config import check_config, describe_validation_error

try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as err:
    # Snakemake's own message buries the offending key under a dump of the schema.
    raise WorkflowError(f"invalid config: {describe_validation_error(err)}") from None
try:
    check_config(config)
except ValueError as err:
    raise WorkflowError(f"invalid config: {err}") from None


DATASETS = list(config["datasets"])
# Rules that use torch ask the scheduler for a GPU only when the config asks for one,
# so CPU runs are not throttled by a gpu resource limit.
GPU = 1 if config["device"] == "cuda" else 0


def all_outputs():
    """Final targets of the default run: per dataset, the model, its metrics and figures."""
    outputs = []
    for ds in DATASETS:
        outputs += [
            f"results/{ds}/data/preprocessed.h5ad",
            f"results/{ds}/models/standard.pt",
            f"results/{ds}/models/standard.history.tsv",
            f"results/{ds}/metrics/standard.json",
            f"results/{ds}/figures/umap.png",
            f"results/{ds}/figures/standard.confusion.png",
            f"results/{ds}/figures/standard.training_curve.png",
        ]
    return outputs


def raw_h5ad(wildcards):
    """Counts AnnData of a dataset (the simulated one for sergio)."""
    return f"results/{wildcards.dataset}/data/raw.h5ad"
