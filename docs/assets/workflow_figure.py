"""Draws docs/assets/workflow.png, the workflow's stages as boxes (README and docs landing page).

Run from the repository root: python docs/assets/workflow_figure.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

STAGES = [
    # (x, y, title, body, colour)
    (0.0, 1.0, "Data", "SERGIO simulation\n(known master\nregulators), pbmc68k,\ndownloads, your\nown .h5ad",
     "#dbe9f6"),
    (1.0, 1.0, "Preprocess", "gene filter,\nnormalise, log1p,\nHVGs, 80/20 split,\nz-score", "#dbe9f6"),
    (2.0, 1.0, "Standard\nmodel", "MLP classifier\nof cell types", "#e4f2dc"),
    (3.0, 1.55, "Robustness", "FGSM/PGD ε sweep,\nchoice of ε, adv.\ntraining, strong\nevaluation, checks", "#fbe3d6"),
    (3.0, 0.45, "Interpretability", "6 explainers,\nconsensus votes,\nkey-gene recovery,\nexplanation checks",
     "#efe0f5"),
    (4.0, 1.0, "Biology\n(real data)", "Wilcoxon DE,\nconsensus vs DE,\nTables 1-2,\nenrichment", "#fff2c7"),
    (5.0, 1.0, "Outputs", "tables, figures,\nresults/paper/,\nHTML report", "#eeeeee"),
]
EDGES = [(0, 1), (1, 2), (2, 3), (2, 4), (3, 4), (4, 5), (5, 6), (3, 6)]
W, H = 0.9, 0.9


def main() -> None:
    fig, ax = plt.subplots(figsize=(9, 3.4), dpi=110)
    for x, y, title, body, colour in STAGES:
        ax.add_patch(FancyBboxPatch((x - W / 2, y - H / 2), W, H, boxstyle="round,pad=0.02,rounding_size=0.06",
                                    facecolor=colour, edgecolor="#555555", linewidth=1))
        ax.text(x, y + H / 2 - 0.06, title, ha="center", va="top", fontsize=8.5, fontweight="bold", linespacing=1.0)
        ax.text(x, y - 0.1 - 0.06 * title.count("\n"), body, ha="center", va="center", fontsize=6.8, linespacing=1.2)
    for a, b in EDGES:
        (xa, ya), (xb, yb) = STAGES[a][:2], STAGES[b][:2]
        style = "arc3"
        if xa == xb:  # robustness -> interpretability: adversarially trained models are explained
            start, end = (xa, ya - H / 2), (xb, yb + H / 2)
        elif xb - xa > 1:  # robustness -> outputs, over the biology box
            start, end, style = (xa + W / 2, ya + 0.2), (xb, yb + H / 2), "arc3,rad=-0.25"
        else:
            start, end = (xa + W / 2, ya), (xb - W / 2, yb)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color="#444444",
                                     linewidth=0.9, shrinkA=1, shrinkB=1, connectionstyle=style))
    ax.set_xlim(-0.5, 5.5)
    ax.set_ylim(-0.05, 2.1)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout(pad=0.1)
    fig.savefig(Path(__file__).with_name("workflow.png"))


if __name__ == "__main__":
    main()
