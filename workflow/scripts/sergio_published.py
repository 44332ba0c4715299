"""rule simulate_published_network: SERGIO's network files → raw.h5ad, network.tsv, key_genes.tsv."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.io import write_h5ad, write_tsv
from advinterp.simulate import key_gene_table, simulate_published
from advinterp.smk import setup_logging
from advinterp.specs import SimulationSpec

smk = snakemake  # noqa: F821
setup_logging(smk)
spec = SimulationSpec.from_config(smk.params.simulation)
adata, edges = simulate_published(smk.input.interactions, smk.input.regulators, spec, seed=smk.params.seed)
write_tsv(edges, smk.output.network)
write_tsv(key_gene_table(adata), smk.output.key_genes)
write_h5ad(adata, smk.output.h5ad)
