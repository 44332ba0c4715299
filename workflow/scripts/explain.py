"""rules explain / explain_seed: per-class importance (genes x classes) of every method for one model."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from pathlib import Path

from advinterp.config import explain_params, with_device_batches
from advinterp.device import seed_everything, select_device
from advinterp.explain import explain_model
from advinterp.io import write_tsv
from advinterp.model import load_model, split_store
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
# device batch sizes come from the config, not from params (changing them must not rerun the job)
cfg = with_device_batches(smk.params.interpretability, smk.config["interpretability"])
model, _ = load_model(smk.input.model, device)
methods = [Path(p).stem for p in smk.output]  # the model's voters and the extra methods: explain/.../{method}.tsv
importances = explain_model(model, split_store(smk.input.data, smk.config["scale"]), methods,
                            explain_params({"interpretability": cfg}), cfg["cells_per_class"],
                            cfg["background_cells"], smk.params.seed)
for method, path in zip(methods, smk.output, strict=True):
    log.info("%s: top gene per class %s", method, importances[method].idxmax().to_dict())
    write_tsv(importances[method], path, index=True)
