"""Figures (seaborn/matplotlib). Each function draws one figure and saves it as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
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


# ------------------------------------------------------------------ robustness arm
SWEEP_LINES = [
    # (model, evaluation, label, colour, linestyle)
    ("standard", "whitebox", "standard model, the named attack (white-box)", "tab:blue", "-"),
    ("standard", "autoattack", "standard model, AutoAttack-grade (robust accuracy)", "tab:blue", "-."),
    ("adversarial", "whitebox", "adversarially trained, the named attack (white-box)", "tab:orange", "-"),
    ("adversarial", "autoattack", "adversarially trained, AutoAttack-grade (robust accuracy)", "tab:red", "-."),
    ("adversarial", "transfer", "adversarially trained, cells attacked vs standard (transfer)", "tab:orange", "--"),
    ("adversarial", "clean", "adversarially trained, clean cells", "tab:gray", ":"),
]


def sweep_figure(sweep: pd.DataFrame, metric: str, title: str) -> plt.Figure:
    """``metric`` against ε, one panel per attack; mean over seeds with a ±1 SD band (Fig. 1d,e)."""
    attacks = list(dict.fromkeys(sweep["attack"]))
    fig, axes = plt.subplots(1, len(attacks), figsize=(6.2 * len(attacks), 4.6), sharey=True, squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        sub = sweep[sweep["attack"] == attack]
        for model, evaluation, label, colour, style in SWEEP_LINES:
            line = sub[(sub["model"] == model) & (sub["evaluation"] == evaluation)]
            if line.empty:
                continue
            stats = line.groupby("epsilon")[metric].agg(["mean", "std", "count"]).reset_index()
            stats["std"] = stats["std"].fillna(0)
            ax.plot(stats["epsilon"], stats["mean"], style, color=colour, marker="o", ms=3.5, label=label)
            ax.fill_between(stats["epsilon"], stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                            color=colour, alpha=0.15, linewidth=0)
        n_seeds = sub["seed"].nunique()
        ax.set_title(f"{attack.upper()} ({n_seeds} seed{'s' if n_seeds > 1 else ''}, band = ±1 SD)")
        ax.set_xlabel("ε (L∞, z-score units)")
        ax.set_ylabel(metric.replace("_", "-").replace("macro-f1", "macro-F1"))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="lower left", fontsize=8, frameon=True)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def preservation_figure(table: pd.DataFrame, selected: dict, title: str,
                        robust: pd.DataFrame | None = None) -> plt.Figure:
    """Neighbour preservation and standard-model accuracy against ε, adversarial vs random sign noise.

    ``robust``: the standard model's robust accuracy per ε (``epsilon``, ``accuracy``; rows of
    robustness/autoattack.tsv), drawn in every accuracy panel.
    """
    strong = robust if robust is not None else pd.DataFrame(columns=["epsilon", "accuracy"])
    attacks = list(dict.fromkeys(table["attack"]))
    fig, axes = plt.subplots(2, len(attacks), figsize=(6 * len(attacks), 7.5), sharex=True, squeeze=False)
    for j, attack in enumerate(attacks):
        sub = table[table["attack"] == attack]
        for kind, colour in (("adversarial", "tab:red"), ("random", "tab:gray")):
            part = sub[sub["perturbation"] == kind]
            label = f"{attack.upper()}" if kind == "adversarial" else "random ±ε sign noise"
            axes[0][j].plot(part["epsilon"], part["preservation"], "o-", ms=3.5, color=colour, label=label)
            axes[1][j].plot(part["epsilon"], part["accuracy"], "o-", ms=3.5, color=colour, label=label)
        if len(strong):
            axes[1][j].plot(strong["epsilon"], strong["accuracy"], "s-.", ms=3.5, color="black",
                            label="AutoAttack-grade (robust accuracy)")
        choice = selected.get(attack, {})
        for ax in axes[:, j]:
            if "epsilon" in choice:
                ax.axvline(choice["epsilon"], color="black", lw=0.8, ls="--",
                           label=f"selected ε = {choice['epsilon']:g}")
            ax.grid(alpha=0.3)
        if "min_neighbour_preservation" in choice:
            axes[0][j].axhline(choice["min_neighbour_preservation"], color="tab:blue", lw=0.8, ls=":",
                               label="min. preservation")
        axes[0][j].set_title(attack.upper())
        axes[0][j].set_ylabel("kNN preservation (k-NN kept)")
        axes[1][j].set_ylabel("standard-model accuracy")
        axes[1][j].set_xlabel("ε (L∞, z-score units)")
        axes[0][j].set_ylim(0, 1.02)
        axes[1][j].set_ylim(0, 1.02)
        axes[0][j].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def embedding_panels_figure(panels: dict[str, np.ndarray], labels: pd.Series, title: str) -> plt.Figure:
    """Several UMAPs side by side, cells coloured by label (Fig. 1a-c)."""
    cats = list(pd.Categorical(labels).categories)
    palette = dict(zip(cats, sns.color_palette("tab20" if len(cats) > 10 else "tab10", len(cats)), strict=True))
    n = len(panels)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols + 1.5, 4.4 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    for ax, (name, emb) in zip(axes.flat[:n], panels.items(), strict=True):
        colours = [palette[v] for v in labels.to_numpy()]
        ax.scatter(emb[:, 0], emb[:, 1], c=colours, s=3, linewidths=0)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=palette[c], label=c) for c in cats]
    axes[0][-1].legend(handles=handles, bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False,
                       title="cell type", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def imbalance_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """Per-class accuracy by model, one panel per (attack's ε, evaluation) (Supp. Fig. S2b)."""
    table = table.fillna({"attack": ""})
    panels = list(dict.fromkeys(zip(table["attack"], table["epsilon"], table["evaluation"], strict=True)))
    order = (table.drop_duplicates("class").sort_values("n_train")["class"]).tolist()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.8), sharey=True, squeeze=False)
    for ax, (attack, eps, evaluation) in zip(axes[0], panels, strict=True):
        sub = table[(table["attack"] == attack) & (table["epsilon"] == eps) & (table["evaluation"] == evaluation)]
        sns.barplot(data=sub, x="class", y="accuracy", hue="model", order=order, ax=ax)
        if evaluation == "clean":
            ax.set_title("clean test cells")
        elif evaluation == "whitebox":
            ax.set_title(f"white-box {attack.upper()}, ε = {eps:g}")
        else:
            ax.set_title(f"AutoAttack-grade, ε = {eps:g} ({attack.upper()}'s)")
        n_train = sub.drop_duplicates("class").set_index("class")["n_train"]
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([f"{c}\n(n={n_train[c]})" for c in order], rotation=45, ha="right", fontsize=8)
        ax.set_xlabel("class (training cells)")
        ax.set_ylim(0, 1.02)
        ax.get_legend().remove()
    handles, labels = axes[0][0].get_legend_handles_labels()
    axes[0][-1].legend(handles, labels, title="model", bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------- interpretability arm
def explain_evaluation_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """One panel per metric of explain/evaluation.tsv: value per method, bars by regime (mean over seeds)."""
    metrics = list(dict.fromkeys(table["metric"]))
    ncols = min(len(metrics), 4)
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_axis_off()
    for ax, metric in zip(axes.flat, metrics, strict=False):
        sub = table[table["metric"] == metric]
        sns.barplot(data=sub, x="method", y="value", hue="regime", ax=ax, errorbar=None)
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="regime", loc="upper right", frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.93, 0.96))
    return fig



def consensus_heatmap_figure(votes: pd.DataFrame, title: str, max_genes: int = 60) -> plt.Figure:
    """Clustered heatmap of consensus importance scores (paper Figs. 3c/4c style).

    Rows: the ``max_genes`` genes with the most votes summed over classes (ties by name).
    """
    total = votes.sum(axis=1)
    keep = total[total > 0].sort_values(ascending=False, kind="stable").index[:max_genes]
    sub = votes.loc[sorted(keep, key=lambda g: (-total[g], g))]
    if len(sub) < 2:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.text(0.5, 0.5, "fewer than two genes received votes", ha="center", va="center")
        ax.set_axis_off()
        fig.suptitle(title)
        return fig
    grid = sns.clustermap(sub, cmap="rocket_r", linewidths=0.2, figsize=(0.55 * sub.shape[1] + 4, 0.22 * len(sub) + 3),
                          cbar_kws={"label": "methods voting (consensus score)"}, yticklabels=True,
                          method="average", metric="euclidean")
    grid.ax_heatmap.set_xlabel("cell type")
    grid.ax_heatmap.set_ylabel(f"gene (top {len(sub)} by total votes)")
    grid.ax_heatmap.tick_params(axis="y", labelsize=7)
    grid.figure.suptitle(title, y=1.02)
    return grid.figure


def keygenes_figure(table: pd.DataFrame, ground_truth: str, title: str) -> plt.Figure:
    """Key genes in each method's top N per class, one panel per method (Fig. 2a-e).

    Bars: mean over seeds per regime, error bars ±1 SD; grey line: the random expectation;
    black crosses: the model-free t-statistic ranking.
    """
    sub = table[table["ground_truth"] == ground_truth]
    models = sub[sub["regime"] != "baseline"]
    methods = list(dict.fromkeys(models["method"]))
    classes = list(dict.fromkeys(sub["class"]))
    base = sub[sub["regime"] == "baseline"]
    expected = base[base["method"] == "random"].set_index("class")["n_key_expected"].reindex(classes)
    tstat = base[base["method"] == "t_statistic"].set_index("class")["n_key_in_top"].reindex(classes)
    ncols = min(3, len(methods))
    nrows = -(-len(methods) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 3.8 * nrows), sharey=True, squeeze=False)
    regimes = list(dict.fromkeys(models["regime"]))
    width = 0.8 / max(len(regimes), 1)
    xs = np.arange(len(classes))
    for ax in axes.flat[len(methods):]:
        ax.set_axis_off()
    for ax, method in zip(axes.flat, methods, strict=False):
        m = models[models["method"] == method]
        stats = m.groupby(["regime", "class"])["n_key_in_top"].agg(["mean", "std"]).fillna(0)
        for i, regime in enumerate(regimes):
            if regime not in stats.index.get_level_values(0):
                continue
            s = stats.loc[regime].reindex(classes)
            ax.bar(xs + (i - (len(regimes) - 1) / 2) * width, s["mean"], width, yerr=s["std"], capsize=2,
                   label=regime)
        ax.plot(xs, expected.to_numpy(), color="gray", lw=1.5, label="random expectation")
        ax.plot(xs, tstat.to_numpy(), "kx", label="t-statistic (no model)")
        ax.set_title(method)
        ax.set_xticks(xs)
        ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(f"key genes in top {int(sub['top_n'].iloc[0])}")
        ax.set_ylim(bottom=0)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title} (ground truth: {ground_truth}; bars: mean ± SD over seeds)")
    fig.tight_layout()
    return fig


def keygene_auroc_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """Mean AUROC (over classes and seeds) by method x regime, one panel per ground truth."""
    truths = list(dict.fromkeys(table["ground_truth"]))
    fig, axes = plt.subplots(1, len(truths), figsize=(5.5 * len(truths), 5), squeeze=False)
    for ax, truth in zip(axes[0], truths, strict=True):
        sub = table[table["ground_truth"] == truth]
        grid = sub.pivot_table(index="method", columns="regime", values="auroc", aggfunc="mean")
        order = [m for m in dict.fromkeys(sub["method"]) if m in grid.index]
        cols = [c for c in dict.fromkeys(sub["regime"]) if c in grid.columns]
        sns.heatmap(grid.loc[order, cols], annot=True, fmt=".2f", cmap="vlag", center=0.5, vmin=0.3, vmax=1.0,
                    ax=ax, cbar_kws={"label": "AUROC"})
        ax.set_title(truth)
        ax.set_xlabel("regime")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def keygene_regimes_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """keygenes/regimes.tsv drawn as Koo et al. 2019 compare regimes: AU-ROC and AU-PR (mean ± SD over
    classes and seeds) of every method per training regime, regularised regimes as open markers; the
    model-free baselines (regime ``baseline``) as horizontal lines."""
    models = table[table["regime"] != "baseline"]
    base = table[table["regime"] == "baseline"]
    bases = list(dict.fromkeys(r.removesuffix("_reg") for r in models["regime"]))
    methods = list(dict.fromkeys(models["method"]))
    colours = dict(zip(methods, sns.color_palette("tab10", len(methods)), strict=True))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.9 * len(bases)) * 1.6, 4.8), squeeze=False)
    width = 0.8 / max(len(methods), 1)
    for ax, metric in zip(axes[0], ("auroc", "auprc"), strict=True):
        for i, method in enumerate(methods):
            for regularised, marker in ((False, "o"), (True, "s")):
                rows = models[(models["method"] == method) & (models["regularised"] == regularised)]
                if rows.empty:
                    continue
                xs = np.array([bases.index(r.removesuffix("_reg")) for r in rows["regime"]], dtype=float)
                xs += (i - (len(methods) - 1) / 2) * width + (0.08 if regularised else -0.08) * width
                ax.errorbar(xs, rows[f"{metric}_mean"], yerr=rows[f"{metric}_sd"].fillna(0), fmt=marker, ms=5,
                            color=colours[method], mfc=colours[method] if not regularised else "white",
                            capsize=2, lw=1, label=None if regularised else method)
        for (method, row), style in zip(base.set_index("method").iterrows(), ("--", ":", "-."), strict=False):
            ax.axhline(row[f"{metric}_mean"], color="gray", ls=style, lw=1, label=f"{method} (no model)")
        ax.set_xticks(range(len(bases)))
        ax.set_xticklabels(bases)
        ax.set_xlabel("regime (filled: plain, open: regularised)")
        ax.set_ylabel(f"{'AU-ROC' if metric == 'auroc' else 'AU-PR'} vs the class's key genes")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.suptitle(f"{title} (mean ± SD over classes and seeds)")
    fig.tight_layout()
    return fig


def type_relevance_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """UnitedNet-style type relevance (explain/{regime}/type_relevance.tsv) as a type × gene heatmap of
    ``scaled``: rows the predicted types, columns the union of their top genes (ordered by the type
    that ranks them best), blank where a gene is not among a type's top genes."""
    classes = list(dict.fromkeys(table["class"]))
    genes = list(dict.fromkeys(table.sort_values(["rank", "class"], kind="stable")["gene"]))
    grid = table.pivot(index="class", columns="gene", values="scaled").reindex(index=classes, columns=genes)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(genes) + 2.5), max(3.0, 0.45 * len(classes) + 1.5)))
    sns.heatmap(grid, cmap="viridis", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "relevance (min-max within type)"},
                linewidths=0.2, linecolor="white")
    ax.set_xlabel("gene (top genes of each type)")
    ax.set_ylabel("predicted type")
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def venn_grid_figure(sets: dict[str, tuple[set, set]], labels: tuple[str, str], title: str) -> plt.Figure:
    """One two-set Venn diagram per class (matplotlib-venn), e.g. consensus vs DE top genes (Fig. 3d,e)."""
    from matplotlib_venn import venn2

    n = len(sets)
    cols = min(4, max(n, 1))
    rows = int(np.ceil(n / cols)) if n else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (cls, (a, b)) in zip(axes.flat, sets.items(), strict=False):
        venn2([a, b], set_labels=labels, ax=ax, set_colors=("#d95f02", "#1b9e77"))
        ax.set_title(cls, fontsize=9)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def enrichment_dotplot_figure(table: pd.DataFrame, title: str, max_terms: int = 20) -> plt.Figure:
    """Top terms by adjusted p-value: -log10(p_adj) against the term, dot size = genes shared with the
    query, colour = data source (paper Figs. 3f,g and 4f,g)."""
    top = table.sort_values("p_adj", kind="stable").head(max_terms).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(top), 3) + 1.5))
    if top.empty:
        ax.text(0.5, 0.5, "no terms tested", ha="center", va="center")
        ax.set_axis_off()
    else:
        score = -np.log10(top["p_adj"].clip(lower=1e-300))
        names = [n if len(n) <= 60 else n[:57] + "..." for n in top["term_name"].astype(str)]
        sns.scatterplot(x=score, y=names, size=top["intersection_size"], hue=top["source"], ax=ax,
                        sizes=(30, 250), legend="brief")
        ax.axvline(-np.log10(0.05), color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("-log10 adjusted p (dashed: 0.05)")
        ax.set_ylabel("")
        ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    ax.set_title(title)
    return fig


# ------------------------------------------------------------- established annotators (Fig. 5)
def annotator_precision_recall_figure(table: pd.DataFrame, epsilon: float | dict[str, float],
                                      title: str) -> plt.Figure:
    """Fig. 5a,b: per-class precision and recall of an annotator on its query (on the reference's
    held-out cells when the table has no query rows), clean (a) and under attack at ``epsilon`` (b,
    one row per attack space; a dict gives each space its own ε), from
    ``annotator/precision_recall.tsv`` (columns ``model, attack_space, epsilon, class, precision,
    recall, support``)."""
    model = "query" if (table["model"] == "query").any() else "reference_held_out"
    query = table[table["model"] == model]
    where = "query cells" if model == "query" else "held-out reference cells"
    rows = [(f"clean ({where})", query[query["epsilon"] == 0])]
    for space in sorted(set(query["attack_space"]) - {"none"}):
        eps = epsilon[space] if isinstance(epsilon, dict) else epsilon
        sub = query[(query["attack_space"] == space) & np.isclose(query["epsilon"], eps)]
        if len(sub):
            rows.append((f"FGSM in {space} space, ε = {eps:g}", sub))
    order = rows[0][1].sort_values("support", ascending=False)["class"].tolist()
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6.0, 0.55 * len(order) + 2), 3.4 * len(rows)),
                             sharex=True, squeeze=False)
    for ax, (label, sub) in zip(axes[:, 0], rows, strict=True):
        long = sub.melt(id_vars="class", value_vars=["precision", "recall"], var_name="metric", value_name="value")
        sns.barplot(data=long, x="class", y="value", hue="metric", order=order, ax=ax)
        ax.set_title(label)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    support = rows[0][1].set_index("class")["support"]
    axes[-1][0].set_xticks(range(len(order)))
    axes[-1][0].set_xticklabels([f"{c} (n={support[c]})" for c in order], rotation=60, ha="right", fontsize=8)
    axes[-1][0].set_xlabel(f"cell type ({where})")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def annotator_f1_figure(table: pd.DataFrame, epsilon: float, title: str) -> plt.Figure:
    """Fig. 5c: per-class F1, clean and under each attack at ``epsilon``, one heatmap row per
    (model, condition), from ``annotator/f1.tsv`` (columns ``model, attack, epsilon, class, f1, support``)."""
    classes = table[table["epsilon"] == 0].drop_duplicates("class").sort_values("class")["class"].tolist()
    rows = {}
    for model in dict.fromkeys(table["model"]):
        sub = table[table["model"] == model]
        clean = sub[sub["epsilon"] == 0].drop_duplicates("class").set_index("class")["f1"]
        rows[f"{model}: clean"] = clean
        for attack in sorted(set(sub["attack"]) - {"none"}):
            hit = sub[(sub["attack"] == attack) & np.isclose(sub["epsilon"], epsilon)].set_index("class")["f1"]
            if len(hit):
                rows[f"{model}: {attack.upper()} ε = {epsilon:g}"] = hit
    grid = pd.DataFrame(rows).T.reindex(columns=classes)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * len(classes) + 3), 0.5 * len(grid) + 2.2))
    sns.heatmap(grid, vmin=0, vmax=1, cmap="viridis", cbar_kws={"label": "F1"}, ax=ax,
                xticklabels=True, yticklabels=True)
    ax.set_xlabel("cell type")
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
