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
