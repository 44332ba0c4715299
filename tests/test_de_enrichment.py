"""Wilcoxon DE baseline and the offline (GMT) enrichment backend."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from advinterp.de import DE_COLUMNS, top_de_genes, wilcoxon_de
from advinterp.enrichment import ENRICHMENT_COLUMNS, overrepresentation, read_gmt


def _two_groups(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.0, size=(60, 8)).astype(float)
    x[:30, 3] += 8  # gene g3 up in group A
    adata = ad.AnnData(X=np.log1p(x), obs=pd.DataFrame({"cell_type": ["A"] * 30 + ["B"] * 30},
                                                        index=[f"c{i}" for i in range(60)]),
                       var=pd.DataFrame(index=[f"g{j}" for j in range(8)]))
    adata.layers["log_normalized"] = adata.X.copy()
    return adata


def test_wilcoxon_finds_the_planted_marker_with_bh_adjustment():
    adata = _two_groups()
    table = wilcoxon_de(adata, "cell_type")
    assert list(table.columns) == DE_COLUMNS
    assert len(table) == 2 * 8
    a = table[table["class"] == "A"].set_index("gene")
    assert a["score"].idxmax() == "g3" and a.loc["g3", "significant"] and a.loc["g3", "logfoldchange"] > 1
    # the raw p-value is scipy's two-sided rank-sum (normal approximation, ties corrected)
    ref = stats.mannwhitneyu(adata.X[:30, 3], adata.X[30:, 3], alternative="two-sided", method="asymptotic",
                             use_continuity=False).pvalue
    assert a.loc["g3", "pval"] == pytest.approx(ref, rel=1e-6)
    np.testing.assert_allclose(np.sort(a["pval_adj"]), np.sort(stats.false_discovery_control(a["pval"])))
    assert (a.drop(index="g3")["significant"] == (a.drop(index="g3")["pval_adj"] < 0.05)).all()
    assert top_de_genes(table, 1) == {"A": ["g3"], "B": [table[table["class"] == "B"].iloc[0]["gene"]]}


def test_wilcoxon_names_the_missing_label_key():
    with pytest.raises(ValueError, match="label key 'clusters' is not in obs; available keys: \\['cell_type'\\]"):
        wilcoxon_de(_two_groups(), "clusters")


def test_overrepresentation_matches_scipy_hypergeometric_by_hand(tmp_path):
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("SET_A\tfirst set\tg1\tg2\tg3\tg4\tg5\tOUTSIDE\n"
                   "SET_B\thttp://example.org/b\tg6\tg7\n"
                   "SET_C\tna\tOUTSIDE\n")
    sets = read_gmt(gmt)
    assert sets["SET_A"] == ("first set", ["g1", "g2", "g3", "g4", "g5", "OUTSIDE"])
    background = [f"g{i}" for i in range(1, 21)]  # N = 20
    table = overrepresentation(["g1", "g2", "g3", "g9", "NOT_MEASURED"], sets, background)
    assert list(table.columns) == ENRICHMENT_COLUMNS
    assert list(table["term_id"]) == ["SET_A", "SET_B"]  # SET_C has no background gene
    a = table.iloc[0]
    # K = 5 set genes in the background, n = 4 query genes in the background, k = 3 shared
    assert (a.term_size, a.query_size, a.intersection_size, a.intersection) == (5, 4, 3, "g1,g2,g3")
    assert a.p_value == pytest.approx(stats.hypergeom.sf(2, 20, 5, 4))
    assert a.p_value == pytest.approx(sum(stats.hypergeom.pmf(k, 20, 5, 4) for k in (3, 4)))
    b = table.iloc[1]
    assert b.term_name == "SET_B" and b.intersection_size == 0 and b.p_value == pytest.approx(1.0)
    np.testing.assert_allclose(table["p_adj"], stats.false_discovery_control(table["p_value"], method="bh"))


def test_gmt_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.gmt"
    bad.write_text("ONLY_A_NAME\n")
    with pytest.raises(ValueError, match="bad.gmt, line 1"):
        read_gmt(bad)


def test_consensus_queries_pool_each_class_top_genes_with_file_safe_names():
    from advinterp.enrichment import consensus_queries, query_name

    ranked = pd.DataFrame({"class": ["CD4+/CD25 T Reg"] * 3 + ["B"] * 3, "rank": [1, 2, 3] * 2,
                           "gene": ["x", "y", "z", "y", "w", "v"], "votes": 1, "mean_rank": 1.0})
    queries = consensus_queries(ranked, 2)
    assert queries == {"pooled": ["w", "x", "y"], "class_CD4_CD25_T_Reg": ["x", "y"], "class_B": ["y", "w"]}
    assert query_name("a b") == "class_a_b"
    with pytest.raises(ValueError, match="clashing query file names"):
        consensus_queries(ranked.replace({"B": "CD4+ CD25 T Reg"}), 2)


def test_enrich_with_the_gmt_backend_and_organism_check(tmp_path):
    from advinterp.enrichment import enrich

    gmt = tmp_path / "sets.gmt"
    gmt.write_text("UP\tplanted\tg1\tg2\tg3\nOTHER\tna\tg7\tg8\n")
    params = {"backend": "gmt", "gmt": str(gmt), "sources": ["GO:BP"], "background": "measured", "timeout": 1,
              "retries": 1}
    tables = enrich({"pooled": ["g1", "g2", "g5"]}, [f"g{j}" for j in range(10)], params, "none")
    table = tables["pooled"]
    assert list(table.columns) == ENRICHMENT_COLUMNS and table.loc[0, "term_id"] == "UP"
    assert table.loc[0, "intersection"] == "g1,g2" and table.loc[0, "source"] == "sets"
    with pytest.raises(ValueError, match="needs the dataset's organism"):
        enrich({"pooled": ["g1"]}, ["g1"], {**params, "backend": "gprofiler"}, "none")
