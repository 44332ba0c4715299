import numpy as np
import pandas as pd
import pytest

from advinterp.consensus import (
    RANKED_COLUMNS,
    class_importance,
    consensus,
    consensus_score,
    random_baseline,
    recovery_metrics,
    select_cells,
    t_statistic_importance,
)

GENES = ["a", "b", "c", "d", "e"]


def imp(values):
    return pd.DataFrame({"k1": values}, index=pd.Index(GENES, name="gene"))


def test_votes_and_tie_breaking_by_mean_rank():
    importances = {
        "m1": imp([5, 4, 3, 2, 1]),  # ranks a1 b2 c3 d4 e5
        "m2": imp([1, 5, 4, 3, 2]),  # ranks b1 c2 d3 e4 a5
        "m3": imp([4, 1, 5, 3, 2]),  # ranks c1 a2 d3 e4 b5
    }
    votes, ranked = consensus(importances, top_n=2)
    # top-2 sets: m1 {a,b}, m2 {b,c}, m3 {c,a}
    assert votes["k1"].to_dict() == {"a": 2, "b": 2, "c": 2, "d": 0, "e": 0}
    assert list(ranked.columns) == RANKED_COLUMNS
    # a, b, c tie on 2 votes; mean ranks: a (1+5+2)/3=2.67, b (2+1+5)/3=2.67, c (3+2+1)/3=2 → c first,
    # then a and b by name; d (4+3+3)/3=3.33 before e (5+4+4)/3=4.33
    assert ranked["gene"].tolist() == ["c", "a", "b", "d", "e"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranked.loc[ranked["gene"] == "c", "mean_rank"].item() == pytest.approx(2.0)
    score = consensus_score(ranked, "k1", pd.Index(GENES))
    assert score.sort_values(ascending=False).index.tolist() == ["c", "a", "b", "d", "e"]


def test_class_importance_is_mean_abs_attribution():
    attr = np.array([[1.0, -2.0], [3.0, 0.0], [-5.0, 1.0]])
    out = class_importance(attr, np.array([0, 0, 1]), ["x", "y"], ["g1", "g2"])
    assert out.loc["g1", "x"] == 2.0 and out.loc["g2", "x"] == 1.0 and out.loc["g1", "y"] == 5.0


def test_recovery_by_hand():
    score = pd.Series([0.9, 0.8, 0.1, 0.7, 0.2, 0.3], index=list("abcdef"))
    key = pd.Series([True, False, True, True, False, False], index=list("abcdef"))
    m = recovery_metrics(score, key, top_n=2)
    assert m["n_key_in_top"] == 1  # a, b
    assert m["n_key_expected"] == pytest.approx(2 * 3 / 6)
    # AUROC: P(score key > score non-key) over 9 pairs: a beats all 3, d beats e,f (2), c beats none → 5/9
    assert m["auroc"] == pytest.approx(5 / 9)
    r = random_baseline(key, top_n=2)
    assert r["auroc"] == 0.5 and r["auprc"] == pytest.approx(0.5) and r["n_key_in_top"] == pytest.approx(1.0)


def test_t_statistic_finds_the_shifted_gene():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4))
    labels = np.repeat([0, 1], 50)
    x[labels == 1, 2] += 3
    t = t_statistic_importance(x, labels, ["p", "q"], ["g0", "g1", "g2", "g3"])
    assert t["q"].idxmax() == "g2" and t["p"].idxmax() == "g2"


def test_select_cells():
    labels = np.array([0] * 10 + [1] * 3)
    idx = select_cells(labels, 5, seed=1)
    assert (labels[idx] == 0).sum() == 5 and (labels[idx] == 1).sum() == 3
    np.testing.assert_array_equal(idx, select_cells(labels, 5, seed=1))


def test_recovery_table_by_hand():
    from advinterp.consensus import RECOVERY_COLUMNS, recovery_table

    genes = pd.Index(["g1", "g2", "g3", "g4"], name="gene")
    imp = {
        "m1": pd.DataFrame({"A": [4, 3, 2, 1], "B": [1, 2, 3, 4]}, index=genes, dtype=float),
        "m2": pd.DataFrame({"A": [3, 4, 1, 2], "B": [4, 3, 2, 1]}, index=genes, dtype=float),
    }
    key_all = pd.Series([True, False, False, True], index=genes)
    key_class = pd.DataFrame({"A": [True, False, False, False], "B": [False, False, False, True]}, index=genes)
    t_stat = pd.DataFrame({"A": [1, 2, 3, 4], "B": [4, 3, 2, 1]}, index=genes, dtype=float)
    table = recovery_table({("standard", 0): imp}, key_all, key_class, t_stat, top_n=2, baseline_seed=0)
    assert list(table.columns) == RECOVERY_COLUMNS
    # (2 methods + consensus) x 2 truths x 2 classes, plus t_statistic and random for each truth x class
    assert len(table) == 3 * 2 * 2 + 2 * 2 * 2
    row = table.set_index(["regime", "method", "ground_truth", "class"])
    assert row.loc[("standard", "m1", "all_mr", "A"), "n_key_in_top"] == 1  # g1, g2
    assert row.loc[("standard", "m1", "class_mr", "B"), "n_key_in_top"] == 1  # g4, g3
    assert row.loc[("standard", "m2", "class_mr", "B"), "n_key_in_top"] == 0  # g1, g2
    # consensus for A: g1 and g2 both get 2 votes → top 2 = {g1, g2}
    assert row.loc[("standard", "consensus", "all_mr", "A"), "n_key_in_top"] == 1
    assert row.loc[("baseline", "t_statistic", "all_mr", "A"), "n_key_in_top"] == 1  # g4, g3
    assert row.loc[("baseline", "random", "all_mr", "A"), "n_key_expected"] == pytest.approx(2 * 2 / 4)
    assert row.loc[("standard", "m1", "all_mr", "A"), "auroc"] == pytest.approx(0.5)  # g1 top, g4 bottom
