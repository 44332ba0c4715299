"""The consensus importance score (paper section 3.2): the explainers vote.

Per class, each method's top-N genes (by its per-class importance, the genes x classes tables
:func:`advinterp.explain.explain_model` writes) vote; a gene's consensus importance score is
the number of methods that voted for it; ties are broken by the gene's mean rank across
methods. pandas and numpy only: the consensus rule needs no model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RANKED_COLUMNS = ["class", "rank", "gene", "votes", "mean_rank"]


def read_importances(methods: list[str], paths) -> dict[str, pd.DataFrame]:
    """Method → genes x classes importance, from the per-method TSVs (same order as ``methods``)."""
    return {m: pd.read_csv(p, sep="\t", index_col=0) for m, p in zip(methods, paths, strict=True)}


def ranks(importance: pd.Series) -> pd.Series:
    """1 = most important; ties share the mean rank."""
    return importance.rank(ascending=False, method="average")


def consensus(importances: dict[str, pd.DataFrame], top_n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Consensus votes (genes x classes, integers) and the ranked long table.

    ``importances`` maps method → genes x classes importance. The ranked table has one
    row per (class, gene) with columns class, rank, gene, votes, mean_rank: genes sorted
    by votes (descending), then mean rank across methods (ascending), then name.
    """
    methods = list(importances)
    first = importances[methods[0]]
    genes, classes = first.index, first.columns
    votes = pd.DataFrame(0, index=genes, columns=classes, dtype=int)
    rows = []
    for cls in classes:
        rank_table = pd.DataFrame({m: ranks(importances[m].loc[genes, cls]) for m in methods})
        top = (rank_table <= top_n).sum(axis=1).astype(int)
        votes[cls] = top
        ranked = pd.DataFrame({"gene": genes, "votes": top.to_numpy(),
                               "mean_rank": rank_table.mean(axis=1).to_numpy()})
        ranked = ranked.sort_values(["votes", "mean_rank", "gene"], ascending=[False, True, True], kind="stable")
        ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
        ranked.insert(0, "class", cls)
        rows.append(ranked)
    ranked_all = pd.concat(rows, ignore_index=True)[RANKED_COLUMNS]
    votes.index.name = "gene"
    return votes, ranked_all


def consensus_score(ranked: pd.DataFrame, cls: str, genes: pd.Index) -> pd.Series:
    """A score whose descending order is the consensus ranking of ``cls`` (for AUROC/AUPRC)."""
    sub = ranked[ranked["class"] == cls].set_index("gene")
    return (len(sub) + 1 - sub["rank"]).reindex(genes).astype(float)
