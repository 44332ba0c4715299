"""Key-gene recovery on simulated data with known key genes (SERGIO; paper section 3.2, Fig. 2).

How many key genes (master regulators, all or those of a class) are in a ranking's top N,
against the N·K/G expected at random, and ROC-AUC / PR-AUC of the importance against key-gene
membership (the interpretability metric of Koo & Ploenzke 2019), for every method's per-class
importance and the consensus (:mod:`advinterp.consensus`), next to two model-free baselines:
a random ranking and |Welch t| of each gene, class vs rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from advinterp.consensus import consensus, consensus_score, ranks
from advinterp.specs import parse_regime, regime_architecture
from advinterp.store import zscored

RECOVERY_COLUMNS = ["regime", "model", "method", "ground_truth", "class", "seed", "top_n", "n_key_in_top",
                    "n_key_expected", "auroc", "auprc"]
# the ``model`` of the model-free baselines' rows (regime ``baseline``)
NO_MODEL = "none"


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


def recovery_table(importances: dict[tuple[str, int], dict[str, pd.DataFrame]], key_all: pd.Series,
                   key_class: pd.DataFrame, t_statistic: pd.DataFrame, top_n: int, baseline_seed: int,
                   voters: list[str] | None = None, model_kind: str = "mlp") -> pd.DataFrame:
    """Rows of ``recovery.tsv``: every (regime, seed) x method (+ consensus) x ground truth x class,
    plus the model-free baselines ``random`` and ``t_statistic`` (regime ``baseline``). The consensus
    counts the votes of those ``voters`` a (regime, seed) has (default: every method; an MLP's and a
    TabNet's voters differ); the other methods are scored on their own. ``model``: the classifier,
    ``tabnet`` for the ``tabnet_*`` regimes, else ``model_kind`` (``model.kind``); ``none`` for the
    baselines."""
    truths = {"all_mr": lambda cls: key_all, "class_mr": lambda cls: key_class[cls]}
    rows = []

    def add(regime, method, seed, cls, score):
        model = NO_MODEL if regime == "baseline" else regime_architecture(regime) or model_kind
        for truth, key_of in truths.items():
            m = recovery_metrics(score, key_of(cls), top_n)
            rows.append({"regime": regime, "model": model, "method": method, "ground_truth": truth, "class": cls,
                         "seed": seed, **m})

    for (regime, seed), by_method in importances.items():
        _, ranked = consensus({m: by_method[m] for m in voters or by_method if m in by_method}, top_n)
        for cls in key_class.columns:
            for method, imp in by_method.items():
                add(regime, method, seed, cls, imp[cls])
            genes = next(iter(by_method.values())).index
            add(regime, "consensus", seed, cls, consensus_score(ranked, cls, genes))
    for cls in key_class.columns:
        add("baseline", "t_statistic", baseline_seed, cls, t_statistic[cls])
        for truth, key_of in truths.items():
            rows.append({"regime": "baseline", "model": NO_MODEL, "method": "random", "ground_truth": truth,
                         "class": cls, "seed": baseline_seed, **random_baseline(key_of(cls).reindex(t_statistic.index)
                                                                  .fillna(False).astype(bool), top_n)})
    return pd.DataFrame(rows, columns=RECOVERY_COLUMNS)


def recovery_for_dataset(adata, importances: dict[tuple[str, int], dict[str, pd.DataFrame]], top_n: int,
                         seed: int, voters: list[str] | None = None, model_kind: str = "mlp") -> pd.DataFrame:
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
    t_stat = t_statistic_importance(np.asarray(zscored(adata, np.flatnonzero(train))),
                                    labels.cat.codes.to_numpy()[train], classes, list(genes))
    return recovery_table(importances, key_all, key_class[classes], t_stat, top_n, seed, voters, model_kind)


REGIMES_COLUMNS = ["regime", "model", "regularised", "method", "accuracy", "auroc_mean", "auroc_sd", "auprc_mean",
                   "auprc_sd", "n_seeds"]


def regimes_table(recovery: pd.DataFrame, accuracy: dict[tuple[str, int], float]) -> pd.DataFrame:
    """Koo et al. 2019's Table 1 for the cell-type classifiers (``keygenes/regimes.tsv``).

    One row per (regime, method) of ``recovery`` (:func:`recovery_table`; the consensus and the
    model-free baselines included, regime ``baseline``): AU-ROC and AU-PR of the importance against
    each class's own key genes (ground truth ``class_mr``), mean and SD over every (class, seed) —
    Koo's per-sequence scores, with a class of one model as the unit — and the regime's clean test
    ``accuracy`` (``accuracy``: (regime, seed) → accuracy; mean over seeds; NaN for the baselines).
    ``regularised`` says whether the regime is a ``*_reg`` one (False for the baselines); ``model`` is
    ``recovery``'s (``mlp``/``tabnet``; ``none`` for the baselines).
    """
    sub = recovery[recovery["ground_truth"] == "class_mr"]
    rows = []
    for (regime, method), group in sub.groupby(["regime", "method"], sort=False):
        seeds = sorted(int(s) for s in group["seed"].unique())
        if regime == "baseline":
            regularised, acc = False, float("nan")
        else:
            regularised = parse_regime(regime)[1]
            missing = [s for s in seeds if (regime, s) not in accuracy]
            if missing:
                raise ValueError(f"no test accuracy of regime {regime!r} for seeds {missing}")
            acc = float(np.mean([accuracy[(regime, s)] for s in seeds]))
        rows.append({"regime": regime, "model": group["model"].iloc[0], "regularised": regularised, "method": method,
                     "accuracy": acc,
                     "auroc_mean": group["auroc"].mean(), "auroc_sd": group["auroc"].std(ddof=1),
                     "auprc_mean": group["auprc"].mean(), "auprc_sd": group["auprc"].std(ddof=1),
                     "n_seeds": len(seeds)})
    return pd.DataFrame(rows, columns=REGIMES_COLUMNS)
