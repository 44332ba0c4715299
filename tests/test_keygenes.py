import numpy as np
import pandas as pd
import pytest

from advinterp.keygenes import (
    RECOVERY_COLUMNS,
    random_baseline,
    recovery_metrics,
    recovery_table,
    t_statistic_importance,
)


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


def test_recovery_table_by_hand():
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


def test_recovery_for_dataset_reads_the_key_genes_of_a_preprocessed_anndata():
    import anndata as ad

    from advinterp.keygenes import recovery_for_dataset

    rng = np.random.default_rng(0)
    genes = ["g1", "g2", "g3", "g4"]
    adata = ad.AnnData(rng.normal(size=(8, 4)).astype(np.float32),
                       obs=pd.DataFrame({"cell_type": pd.Categorical(list("AABBAABB")),
                                         "split": ["train"] * 4 + ["test"] * 4}, index=[f"c{i}" for i in range(8)]),
                       var=pd.DataFrame(index=genes))
    adata.uns["preprocess"] = {"label_key": "cell_type", "x": "log_normalized"}
    adata.var["train_mean"], adata.var["train_std"] = 0.0, 1.0  # a store whose model input is X itself
    with pytest.raises(ValueError, match="is_key_gene.*SERGIO"):
        recovery_for_dataset(adata, {}, top_n=2, seed=0)
    adata.var["is_key_gene"] = [True, False, False, True]
    adata.varm["class_key_gene"] = pd.DataFrame({"A": [True, False, False, False], "B": [False, False, False, True]},
                                                index=adata.var_names)
    imp = pd.DataFrame({"A": [4, 3, 2, 1], "B": [1, 2, 3, 4]}, index=pd.Index(genes, name="gene"), dtype=float)
    table = recovery_for_dataset(adata, {("standard", 0): {"m1": imp}}, top_n=2, seed=0)
    assert list(table.columns) == RECOVERY_COLUMNS
    row = table.set_index(["regime", "method", "ground_truth", "class"])
    assert row.loc[("standard", "m1", "class_mr", "B"), "n_key_in_top"] == 1  # g4, g3
