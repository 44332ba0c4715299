"""rule sergio_network: sample a DS3-like regulatory network → network.tsv."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.grn import generate_network
from advinterp.io import write_tsv
from advinterp.smk import setup_logging
from advinterp.specs import NetworkSpec

log = setup_logging(snakemake)  # noqa: F821
edges, genes = generate_network(NetworkSpec.from_config(snakemake.params.network), seed=snakemake.params.seed)  # noqa: F821
log.info("%d genes (%d master regulators), %d edges, layers %s", len(genes),
         int(genes["is_master_regulator"].sum()), len(edges), genes["layer"].value_counts().sort_index().to_dict())
write_tsv(edges, snakemake.output[0])  # noqa: F821
