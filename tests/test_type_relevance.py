"""UnitedNet-style type relevance (issue #15): mean |DeepSHAP| per predicted type and gene."""

import numpy as np
import pandas as pd
import pytest

from advinterp.explain import explained_cells, make_explainer
from advinterp.model import predict
from advinterp.type_relevance import RELEVANCE_COLUMNS, relevance_table, type_relevance
from tests.toy import toy


def test_relevance_table_by_hand():
    attributions = np.array([[1.0, -3.0, 0.0],   # predicted a
                             [-3.0, 1.0, 2.0],   # predicted a
                             [0.0, 0.0, 5.0]])   # predicted c
    table = relevance_table(attributions, np.array([0, 0, 2]), ["a", "b", "c"], ["g0", "g1", "g2"], top_n=2)
    assert list(table.columns) == RELEVANCE_COLUMNS
    assert set(table["class"]) == {"a", "c"}  # b is predicted for no cell: no rows
    a = table[table["class"] == "a"].set_index("gene")
    # mean |SHAP| over a's two cells: g0 2, g1 2, g2 1 -> top 2 are g0, g1 (stable order), scaled over all three
    assert list(a.index) == ["g0", "g1"] and a["mean_abs_shap"].tolist() == [2.0, 2.0]
    assert a["scaled"].tolist() == [1.0, 1.0] and a["rank"].tolist() == [1, 2] and (a["n_cells"] == 2).all()
    c = table[table["class"] == "c"].set_index("gene")
    assert c.index[0] == "g2" and c.loc["g2", "scaled"] == 1.0 and c.iloc[1]["scaled"] == 0.0
    with pytest.raises(ValueError, match="expected \\(3 cells, 2 genes\\)"):
        relevance_table(attributions, np.array([0, 0, 2]), ["a", "b", "c"], ["g0", "g1"], top_n=2)


def test_type_relevance_groups_cells_by_the_predicted_type():
    model, data = toy()
    table = type_relevance(model, data, cells_per_class=4, background_cells=20, top_n=5, seed=0)
    assert list(table.columns) == RELEVANCE_COLUMNS
    x, t, background = explained_cells(data, 4, 20, 0)
    predicted = predict(model, x, "cpu")
    counts = pd.Series(predicted).value_counts()
    per_type = table.groupby("class")["n_cells"].first()
    assert {data.class_names[k]: v for k, v in counts.items()} == per_type.to_dict()
    assert (table.groupby("class").size() == 5).all() and table["scaled"].between(0, 1).all()
    # the relevance is DeepSHAP's, for the predicted type, averaged over the type's cells
    shap = make_explainer("shap_deep")(model, x, predicted, background, seed=0)
    first = table.iloc[0]
    cls = data.class_names.index(first["class"])
    gene = data.gene_names.index(first["gene"])
    assert first["mean_abs_shap"] == pytest.approx(np.abs(shap[predicted == cls, gene]).mean())
