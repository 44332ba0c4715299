"""The robustness arm's steps on tables alone: the tables' columns, the sweep table combined
from its per-(attack, seed) parts, and the choice of ε from the preservation table.

pandas only, on purpose: the rules ``robustness_sweep_table`` and ``select_epsilon`` run in
the light environment (workflow/envs/data.yaml), without torch; the steps that attack and train
models are in :mod:`advinterp.robustness`.
"""

from __future__ import annotations

import logging

import pandas as pd

from advinterp.io import read_tables

log = logging.getLogger(__name__)

SWEEP_COLUMNS = ["attack", "epsilon", "model", "evaluation", "seed", "accuracy", "macro_f1"]
EVALUATIONS = ("clean", "whitebox", "transfer", "autoattack")
PRESERVATION_COLUMNS = ["attack", "epsilon", "perturbation", "preservation", "accuracy", "accuracy_drop"]
IMBALANCE_COLUMNS = ["class", "n_train", "model", "attack", "epsilon", "evaluation", "accuracy"]


# ------------------------------------------------------------------ the sweep table
def combine_sweeps(paths) -> pd.DataFrame:
    """Concatenate per-(attack, seed) sweep tables, checking their columns, in a stable order."""
    table = read_tables(paths, SWEEP_COLUMNS)
    order = {"standard": 0, "adversarial": 1}, {e: i for i, e in enumerate(EVALUATIONS)}
    return (table.assign(_m=table["model"].map(order[0]), _e=table["evaluation"].map(order[1]))
            .sort_values(["attack", "_m", "_e", "epsilon", "seed"], kind="stable")
            .drop(columns=["_m", "_e"]).reset_index(drop=True))


# ------------------------------------------------------------------- choosing ε
def select_epsilon(table: pd.DataFrame, attack_name: str, min_preservation: float, min_accuracy_drop: float,
                   override: float | None = None) -> dict:
    """The ε used for adversarial training with ``attack_name``, with the rule and numbers behind it.

    The rule reads the rows of ``attack_name`` (the attack that crafts the training cells).

    Rule: the largest ε > 0 of the grid whose neighbour preservation is ≥
    ``min_preservation`` and that lowers the standard model's accuracy by ≥
    ``min_accuracy_drop``. An explicit ``override`` wins. If no ε satisfies both, the
    largest ε meeting the preservation bound is used (or else the smallest ε > 0), and
    the rule says so.
    """
    adv = table[(table["attack"] == attack_name) & (table["perturbation"] == "adversarial")]
    adv = adv[adv["epsilon"] > 0].sort_values("epsilon")
    numbers = adv[["epsilon", "preservation", "accuracy", "accuracy_drop"]].to_dict("records")
    both = adv[(adv["preservation"] >= min_preservation) & (adv["accuracy_drop"] >= min_accuracy_drop)]
    preserving = adv[adv["preservation"] >= min_preservation]
    if override is not None:
        eps, rule = float(override), "set in config (robustness.epsilon)"
    elif len(both):
        eps = float(both["epsilon"].max())
        rule = (f"largest epsilon with neighbour preservation >= {min_preservation} and standard-model "
                f"accuracy drop >= {min_accuracy_drop}")
    elif len(preserving):
        eps = float(preserving["epsilon"].max())
        rule = (f"fallback: no epsilon lowers accuracy by >= {min_accuracy_drop} while preserving >= "
                f"{min_preservation} of neighbours; largest epsilon with preservation >= {min_preservation}")
        log.warning("%s: %s", attack_name, rule)
    else:
        eps = float(adv["epsilon"].min())
        rule = f"fallback: no epsilon preserves >= {min_preservation} of neighbours; smallest epsilon > 0"
        log.warning("%s: %s", attack_name, rule)
    return {
        "epsilon": eps,
        "rule": rule,
        "min_neighbour_preservation": min_preservation,
        "min_accuracy_drop": min_accuracy_drop,
        "grid": numbers,
    }
