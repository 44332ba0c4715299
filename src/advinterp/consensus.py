"""Per-class importance, the consensus importance score, and key-gene recovery (paper section 3.2).

- Per-class importance of a gene: mean |attribution| over the explained cells of that
  class (for activation maximisation every cell carries its class prototype, so this is
  |prototype|).
- Consensus: per class, each method's top-N genes vote; a gene's consensus importance
  score is the number of methods that voted for it; ties are broken by the gene's mean
  rank across methods.
- Recovery (SERGIO): how many key genes are in a ranking's top N, against the N·K/G
  expected at random, and ROC-AUC / PR-AUC of the importance against key-gene membership
  (the interpretability metric of Koo & Ploenzke 2019).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

RANKED_COLUMNS = ["class", "rank", "gene", "votes", "mean_rank"]
RECOVERY_COLUMNS = ["regime", "method", "ground_truth", "class", "seed", "top_n", "n_key_in_top", "n_key_expected",
                    "auroc", "auprc"]


def select_cells(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of up to ``per_class`` cells of every class, drawn reproducibly, sorted."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        chosen.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(chosen))


def class_importance(attributions: np.ndarray, labels: np.ndarray, class_names: list[str],
                     gene_names: list[str]) -> pd.DataFrame:
    """Genes x classes: mean |attribution| over the explained cells of each class (NaN if none)."""
    out = {}
    for c, name in enumerate(class_names):
        rows = np.abs(attributions[labels == c])
        out[name] = rows.mean(axis=0) if len(rows) else np.full(len(gene_names), np.nan)
    return pd.DataFrame(out, index=pd.Index(gene_names, name="gene"))


def ranks(importance: pd.Series) -> pd.Series:
    """1 = most important; ties share the mean rank."""
    return importance.rank(ascending=False, method="average")


def consensus(importances: dict[str, pd.DataFrame], top_n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Consensus votes (genes x classes, integers) and the ranked long table.

    ``importances`` maps method → genes x classes importance. The ranked table has one
    row per (class, gene) with columns class, rank, gene, votes, mean_rank: genes sorted
    by votes (descending), then mean rank across methods (ascending), then name.
    """
    methods = list(importances)
    first = importances[methods[0]]
    genes, classes = first.index, first.columns
    votes = pd.DataFrame(0, index=genes, columns=classes, dtype=int)
    rows = []
    for cls in classes:
        rank_table = pd.DataFrame({m: ranks(importances[m].loc[genes, cls]) for m in methods})
        top = (rank_table <= top_n).sum(axis=1).astype(int)
        votes[cls] = top
        ranked = pd.DataFrame({"gene": genes, "votes": top.to_numpy(),
                               "mean_rank": rank_table.mean(axis=1).to_numpy()})
        ranked = ranked.sort_values(["votes", "mean_rank", "gene"], ascending=[False, True, True], kind="stable")
        ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
        ranked.insert(0, "class", cls)
        rows.append(ranked)
    ranked_all = pd.concat(rows, ignore_index=True)[RANKED_COLUMNS]
    votes.index.name = "gene"
    return votes, ranked_all


def consensus_score(ranked: pd.DataFrame, cls: str, genes: pd.Index) -> pd.Series:
    """A score whose descending order is the consensus ranking of ``cls`` (for AUROC/AUPRC)."""
    sub = ranked[ranked["class"] == cls].set_index("gene")
    return (len(sub) + 1 - sub["rank"]).reindex(genes).astype(float)


def t_statistic_importance(x: np.ndarray, labels: np.ndarray, class_names: list[str],
                           gene_names: list[str]) -> pd.DataFrame:
    """Model-free baseline: |Welch t| of each gene, class vs rest, on the scaled data."""
    out = {}
    for c, name in enumerate(class_names):
        t, _ = stats.ttest_ind(x[labels == c], x[labels != c], axis=0, equal_var=False)
        out[name] = np.nan_to_num(np.abs(t))
    return pd.DataFrame(out, index=pd.Index(gene_names, name="gene"))


def recovery_metrics(score: pd.Series, is_key: pd.Series, top_n: int) -> dict:
    """Key genes in the top ``top_n`` of ``score``, the random expectation N·K/G, AUROC and AUPRC."""
    is_key = is_key.reindex(score.index).fillna(False).astype(bool)
    n_genes, n_key = len(score), int(is_key.sum())
    top = ranks(score) <= top_n
    if 0 < n_key < n_genes:
        auroc = float(roc_auc_score(is_key, score.fillna(score.min())))
        auprc = float(average_precision_score(is_key, score.fillna(score.min())))
    else:
        auroc = auprc = float("nan")
    return {
        "top_n": int(top_n),
        "n_key_in_top": int((top & is_key).sum()),
        "n_key_expected": top_n * n_key / n_genes,
        "auroc": auroc,
        "auprc": auprc,
    }


def random_baseline(is_key: pd.Series, top_n: int) -> dict:
    """What a random ranking achieves in expectation."""
    n_genes, n_key = len(is_key), int(is_key.sum())
    return {"top_n": int(top_n), "n_key_in_top": top_n * n_key / n_genes, "n_key_expected": top_n * n_key / n_genes,
            "auroc": 0.5, "auprc": n_key / n_genes}


def explained_cells(data, cells_per_class: int, background_cells: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells, their true classes, background) that :func:`explain_model` explains: up to
    ``cells_per_class`` test cells per class (:func:`select_cells`) and ``background_cells``
    training cells, both drawn with ``seed``."""
    cells = select_cells(data.y_test, cells_per_class, seed)
    rng = np.random.default_rng(seed)
    n_bg = min(background_cells, len(data.x_train))
    background = data.x_train[np.sort(rng.choice(len(data.x_train), size=n_bg, replace=False))]
    return data.x_test[cells], data.y_test[cells], background


def explain_model(model, data, methods: list[str], params: dict, cells_per_class: int, background_cells: int,
                  seed: int) -> dict[str, pd.DataFrame]:
    """Per-class importance (genes x classes) of every method for one trained model.

    Explains up to ``cells_per_class`` test cells of each class (drawn with ``seed``),
    targeting their true class, against ``background_cells`` training cells.
    """
    from advinterp.explain import make_explainer

    x, t, background = explained_cells(data, cells_per_class, background_cells, seed)
    out = {}
    for name in methods:
        attributions = make_explainer(name, params.get(name))(model, x, t, background, seed=seed)
        out[name] = class_importance(attributions, t, data.class_names, data.gene_names)
    return out


def recovery_table(importances: dict[tuple[str, int], dict[str, pd.DataFrame]], key_all: pd.Series,
                   key_class: pd.DataFrame, t_statistic: pd.DataFrame, top_n: int, baseline_seed: int) -> pd.DataFrame:
    """Rows of ``recovery.tsv``: every (regime, seed) x method (+ consensus) x ground truth x class,
    plus the model-free baselines ``random`` and ``t_statistic`` (regime ``baseline``)."""
    truths = {"all_mr": lambda cls: key_all, "class_mr": lambda cls: key_class[cls]}
    rows = []

    def add(regime, method, seed, cls, score):
        for truth, key_of in truths.items():
            m = recovery_metrics(score, key_of(cls), top_n)
            rows.append({"regime": regime, "method": method, "ground_truth": truth, "class": cls, "seed": seed, **m})

    for (regime, seed), by_method in importances.items():
        _, ranked = consensus(by_method, top_n)
        for cls in key_class.columns:
            for method, imp in by_method.items():
                add(regime, method, seed, cls, imp[cls])
            genes = next(iter(by_method.values())).index
            add(regime, "consensus", seed, cls, consensus_score(ranked, cls, genes))
    for cls in key_class.columns:
        add("baseline", "t_statistic", baseline_seed, cls, t_statistic[cls])
        for truth, key_of in truths.items():
            rows.append({"regime": "baseline", "method": "random", "ground_truth": truth, "class": cls,
                         "seed": baseline_seed, **random_baseline(key_of(cls).reindex(t_statistic.index)
                                                                  .fillna(False).astype(bool), top_n)})
    return pd.DataFrame(rows, columns=RECOVERY_COLUMNS)


def read_importances(methods: list[str], paths) -> dict[str, pd.DataFrame]:
    """Method → genes x classes importance, from the per-method TSVs (same order as ``methods``)."""
    return {m: pd.read_csv(p, sep="\t", index_col=0) for m, p in zip(methods, paths, strict=True)}


def recovery_for_dataset(adata, importances: dict[tuple[str, int], dict[str, pd.DataFrame]], top_n: int,
                         seed: int) -> pd.DataFrame:
    """:func:`recovery_table` with the ground truth and the t-statistic baseline taken from a
    preprocessed SERGIO AnnData (``var['is_key_gene']``, ``varm['class_key_gene']``)."""
    if "is_key_gene" not in adata.var or "class_key_gene" not in adata.varm:
        raise ValueError("key-gene recovery needs var['is_key_gene'] and varm['class_key_gene'] (SERGIO data)")
    label_key = adata.uns["preprocess"]["label_key"]
    labels = adata.obs[label_key].astype("category")
    classes = [str(c) for c in labels.cat.categories]
    genes = pd.Index(adata.var_names, name="gene")
    key_all = pd.Series(adata.var["is_key_gene"].to_numpy(dtype=bool), index=genes)
    key_class = pd.DataFrame(adata.varm["class_key_gene"], index=adata.var_names).astype(bool)
    key_class.index = genes
    train = (adata.obs["split"] == "train").to_numpy()
    t_stat = t_statistic_importance(np.asarray(adata.X)[train], labels.cat.codes.to_numpy()[train], classes,
                                    list(genes))
    return recovery_table(importances, key_all, key_class[classes], t_stat, top_n, seed)
