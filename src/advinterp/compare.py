"""Consensus genes against the DE baseline: Venn counts (Fig 3d,e) and the top-gene tables (Tables 1–2)."""

from __future__ import annotations

import pandas as pd

from advinterp.de import top_de_genes

VENN_COLUMNS = ["class", "n_consensus", "n_de", "n_shared", "jaccard"]
TOP_GENE_COLUMNS = ["class", "rank", "gene", "votes", "de_significant"]


def top_consensus_genes(ranked: pd.DataFrame, n: int) -> dict[str, list[str]]:
    """The first ``n`` genes of each class of a ``consensus/{regime}.ranked.tsv`` table."""
    return {str(c): list(g.sort_values("rank")["gene"].head(n)) for c, g in ranked.groupby("class")}


def consensus_vs_de(ranked: pd.DataFrame, de: pd.DataFrame, n: int = 100) -> pd.DataFrame:
    """Per class: sizes of the consensus top-``n`` and DE top-``n`` sets, their overlap and Jaccard index."""
    cons, de_top = top_consensus_genes(ranked, n), top_de_genes(de, n)
    missing = sorted(set(cons) ^ set(de_top))
    if missing:
        raise ValueError(f"consensus and DE tables disagree on the classes: {missing}")
    rows = []
    for cls in sorted(cons):
        a, b = set(cons[cls]), set(de_top[cls])
        union = a | b
        rows.append((cls, len(a), len(b), len(a & b), len(a & b) / len(union) if union else 0.0))
    return pd.DataFrame(rows, columns=VENN_COLUMNS)


def top_genes_table(ranked: pd.DataFrame, de: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per class the top-``k`` consensus genes, with whether DE calls each significant."""
    called = set(zip(de.loc[de["significant"], "class"].astype(str), de.loc[de["significant"], "gene"], strict=True))
    top = ranked[ranked["rank"] <= k].copy()
    top["class"] = top["class"].astype(str)
    top["de_significant"] = [(c, g) in called for c, g in zip(top["class"], top["gene"], strict=True)]
    return top.sort_values(["class", "rank"])[TOP_GENE_COLUMNS].reset_index(drop=True)


def top_genes_markdown(table: pd.DataFrame) -> str:
    """Markdown table, one row per class; genes DE does not call significant in **bold** (the paper's style)."""
    lines = ["| class | top consensus genes |", "|---|---|"]
    for cls, group in table.groupby("class", sort=True):
        genes = [g if sig else f"**{g}**" for g, sig in zip(group["gene"], group["de_significant"], strict=True)]
        lines.append(f"| {cls} | {', '.join(genes)} |")
    return "\n".join(lines) + "\n"
