"""Differential expression baseline (paper section 2.4): one-vs-rest Wilcoxon rank-sum, BH-adjusted.

scanpy's ``rank_genes_groups`` does the test on log-normalised values; this module only
fixes its parameters and returns the long table the workflow writes
(``results/{dataset}/de/wilcoxon.tsv``).
"""

from __future__ import annotations

import anndata as ad
import pandas as pd

from advinterp.preprocess import require_label_key

DE_COLUMNS = ["class", "gene", "score", "logfoldchange", "pval", "pval_adj", "significant"]


def wilcoxon_de(adata: ad.AnnData, label_key: str, layer: str | None = None,
                alpha: float = 0.05) -> pd.DataFrame:
    """Every gene of every class, one-vs-rest: Wilcoxon score, log fold change, p, BH-adjusted p.

    ``layer`` holds log-normalised values (``None``: ``adata.X``, as in the preprocessed store,
    :mod:`advinterp.store`). ``significant`` is
    ``pval_adj < alpha``. Rows are ordered by class, then by scanpy's score (descending).
    """
    import scanpy as sc

    require_label_key(adata, label_key)
    work = ad.AnnData(X=adata.layers[layer] if layer else adata.X, obs=adata.obs[[label_key]].copy(),
                      var=pd.DataFrame(index=adata.var_names))
    work.obs[label_key] = work.obs[label_key].astype("category")
    sc.tl.rank_genes_groups(work, label_key, method="wilcoxon", corr_method="benjamini-hochberg",
                            n_genes=work.n_vars, use_raw=False, tie_correct=True)
    table = sc.get.rank_genes_groups_df(work, group=None)
    if "group" not in table:  # a single group: scanpy leaves the column out
        table.insert(0, "group", work.obs[label_key].cat.categories[0])
    table = table.rename(columns={"group": "class", "names": "gene", "scores": "score",
                                  "logfoldchanges": "logfoldchange", "pvals": "pval", "pvals_adj": "pval_adj"})
    table["class"] = table["class"].astype(str)
    table["significant"] = table["pval_adj"] < alpha
    return table[DE_COLUMNS].reset_index(drop=True)


def top_de_genes(table: pd.DataFrame, n: int) -> dict[str, list[str]]:
    """The first ``n`` genes of each class by Wilcoxon score (the Venn diagrams' DE side)."""
    return {c: list(g.sort_values("score", ascending=False)["gene"].head(n)) for c, g in table.groupby("class")}
