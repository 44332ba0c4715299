"""Figures (seaborn/matplotlib). Each function draws one figure and saves it as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from advinterp.io import atomic_path  # noqa: E402

sns.set_theme(context="notebook", style="white")


def save_figure(fig: plt.Figure, png: str | Path, pdf: str | Path) -> None:
    # Fixed metadata keeps the PDF byte-identical across reruns.
    for path, meta in ((png, {"Software": None}), (pdf, {"CreationDate": None, "Producer": None})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], dpi=150, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def confusion_figure(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], title: str) -> plt.Figure:
    """Row-normalised confusion matrix with cell counts annotated (paper Figs 3b/4b)."""
    labels = list(range(len(class_names)))
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.5, 0.55 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(frac, annot=counts, fmt="d", cmap="Blues", vmin=0, vmax=1, square=True,
                xticklabels=class_names, yticklabels=class_names,
                cbar_kws={"label": "fraction of true class"}, ax=ax)
    ax.set_xlabel("predicted cell type")
    ax.set_ylabel("true cell type")
    ax.set_title(title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    plt.setp(ax.get_yticklabels(), rotation=0)
    return fig


def training_curve_figure(history: pd.DataFrame, title: str) -> plt.Figure:
    """Loss and train/test accuracy against epoch."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    sns.lineplot(data=history, x="epoch", y="loss", ax=ax_loss, color="black")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("training loss (cross-entropy)")
    long = history.melt(id_vars="epoch", value_vars=["train_accuracy", "test_accuracy"],
                        var_name="split", value_name="accuracy")
    long["split"] = long["split"].str.replace("_accuracy", "", regex=False)
    sns.lineplot(data=long, x="epoch", y="accuracy", hue="split", ax=ax_acc)
    ax_acc.set_ylim(0, 1.02)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def umap_embedding(adata: ad.AnnData, seed: int, n_pcs: int = 50, n_neighbors: int = 15) -> np.ndarray:
    """PCA → kNN graph → UMAP on ``adata.X`` (the scaled model input), seeded."""
    work = ad.AnnData(np.asarray(adata.X, dtype=np.float32), obs=adata.obs[[]].copy())
    n_comps = int(min(n_pcs, work.n_obs - 1, work.n_vars - 1))
    sc.pp.pca(work, n_comps=n_comps, random_state=seed)
    sc.pp.neighbors(work, n_neighbors=n_neighbors, n_pcs=n_comps, random_state=seed)
    sc.tl.umap(work, random_state=seed)
    return work.obsm["X_umap"]


def umap_figure(embedding: np.ndarray, labels: pd.Series, title: str) -> plt.Figure:
    """Cells in UMAP space coloured by label (paper Fig 1a)."""
    frame = pd.DataFrame({"UMAP1": embedding[:, 0], "UMAP2": embedding[:, 1], "cell type": labels.to_numpy()})
    fig, ax = plt.subplots(figsize=(7, 5.5))
    sns.scatterplot(data=frame, x="UMAP1", y="UMAP2", hue="cell type", s=6, linewidth=0, ax=ax,
                    hue_order=list(pd.Categorical(labels).categories))
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", markerscale=2.5, frameon=False, title="cell type")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    sns.despine(ax=ax)
    return fig
