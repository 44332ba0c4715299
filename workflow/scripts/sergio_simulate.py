"""rule sergio_simulate: network.tsv → raw.h5ad (counts + key-gene ground truth), key_genes.tsv."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.grn import read_network
from advinterp.io import write_h5ad, write_tsv
from advinterp.simulate import key_gene_table, simulate_dataset
from advinterp.smk import setup_logging
from advinterp.specs import SimulationSpec

setup_logging(snakemake)  # noqa: F821
spec = SimulationSpec.from_config(snakemake.params.simulation)  # noqa: F821
adata = simulate_dataset(read_network(snakemake.input.network), spec, seed=snakemake.params.seed)  # noqa: F821
write_h5ad(adata, snakemake.output.h5ad)  # noqa: F821
write_tsv(key_gene_table(adata), snakemake.output.key_genes)  # noqa: F821
