"""The paper's figures and tables by name (``snakemake fig2``): which workflow outputs make each
panel, the composed multi-panel figure, and ``results/paper/index.md``.

Each paper panel is one of the workflow's own per-stage figures (already drawn from a table), placed
in the paper's order under the paper's panel letters; a stage figure that holds several of the
paper's panels (e.g. the FGSM and PGD curves of Fig. 1d-e) carries their letters as a range. Panels
the workflow adds beyond the paper are marked so in the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Panel:
    letters: str  # the paper's panel letter(s) this block shows, e.g. "a-c"
    what: str
    figure: str  # the workflow's figure, relative to results/{dataset}/ (with {regime})
    tables: tuple[str, ...]  # what the figure is drawn from, relative to results/{dataset}/
    beyond_paper: bool = False
    dataset: str | None = None  # results/{dataset}/ of this panel when it is not the item's

    def where(self, item: PaperItem) -> str:
        return self.dataset or item.dataset


@dataclass(frozen=True)
class PaperItem:
    name: str
    title: str
    dataset: str | None  # None: the workflow cannot build it yet
    panels: tuple[Panel, ...] = ()
    table: str | None = None  # for the paper's tables: the workflow's table, relative to results/{dataset}/
    unavailable: str = ""  # why it cannot be built, when dataset is None

    @property
    def is_table(self) -> bool:
        return self.table is not None


SWEEP = ("robustness/sweep.tsv",)
CONSENSUS = "figures/consensus_{regime}.png", ("consensus/{regime}.tsv",)
ENRICHMENT = "figures/enrichment_pooled.png", ("enrichment/pooled.tsv",)

ITEMS: dict[str, PaperItem] = {
    "fig1": PaperItem("fig1", "Adversarial attacks: data structure and model accuracy (SERGIO)", "sergio", (
        Panel("a-c", "UMAP of the clean cells (a), FGSM at the selected epsilon (b), FGSM at the largest epsilon "
                     "of the grid (c); the PGD row is ours", "figures/adversarial_umap.png",
              ("data/preprocessed.h5ad", "robustness/selected_epsilon.json")),
        Panel("d-e", "test accuracy under FGSM (d) and PGD (e), standard vs adversarially trained, with the strong "
                     "evaluation's robust accuracy (AutoAttack-grade)", "figures/sweep_accuracy.png", SWEEP),
    )),
    "fig2": PaperItem("fig2", "Adversarial training and key-gene recovery (SERGIO)", "sergio", (
        Panel("a-e", "key genes (all master regulators) among each method's top genes, per method (a-d: DeepSHAP, "
                     "gradient SHAP, activation maximisation, LIME, with the other explainers) and the consensus "
                     "(e), before and after adversarial training", "figures/keygenes_all_mr.png",
              ("keygenes/recovery.tsv",)),
        Panel("f", "the same per class (each class's own master regulators)", "figures/keygenes_class_mr.png",
              ("keygenes/recovery.tsv",), beyond_paper=True),
        Panel("g", "AUROC of each method's gene ranking against the key genes", "figures/keygenes_auroc.png",
              ("keygenes/recovery.tsv",), beyond_paper=True),
    )),
    "fig3": PaperItem("fig3", "Important genes in mouse hippocampus development", "hippocampus", (
        Panel("a", "UMAP of the cells by cell type", "figures/umap.png", ("data/preprocessed.h5ad",)),
        Panel("b", "confusion matrix of the classifier (held-out cells)", "figures/standard.confusion.png",
              ("metrics/standard.json",)),
        Panel("c", "consensus importance scores (model of biology.regime)", *CONSENSUS),
        Panel("d-e", "consensus genes vs differentially expressed genes, per cell type (the paper shows astrocytes "
                     "and endothelial cells)", "figures/venn_consensus_de.png",
              ("compare/consensus_vs_de.tsv", "de/wilcoxon.tsv")),
        Panel("f-g", "enrichment of the consensus genes (pooled over cell types)", *ENRICHMENT),
    )),
    "fig4": PaperItem("fig4", "Interpretability on the mouse pancreas", "pancreas", (
        Panel("a", "UMAP of the cells by cell type", "figures/umap.png", ("data/preprocessed.h5ad",)),
        Panel("b", "confusion matrix of the classifier (held-out cells)", "figures/standard.confusion.png",
              ("metrics/standard.json",)),
        Panel("c", "consensus importance scores (model of biology.regime)", *CONSENSUS),
        Panel("d-e", "accuracy before and after adversarial training under FGSM and PGD (the paper: PGD d, FGSM e)",
              "figures/sweep_accuracy.png", SWEEP),
        Panel("f-g", "enrichment of the consensus genes (pooled over cell types)", *ENRICHMENT),
    )),
    "fig5": PaperItem("fig5", "Established cell-type annotators under attack", "lung", (
        Panel("a-b", "per-class precision and recall of SingleCellNet (SVM) on the lung query (on the reference's "
                     "held-out cells while no label map is configured), clean (a) and under FGSM at the marked epsilon "
                     "on its pair features and, through BPDA, on the expression (b)",
              "figures/annotator_precision_recall.png", ("annotator/precision_recall.tsv",
                                                         "annotator/query_composition.tsv")),
        Panel("c", "per-class F1 of the Allen MLP (Le et al. 2022), clean and under FGSM/PGD at the selected "
                   "epsilon, as published and adversarially trained (beyond the paper)",
              "figures/annotator_f1.png", ("annotator/f1.tsv", "annotator/selected_epsilon.json"),
              dataset="allen_mtg"),
    )),
    "table1": PaperItem("table1", "Genes predicted as important per cell type, mouse hippocampus", "hippocampus",
                        table="tables/top_genes"),
    "table2": PaperItem("table2", "Gene candidates per cell type, developing mouse pancreas", "pancreas",
                        table="tables/top_genes"),
    "figS2": PaperItem("figS2", "Adversarial training: class imbalance and F1 (SERGIO)", "sergio", (
        Panel("b", "per-class accuracy under attack after removing most cells of three classes, standard vs "
                   "adversarially trained", "figures/imbalance.png", ("robustness/imbalance.tsv",)),
        Panel("c-d", "macro F1 under FGSM (c) and PGD (d), standard vs adversarially trained",
              "figures/sweep_macro_f1.png", SWEEP),
    )),
}
# figS2a (the combined clean + adversarial training set) is not drawn: the workflow does not keep it.
NOT_DRAWN = {"figS2": "a (the combined clean + adversarial training set; the workflow does not keep it)"}
CONFIG_OF = {"sergio": "config/config.yaml (the default)", "hippocampus": "config/paper.yaml",
             "pancreas": "config/paper.yaml", "lung": "config/paper.yaml (singlecellnet.runs)",
             "allen_mtg": "config/paper.yaml (allen_mlp.datasets)"}


def fill(template: str, dataset: str, regime: str) -> str:
    return f"results/{dataset}/" + template.format(regime=regime)


def panel_files(name: str, regime: str) -> dict[str, str]:
    """The workflow figure behind each panel of a paper figure: {letters: path}."""
    item = ITEMS[name]
    return {p.letters: fill(p.figure, p.where(item), regime) for p in item.panels}


def missing_message(name: str, datasets: list[str]) -> str | None:
    """Why `name` cannot be built with a config that runs `datasets`; None when it can."""
    item = ITEMS[name]
    if item.dataset is None:
        return item.unavailable
    needed = list(dict.fromkeys(p.where(item) for p in item.panels)) or [item.dataset]
    missing = [d for d in needed if d not in datasets]
    if not missing:
        return None
    what = " and ".join(repr(d) for d in missing)
    config = CONFIG_OF[missing[0]]
    return (f"{name} needs dataset {what}, which this config does not run; it is in "
            f"{config}: snakemake --cores 8 {name} --configfile {config.split()[0]}")


def compose_figure(panels: dict[str, str | Path], title: str, png: str | Path, pdf: str | Path) -> None:
    """Stack the panels' images top to bottom, full width, each under its panel letter(s)."""
    import matplotlib.image as mpimg  # here, so that the workflow can read ITEMS without matplotlib
    import matplotlib.pyplot as plt

    from advinterp.plots import save_figure

    images = {letters: mpimg.imread(str(path)) for letters, path in panels.items()}
    width = 12.0
    heights = [width * img.shape[0] / img.shape[1] for img in images.values()]
    fig, axes = plt.subplots(len(images), 1, figsize=(width, sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (letters, img) in zip(axes[:, 0], images.items(), strict=True):
        ax.imshow(img, interpolation="lanczos")
        ax.set_axis_off()
        ax.text(-0.01, 1.0, letters.replace("-", "\u2013"), transform=ax.transAxes, ha="right", va="top",
                fontsize=16, fontweight="bold")
    fig.suptitle(title, fontsize=14)
    fig.tight_layout()
    save_figure(fig, png, pdf)


def write_table(tsv_in: str | Path, md_in: str | Path, title: str, tsv: str | Path, md: str | Path) -> None:
    """The paper's table: the workflow's table as it is, under the paper's title."""
    Path(tsv).write_text(Path(tsv_in).read_text())
    Path(md).write_text(f"# {title}\n\n{Path(md_in).read_text()}")


def index_markdown(datasets: list[str], regime: str) -> str:
    """results/paper/index.md: every panel of every figure and table, the workflow figure it shows
    and the tables it is drawn from; for those this config cannot build, what does."""
    lines = ["# The paper's figures and tables", "",
             "Built by `snakemake --cores 8 <name>` (or `paper` for all that this config can build). Each panel "
             "is the workflow figure named here, drawn from the tables next to it (paths under `results/`).", ""]
    for name, item in ITEMS.items():
        lines += [f"## {name}: {item.title}", ""]
        why = missing_message(name, datasets)
        if why:
            lines += [f"Not built with this config: {why}.", ""]
            continue
        if item.is_table:
            table = item.table.format(regime=regime)
            lines += [f"`paper/{name}.tsv`, `paper/{name}.md`: `{item.dataset}/{table}.tsv` "
                      f"(consensus genes of the {regime} model; bold in the .md = not differentially expressed)", ""]
            continue
        lines += [f"`paper/{name}.png`, `paper/{name}.pdf`", "", "| panel | shows | figure | drawn from |",
                  "|---|---|---|---|"]
        for p in item.panels:
            shows = p.what + (" (beyond the paper)" if p.beyond_paper else "")
            where = p.where(item)
            tables = ", ".join(f"`{where}/{t.format(regime=regime)}`" for t in p.tables)
            lines.append(f"| {p.letters} | {shows} | `{where}/{p.figure.format(regime=regime)}` | {tables} |")
        if name in NOT_DRAWN:
            lines += ["", f"Not drawn: panel {NOT_DRAWN[name]}."]
        lines.append("")
    return "\n".join(lines)
