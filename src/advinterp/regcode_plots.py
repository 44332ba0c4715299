"""Attribution logos of positive test sequences (logomaker), the true motif positions shaded."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from advinterp.plots import save_figure  # noqa: E402
from advinterp.regcode_data import ALPHABET, motif_positions  # noqa: E402

METHOD_NAMES = {"saliency": "saliency (backprop)", "smoothgrad": "SmoothGrad",
                "integrated_gradients": "integrated gradients", "deepshap": "DeepSHAP"}


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a boolean vector."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def plot_logos(maps: dict[str, np.ndarray], onehot: np.ndarray, truth: np.ndarray, sequence_ids, title: str = ""):
    """One row per sequence x method: the attribution times the one-hot (the observed nucleotide's
    attribution) as a logo, positions of embedded motifs shaded. ``maps``: method -> (n, 4, L)."""
    import logomaker

    n = len(onehot)
    methods = list(maps)
    fig, axes = plt.subplots(n * len(methods), 1, figsize=(14, 1.3 * n * len(methods)), squeeze=False)
    for s in range(n):
        spans = _spans(motif_positions(truth[s]))
        for m, method in enumerate(methods):
            ax = axes[s * len(methods) + m, 0]
            df = pd.DataFrame((maps[method][s] * onehot[s]).T, columns=list(ALPHABET))
            for a, b in spans:
                ax.axvspan(a - 0.5, b - 0.5, color="gold", alpha=0.3, lw=0)
            logomaker.Logo(df, ax=ax, color_scheme="classic")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_xlim(-0.5, df.shape[0] - 0.5)
            ax.set_ylabel(f"seq {sequence_ids[s]}\n{METHOD_NAMES.get(method, method)}", fontsize=7)
            ax.tick_params(labelsize=6)
            if s * len(methods) + m < n * len(methods) - 1:
                ax.set_xticklabels([])
    axes[-1, 0].set_xlabel("position (shaded: embedded motifs, ground truth)")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def logo_figure(model, record: dict, data, spec, seed: int, png: str | Path, pdf: str | Path) -> None:
    """Attribution logos of the first ``spec.n_logo_sequences`` positive test sequences for every method
    of ``spec`` (a RegcodeAttributionSpec), written to ``png`` and ``pdf``."""
    import torch

    from advinterp.regcode_attribution import attribution_maps, positive_test_set, shap_background

    idx = positive_test_set(data, spec.n_logo_sequences)
    x = torch.as_tensor(data["test"]["x"][idx].astype(np.float32))
    background = shap_background(data, spec.shap_background, seed) if "deepshap" in spec.methods else None
    maps = {m: attribution_maps(model, x, m, spec, background, seed) for m in spec.methods}
    title = (f"{record.get('arch')}, {'regularised' if record.get('regularised') else 'not regularised'}, "
             f"{record.get('regime')} training")
    save_figure(plot_logos(maps, x.numpy(), data["test"]["truth"][idx], idx, title), png, pdf)
