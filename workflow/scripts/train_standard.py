"""rule train_standard: preprocessed.h5ad → standard model, training history, test metrics."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.io import write_json, write_tsv
from advinterp.model import save_model, split_store, train_standard
from advinterp.smk import setup_logging
from advinterp.specs import Architecture, TrainSpec

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
arch = Architecture.from_config(smk.params.model)
data = split_store(smk.input[0], smk.config["scale"])
result, metrics = train_standard(data, arch, TrainSpec.from_config(smk.params.training), smk.params.seed, device)
log.info("test accuracy %.4f, macro-F1 %.4f on %s in %.1f s", metrics["accuracy"], metrics["macro_f1"],
         metrics["device"], metrics["seconds"])
save_model(smk.output.model, result.model, len(data.gene_names), arch, data.class_names, data.gene_names,
           regime="standard", seed=smk.params.seed)
write_tsv(result.history, smk.output.history)
write_json(metrics, smk.output.metrics)
