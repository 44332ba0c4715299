"""rule regcode_data: JASPAR2016 PFMs → synthetic regulatory-code sequences of one size (.npz)."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.regcode_data import RegcodeDataSpec, make_dataset, save_dataset
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
data = make_dataset(RegcodeDataSpec.from_config(smk.params.data), int(smk.params.size), smk.params.seed)
log.info("%d sequences (%s), pool of %d PFMs (%d core)", data.n_sequences,
         ", ".join(f"{s} {len(d['y'])}" for s, d in data.splits.items()), len(data.pool), data.n_core)
save_dataset(data, smk.output[0])
