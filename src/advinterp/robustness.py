"""The robustness arm: ε sweeps, structure preservation, choice of ε, class imbalance.

Paper Fig. 1 and Supplementary Fig. S2. Every attack on a model is white-box against
that model unless a row says ``transfer``. Rows name their ``evaluation``: ``clean``,
``whitebox`` (the named attack, FGSM or the paper's PGD, against the model itself),
``transfer`` (cells attacked against the standard model) and ``autoattack`` (the strong
evaluation of :mod:`advinterp.autoattack` against the model itself: the robust accuracy).
The steps that need only these tables (combining the sweep parts, choosing ε) are in
:mod:`advinterp.robustness_tables`, which does not import torch.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from advinterp.adversarial import adversarial_train, attacked_metrics, robust_evaluation
from advinterp.attacks import attack, random_sign_noise
from advinterp.model import MLP, SplitData, predict, train_classifier
from advinterp.robustness_tables import IMBALANCE_COLUMNS, PRESERVATION_COLUMNS, SWEEP_COLUMNS
from advinterp.specs import AdversarialTrainingSpec, Architecture, AttackSpec, EvaluationSpec, TrainSpec

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- ε sweep
def epsilon_sweep(
    standard: MLP,
    data: SplitData,
    attack_name: str,
    epsilons: list[float],
    adversarial_epsilons: list[float],
    adv_spec: AdversarialTrainingSpec,
    attack_spec: AttackSpec,
    train_spec: TrainSpec,
    seed: int,
    device: torch.device,
    eval_spec: EvaluationSpec | None = None,
) -> pd.DataFrame:
    """Rows of ``sweep.tsv`` for one attack and one seed.

    For every ε in ``epsilons``: the standard model on clean, white-box attacked and
    AutoAttack-evaluated test cells. For every ε in ``adversarial_epsilons``: a model
    adversarially trained at ε, on clean cells, white-box (attacked against itself),
    transfer (cells attacked against the standard model) and autoattack. ``autoattack`` is
    the worst case per cell over the strong evaluation and the row's white-box attack.
    """
    eval_spec = eval_spec or EvaluationSpec()
    rows = []
    x, y, names = data.x_test, data.y_test, data.class_names
    clean = attacked_metrics(standard, x, y, names, device)
    against_standard = {}
    for eps in sorted(set(epsilons) | set(adversarial_epsilons)):
        x_adv = attack(attack_name, standard, x, y, eps, attack_spec, seed=seed)
        if eps in adversarial_epsilons:  # kept for the transfer rows only (a copy of x per ε)
            against_standard[eps] = x_adv
        if eps in epsilons:
            m = attacked_metrics(standard, x_adv, y, names, device)
            strong_x = robust_evaluation(standard, x, y, eps, attack_name, x_adv, eval_spec, seed).x_adv
            strong = attacked_metrics(standard, strong_x, y, names, device)
            rows += [(attack_name, eps, "standard", "clean", seed, clean["accuracy"], clean["macro_f1"]),
                     (attack_name, eps, "standard", "whitebox", seed, m["accuracy"], m["macro_f1"]),
                     (attack_name, eps, "standard", "autoattack", seed, strong["accuracy"], strong["macro_f1"])]
    for eps in adversarial_epsilons:
        result = adversarial_train(standard, data.x_train, data.y_train, x, y, attack_name, eps, adv_spec,
                                   attack_spec, train_spec, seed, device)
        model = result.model
        whitebox = attack(attack_name, model, x, y, eps, attack_spec, seed=seed)
        evals = {
            "clean": x,
            "whitebox": whitebox,
            "transfer": against_standard[eps],
            "autoattack": robust_evaluation(model, x, y, eps, attack_name, whitebox, eval_spec, seed).x_adv,
        }
        for evaluation, xe in evals.items():
            m = attacked_metrics(model, xe, y, names, device)
            rows.append((attack_name, eps, "adversarial", evaluation, seed, m["accuracy"], m["macro_f1"]))
        log.info("%s eps=%g seed=%d: adversarial model clean %.3f whitebox %.3f transfer %.3f autoattack %.3f",
                 attack_name, eps, seed, *[r[5] for r in rows[-4:]])
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


# ------------------------------------------------------------ structure preservation
def knn_indices(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of each point's ``k`` nearest neighbours, itself excluded."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(points)
    idx = nn.kneighbors(points, return_distance=False)
    # drop self; with exact duplicates self may not come first, so remove it explicitly
    out = np.empty((len(points), k), dtype=np.int64)
    for i, row in enumerate(idx):
        row = row[row != i]
        out[i] = row[:k]
    return out


def neighbour_preservation(clean: np.ndarray, perturbed: np.ndarray, k: int = 15) -> float:
    """Mean fraction of each cell's k nearest neighbours (clean) that stay neighbours after perturbation."""
    a, b = knn_indices(clean, k), knn_indices(perturbed, k)
    shared = [len(np.intersect1d(ra, rb, assume_unique=True)) for ra, rb in zip(a, b, strict=True)]
    return float(np.mean(shared) / k)


def preservation_table(
    standard: MLP,
    x_all: np.ndarray,
    data: SplitData,
    attacks: list[str],
    epsilons: list[float],
    attack_spec: AttackSpec,
    k: int,
    n_pcs: int,
    seed: int,
    device: torch.device,
) -> pd.DataFrame:
    """Preservation and standard-model accuracy per (attack, ε), adversarial and random sign noise.

    The PCA (``n_pcs`` components) is fitted on all clean cells ``x_all``; the test cells,
    clean and perturbed, are projected with it and compared by kNN (``k``). (The standard
    model's robust accuracy per ε is in ``robustness/autoattack.tsv``, rule
    ``robustness_sanity``, downstream of the choice of ε.)
    """
    n_comps = int(min(n_pcs, x_all.shape[0] - 1, x_all.shape[1]))
    pca = PCA(n_components=n_comps, random_state=seed).fit(x_all)
    x, y = data.x_test, data.y_test
    clean_pcs = pca.transform(x)
    clean_acc = float((predict(standard, x, device) == y).mean())
    rows = []
    for eps in epsilons:
        perturbations = {"random": random_sign_noise(x, eps, seed)}
        for name in attacks:
            perturbations[name] = attack(name, standard, x, y, eps, attack_spec, seed=seed)
        for name, x_p in perturbations.items():
            x_p = x_p.numpy()
            pres = neighbour_preservation(clean_pcs, pca.transform(x_p), k) if eps > 0 else 1.0
            acc = float((predict(standard, x_p, device) == y).mean())
            targets = attacks if name == "random" else [name]
            for target in targets:
                kind = "random" if name == "random" else "adversarial"
                rows.append((target, eps, kind, pres, acc, clean_acc - acc))
    table = pd.DataFrame(rows, columns=PRESERVATION_COLUMNS)
    return table.sort_values(["attack", "perturbation", "epsilon"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------- class imbalance
def imbalanced_training_mask(y_train: np.ndarray, n_classes: int, drop_range: tuple[float, float],
                             seed: int) -> tuple[np.ndarray, dict[int, float]]:
    """Keep-mask over training cells that drops ``drop_range`` of the cells of ``n_classes`` random classes."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y_train)
    chosen = rng.choice(classes, size=min(n_classes, len(classes)), replace=False)
    keep = np.ones(len(y_train), dtype=bool)
    fractions = {}
    for c in sorted(int(c) for c in chosen):
        frac = float(rng.uniform(*drop_range))
        idx = np.flatnonzero(y_train == c)
        drop = rng.choice(idx, size=int(round(frac * len(idx))), replace=False)
        keep[drop] = False
        fractions[c] = frac
    return keep, fractions


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.array([(y_pred[y_true == c] == c).mean() if (y_true == c).any() else np.nan for c in range(n_classes)])


def imbalance_experiment(
    data: SplitData,
    epsilons: dict[str, float],
    n_classes: int,
    drop_range: tuple[float, float],
    arch: Architecture,
    train_spec: TrainSpec,
    adv_spec: AdversarialTrainingSpec,
    attack_spec: AttackSpec,
    seed: int,
    device: torch.device,
    eval_spec: EvaluationSpec | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-class test accuracy, clean and under each attack, before/after adversarial training.

    The standard model is trained on a training split from which ``drop_range`` of the
    cells of ``n_classes`` classes were removed; one adversarial model per attack (at
    ``epsilons[attack]``) continues from it. Rows: class, n_train, model (standard,
    adv_fgsm, adv_pgd), attack and epsilon (whose selected ε the row uses; empty and 0 for
    clean), evaluation (clean, whitebox = that attack against the model, autoattack = the
    worst case per cell over the strong evaluation and that attack), accuracy.
    """
    eval_spec = eval_spec or EvaluationSpec()
    keep, fractions = imbalanced_training_mask(data.y_train, n_classes, drop_range, seed)
    xtr, ytr = data.x_train[keep], data.y_train[keep]
    x, y = data.x_test, data.y_test
    k = len(data.class_names)
    standard = train_classifier(xtr, ytr, x, y, k, arch, train_spec, seed, device).model
    models = {"standard": standard}
    for name, eps in epsilons.items():
        models[f"adv_{name}"] = adversarial_train(standard, xtr, ytr, x, y, name, eps, adv_spec, attack_spec,
                                                  train_spec, seed, device).model
    n_train = np.bincount(ytr, minlength=k)
    rows = []
    for model_name, model in models.items():
        evals = {("", 0.0, "clean"): x}
        for name, eps in epsilons.items():
            whitebox = attack(name, model, x, y, eps, attack_spec, seed=seed)
            evals[(name, eps, "whitebox")] = whitebox
            strong = robust_evaluation(model, x, y, eps, name, whitebox, eval_spec, seed)
            evals[(name, eps, "autoattack")] = strong.x_adv
        for (name, eps, evaluation), xe in evals.items():
            acc = per_class_accuracy(y, predict(model, xe, device), k)
            rows += [(data.class_names[c], int(n_train[c]), model_name, name, float(eps), evaluation, float(acc[c]))
                     for c in range(k)]
    dropped = {data.class_names[c]: round(f, 4) for c, f in fractions.items()}
    return pd.DataFrame(rows, columns=IMBALANCE_COLUMNS), dropped


def adversarial_embeddings(standard: MLP, adata, selected: dict[str, float], largest: float,
                           attack_spec: AttackSpec, seed: int, n_pcs: int = 50,
                           n_neighbors: int = 15) -> tuple[dict[str, np.ndarray], pd.Series]:
    """UMAPs (same settings) of the cells of the store's embedding sample (all cells up to
    ``scale.embedding_max_cells``; :func:`advinterp.store.mark_samples`): clean, and attacked
    against the standard model at each attack's selected ε and at the largest ε of the grid.
    Returns ``(panels, labels)``."""
    from advinterp.embedding import umap_embedding
    from advinterp.store import sample_mask, zscored

    cells = np.flatnonzero(sample_mask(adata, "embedding"))
    x = np.asarray(zscored(adata, cells))
    all_labels = adata.obs[adata.uns["preprocess"]["label_key"]]
    codes = all_labels.astype("category").cat.codes.to_numpy().astype(np.int64)[cells]
    labels = all_labels.iloc[cells]
    panels = {"clean": umap_embedding(x, seed, n_pcs, n_neighbors)}
    for name, eps in selected.items():
        for e, tag in ((eps, "selected"), (largest, "largest in grid")):
            x_adv = attack(name, standard, x, codes, e, attack_spec, seed=seed).numpy()
            panels[f"{name.upper()} ε={e:g} ({tag})"] = umap_embedding(x_adv, seed, n_pcs, n_neighbors)
    return panels, labels
