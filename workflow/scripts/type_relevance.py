"""rule type_relevance: UnitedNet-style DeepSHAP relevance of each gene to each predicted type, for one model."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.device import seed_everything, select_device
from advinterp.io import write_tsv
from advinterp.model import load_model, split_store
from advinterp.smk import setup_logging
from advinterp.type_relevance import type_relevance

smk = snakemake  # noqa: F821
log = setup_logging(smk)
seed_everything(smk.params.seed, threads=smk.threads)
device = select_device(smk.params.device)
model, _ = load_model(smk.input.model, device)
table = type_relevance(model, split_store(smk.input.data, smk.config["scale"]), smk.params.cells_per_class,
                       smk.params.background_cells, smk.params.top_n, smk.params.seed)
log.info("cells per predicted type: %s", table.groupby("class")["n_cells"].first().to_dict())
write_tsv(table, smk.output[0])
