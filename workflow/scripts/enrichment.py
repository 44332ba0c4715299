"""rule enrichment: top consensus genes, pooled and per class, against g:Profiler or a GMT file."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import os

import anndata as ad
import pandas as pd

from advinterp.enrichment import consensus_queries, enrich
from advinterp.io import write_tsv
from advinterp.plots import enrichment_dotplot_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
params = dict(smk.params.enrichment)
if params["backend"] == "gmt":
    params["gmt"] = smk.input.gmt  # the file as found (working directory, else the repository)
queries = consensus_queries(pd.read_csv(smk.input.ranked, sep="\t"), params["top_n"])
measured = list(ad.read_h5ad(smk.input.data, backed="r").var_names)
tables = enrich(queries, measured, params, smk.params.organism)
os.makedirs(smk.output.tables, exist_ok=True)
for name, table in tables.items():
    log.info("%s: %d genes, %d terms with p_adj < 0.05", name, len(queries[name]), int((table["p_adj"] < 0.05).sum()))
    write_tsv(table, os.path.join(smk.output.tables, f"{name}.tsv"))
title = (f"{smk.wildcards.dataset}: enrichment of the top {params['top_n']} consensus genes of every class "
         f"({params['backend']})")
save_figure(enrichment_dotplot_figure(tables["pooled"], title), smk.output.png, smk.output.pdf)
