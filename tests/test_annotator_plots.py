"""Fig. 5's figures from the annotator tables (issue #13): what each row shows."""

import pandas as pd

from advinterp.plots import annotator_f1_figure, annotator_precision_recall_figure


def _pr_table():
    rows = []
    for model, space, eps in [("query", "none", 0.0), ("query", "pairs", 0.1), ("query", "expression", 0.1),
                              ("query", "pairs", 0.3), ("reference_held_out", "none", 0.0)]:
        for cls, support in [("B cell", 30), ("stromal cell", 50)]:
            rows.append({"model": model, "attack_space": space, "epsilon": eps, "class": cls,
                         "precision": 0.9 - eps, "recall": 0.8 - eps, "support": support})
    return pd.DataFrame(rows)


def test_precision_recall_figure_rows_are_clean_then_each_attack_space():
    fig = annotator_precision_recall_figure(_pr_table(), 0.1, "lung")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["clean (query cells)", "FGSM in expression space, ε = 0.1", "FGSM in pairs space, ε = 0.1"]
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert labels == ["stromal cell (n=50)", "B cell (n=30)"]  # by support


def test_f1_figure_has_one_row_per_model_and_condition():
    rows = []
    for model in ["standard", "adversarial"]:
        for attack, eps in [("none", 0.0), ("fgsm", 0.5), ("pgd", 0.5), ("fgsm", 1.0)]:
            for cls in ["L2/3 IT", "Pvalb", "Astro"]:
                rows.append({"model": model, "attack": attack, "epsilon": eps, "class": cls, "f1": 0.5, "support": 3})
    fig = annotator_f1_figure(pd.DataFrame(rows), 0.5, "allen")
    heat = fig.axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == [
        "standard: clean", "standard: FGSM ε = 0.5", "standard: PGD ε = 0.5",
        "adversarial: clean", "adversarial: FGSM ε = 0.5", "adversarial: PGD ε = 0.5"]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["Astro", "L2/3 IT", "Pvalb"]


def test_precision_recall_figure_falls_back_to_held_out_cells_and_takes_an_epsilon_per_space():
    table = _pr_table()
    table = table[table["model"] != "query"]
    fig = annotator_precision_recall_figure(table, {"pairs": 0.3, "expression": 0.1}, "lung")
    assert [ax.get_title() for ax in fig.axes] == ["clean (held-out reference cells)"]  # no attacked rows there
