import pandas as pd
import pytest

from advinterp.consensus import RANKED_COLUMNS, consensus, consensus_score, read_importances

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


def test_read_importances_keeps_the_methods_order(tmp_path):
    paths = []
    for m, values in (("m1", [1.0, 2.0, 3.0, 4.0, 5.0]), ("m2", [5.0, 4.0, 3.0, 2.0, 1.0])):
        imp(values).to_csv(tmp_path / f"{m}.tsv", sep="\t")
        paths.append(tmp_path / f"{m}.tsv")
    out = read_importances(["m1", "m2"], paths)
    assert list(out) == ["m1", "m2"] and out["m2"].loc["a", "k1"] == 5.0
    with pytest.raises(ValueError):
        read_importances(["m1"], paths)
