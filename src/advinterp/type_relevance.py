"""UnitedNet-style type relevance (Tang et al. 2023): the DeepSHAP relevance of each gene to each
predicted cell type (rules type_relevance / plot_type_relevance).

UnitedNet explains its group-identification module with ``shap.DeepExplainer`` and reads the
relevance of a feature to a group from the SHAP values of the cells assigned to that group. Here
the cells are those the interpretability step explains (same draw and background:
:func:`advinterp.explain.explained_cells`); each is explained by ``shap_deep`` for the type the
model *predicts* for it, and the relevance of gene g to type c is the mean |SHAP| of g over the
cells predicted as c. Per type the ``top_n`` most relevant genes are kept, with the relevance
min–max scaled over all genes of that type (1 = the type's most relevant gene, 0 = its least
relevant one), so that types with larger logits do not dominate the heatmap. A type the model
predicts for none of the explained cells has no rows.

How it differs from the per-class importance the consensus uses (:mod:`advinterp.explain`,
:mod:`advinterp.consensus`): there every cell is explained for its *true* class by six methods,
each method ranks genes within a class and the consensus counts votes; here one method (DeepSHAP)
groups cells by the *predicted* type and keeps the relevance magnitude. The two agree on the
groups exactly when every explained cell is classified correctly; ``n_cells`` in the table says
how many cells each type's relevance averages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advinterp.device import model_device
from advinterp.explain import explained_cells, make_explainer
from advinterp.model import SplitData, predict

RELEVANCE_COLUMNS = ["class", "gene", "mean_abs_shap", "scaled", "rank", "n_cells"]


def relevance_table(attributions: np.ndarray, predicted: np.ndarray, class_names: list[str],
                    gene_names: list[str], top_n: int) -> pd.DataFrame:
    """``type_relevance.tsv`` from per-cell attributions (cells × genes, each for the cell's
    predicted type) and the predicted type codes: columns ``class, gene, mean_abs_shap, scaled,
    rank, n_cells``, the ``top_n`` genes of every predicted type by mean |attribution|."""
    if attributions.shape != (len(predicted), len(gene_names)):
        raise ValueError(f"attributions have shape {attributions.shape}; expected "
                         f"({len(predicted)} cells, {len(gene_names)} genes)")
    rows = []
    for c, name in enumerate(class_names):
        chosen = predicted == c
        if not chosen.any():
            continue
        relevance = np.abs(attributions[chosen]).mean(axis=0)
        lo, hi = relevance.min(), relevance.max()
        scaled = (relevance - lo) / (hi - lo) if hi > lo else np.zeros_like(relevance)
        for rank, g in enumerate(np.argsort(-relevance, kind="stable")[:top_n], start=1):
            rows.append({"class": name, "gene": gene_names[g], "mean_abs_shap": float(relevance[g]),
                         "scaled": float(scaled[g]), "rank": rank, "n_cells": int(chosen.sum())})
    return pd.DataFrame(rows, columns=RELEVANCE_COLUMNS)


def type_relevance(model, data: SplitData, cells_per_class: int, background_cells: int, top_n: int,
                   seed: int) -> pd.DataFrame:
    """:func:`relevance_table` of a trained model: the explained cells of the interpretability step,
    each explained by ``shap_deep`` for its predicted type (an error for a TabNet, which DeepSHAP cannot
    explain: :func:`advinterp.tabnet.check_model_methods`)."""
    from advinterp.tabnet import check_model_methods

    check_model_methods(model, ["shap_deep"])
    x, _, background = explained_cells(data, cells_per_class, background_cells, seed)
    predicted = predict(model, x, model_device(model))
    attributions = make_explainer("shap_deep")(model, x, predicted, background, seed=seed)
    return relevance_table(attributions, predicted, data.class_names, data.gene_names, top_n)
