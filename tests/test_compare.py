"""Venn counts and top-gene tables on hand-made consensus and DE tables."""

import pandas as pd
import pytest

from advinterp.compare import VENN_COLUMNS, consensus_vs_de, top_genes_markdown, top_genes_table


def _ranked():
    rows = [("A", r, g, 6 - r, float(r)) for r, g in enumerate(["g1", "g2", "g3", "g4"], start=1)]
    rows += [("B", r, g, 6 - r, float(r)) for r, g in enumerate(["g4", "g5", "g1", "g2"], start=1)]
    return pd.DataFrame(rows, columns=["class", "rank", "gene", "votes", "mean_rank"])


def _de():
    rows = [("A", "g2", 9.0, True), ("A", "g9", 8.0, True), ("A", "g1", 1.0, False), ("A", "g3", 0.5, False),
            ("B", "g4", 7.0, True), ("B", "g5", 6.0, True), ("B", "g8", 5.0, True), ("B", "g1", 0.1, False)]
    de = pd.DataFrame(rows, columns=["class", "gene", "score", "significant"])
    return de.assign(logfoldchange=0.0, pval=0.01, pval_adj=0.02)


def test_venn_counts_and_jaccard_by_hand():
    table = consensus_vs_de(_ranked(), _de(), n=2)
    assert list(table.columns) == VENN_COLUMNS
    a, b = table.set_index("class").loc["A"], table.set_index("class").loc["B"]
    # A: consensus {g1, g2}, DE {g2, g9} -> 1 shared of 3
    assert (a.n_consensus, a.n_de, a.n_shared) == (2, 2, 1) and a.jaccard == pytest.approx(1 / 3)
    # B: consensus {g4, g5}, DE {g4, g5} -> identical
    assert (b.n_shared, b.jaccard) == (2, 1.0)


def test_class_mismatch_is_an_error():
    with pytest.raises(ValueError, match="disagree on the classes: \\['B'\\]"):
        consensus_vs_de(_ranked(), _de()[_de()["class"] == "A"], n=2)


def test_top_genes_mark_what_de_does_not_call():
    table = top_genes_table(_ranked(), _de(), k=3)
    assert list(table[table["class"] == "A"]["gene"]) == ["g1", "g2", "g3"]
    assert list(table[table["class"] == "A"]["de_significant"]) == [False, True, False]
    md = top_genes_markdown(table)
    assert "| A | **g1**, g2, **g3** |" in md and "| B | g4, g5, **g1** |" in md
