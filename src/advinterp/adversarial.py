"""Adversarial training (paper section 3.1, Supplementary Fig. S2a) and white-box evaluation.

Both modes continue training a copy of the standard model:

- ``static`` (the paper's): adversarial copies of all training cells are crafted once
  against the standard model and concatenated with the clean cells (2× cells);
- ``dynamic`` (Madry et al.): in every mini-batch half of the cells are replaced by
  adversarial versions crafted against the model being trained.

Evaluation is always white-box against the model under test: the named attack
(``whitebox``) and the strong evaluation (``autoattack``, :mod:`advinterp.autoattack`:
the robust accuracy); ``transfer`` evaluation (cells attacked against the standard model —
what the original notebook reported) is computed too, and labelled as such.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import numpy as np
import torch

from advinterp.attacks import attack
from advinterp.autoattack import evaluate
from advinterp.model import MLP, TrainResult, classification_metrics, predict, train_classifier, training_metrics
from advinterp.specs import AdversarialTrainingSpec, AttackSpec, EvaluationSpec, TrainSpec

log = logging.getLogger(__name__)

def training_attack_spec(attack_spec: AttackSpec, adv_spec: AdversarialTrainingSpec) -> AttackSpec:
    """The attack used while training: evaluation settings with the training PGD step count."""
    return replace(attack_spec, pgd_steps=adv_spec.pgd_steps)


def adversarial_train(
    standard: MLP,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    attack_name: str,
    epsilon: float,
    adv_spec: AdversarialTrainingSpec,
    attack_spec: AttackSpec,
    train_spec: TrainSpec,
    seed: int,
    device: torch.device,
) -> TrainResult:
    """Continue training a copy of ``standard`` on clean + adversarial cells at ``epsilon``."""
    model = copy.deepcopy(standard).to(device)
    spec = replace(train_spec, epochs=adv_spec.epochs)
    train_attack = training_attack_spec(attack_spec, adv_spec)
    n_classes = model.n_classes
    if adv_spec.mode == "static":  # the paper's 2x data: the training set and its copies in memory
        x_train = np.asarray(x_train)
        x_adv = attack(attack_name, model, x_train, y_train, epsilon, train_attack, seed=seed).numpy()
        x_all = np.concatenate([x_train, x_adv])
        y_all = np.concatenate([y_train, y_train])
        result = train_classifier(x_all, y_all, x_test, y_test, n_classes, None, spec, seed, device, model=model)
        result.extra["n_train_adversarial"] = int(len(x_adv))
        return result

    def perturb(current, xb, yb, step):
        half = len(xb) // 2
        x_adv = attack(attack_name, current, xb[half:], yb[half:], epsilon, train_attack, seed=seed + step)
        return torch.cat([xb[:half], x_adv]), yb

    result = train_classifier(x_train, y_train, x_test, y_test, n_classes, None, spec, seed, device,
                              model=model, perturb=perturb)
    result.extra["n_train_adversarial"] = int(spec.epochs * (len(x_train) - len(x_train) // 2))
    return result


def attacked_metrics(model: MLP, x_attacked, y: np.ndarray, class_names: list[str], device) -> dict:
    """accuracy/macro_f1/per_class_f1 of ``model`` on (already attacked) cells."""
    return classification_metrics(y, predict(model, x_attacked, device), class_names)


def whitebox_accuracy(model: MLP, x: np.ndarray, y: np.ndarray, attack_name: str, epsilon: float,
                      attack_spec: AttackSpec, device, seed: int = 0) -> float:
    """Accuracy of ``model`` on cells attacked against ``model`` itself with the named attack."""
    x_adv = attack(attack_name, model, x, y, epsilon, attack_spec, seed=seed)
    return float((predict(model, x_adv, device) == y).mean())


def robust_evaluation(model: MLP, x, y, epsilon: float, attack_name: str, x_attacked, eval_spec: EvaluationSpec,
                      seed: int, keep_cells: bool = True):
    """The workflow's robust accuracy at ``epsilon``: the strong evaluation (:func:`advinterp.autoattack.evaluate`)
    with the cells ``x_attacked`` of the row's own attack (``attack_name``) folded in, worst case per cell.
    ``keep_cells=False``: counts and accuracies only, no attacked cells (``x_adv`` is ``None``)."""
    return evaluate(model, x, y, epsilon, eval_spec, seed, keep_cells).fold(model, attack_name, x_attacked, y)


def train_adversarial_regime(standard: MLP, data, attack_name: str, epsilon: float,
                             adv_spec: AdversarialTrainingSpec, attack_spec: AttackSpec, train_spec: TrainSpec,
                             seed: int, device) -> tuple[TrainResult, dict]:
    """The ``adv_{attack}`` regime used downstream, and its training metrics.

    Training metrics: clean ``accuracy``, ``macro_f1``, ``per_class_f1``, ``n_train``,
    ``n_test``, ``device``, ``seconds`` (as for the standard model), ``attack``, ``epsilon``,
    ``mode``. Its robustness is measured by :func:`regime_metrics` (rule
    ``adversarial_metrics``), so that a change of the evaluation does not retrain the model.
    """
    x, y = data.x_test, data.y_test
    result = adversarial_train(standard, data.x_train, data.y_train, x, y, attack_name, epsilon, adv_spec,
                               attack_spec, train_spec, seed, device)
    metrics = {
        **training_metrics(result.model, data, result.seconds, device),
        "attack": attack_name,
        "epsilon": float(epsilon),
        "mode": adv_spec.mode,
    }
    return result, metrics


def regime_metrics(standard: MLP, model: MLP, data, training: dict, attack_spec: AttackSpec,
                   eval_spec: EvaluationSpec, seed: int, device) -> dict:
    """``metrics/adv_{attack}.json``: the training metrics (``training``, from
    :func:`train_adversarial_regime`) and the model's robustness at its ε.

    Added keys: ``whitebox_accuracy`` (the attack it was trained with, against itself),
    ``transfer_accuracy`` (cells attacked against the standard model), ``autoattack_accuracy``
    (the robust accuracy: worst case per cell over the strong evaluation and the white-box
    attack, against itself), ``autoattack_broken_by`` (cells broken by each attack, and
    misclassified clean), ``evaluation_attacks``; for comparison, the standard model's
    ``standard_whitebox_accuracy`` and ``standard_autoattack_accuracy`` at the same ε.
    """
    x, y = data.x_test, data.y_test
    attack_name, epsilon = training["attack"], training["epsilon"]

    def robust(m):
        whitebox = attack(attack_name, m, x, y, epsilon, attack_spec, seed=seed)
        strong = robust_evaluation(m, x, y, epsilon, attack_name, whitebox, eval_spec, seed, keep_cells=False)
        return float((predict(m, whitebox, device) == y).mean()), strong

    whitebox, strong = robust(model)
    standard_whitebox, standard_strong = robust(standard)
    transfer_x = attack(attack_name, standard, x, y, epsilon, attack_spec, seed=seed)
    return {
        **training,
        "whitebox_accuracy": whitebox,
        "transfer_accuracy": float((predict(model, transfer_x, device) == y).mean()),
        "autoattack_accuracy": strong.accuracy,
        "autoattack_broken_by": strong.counts(),
        "evaluation_attacks": list(eval_spec.attacks),
        "standard_whitebox_accuracy": standard_whitebox,
        "standard_autoattack_accuracy": standard_strong.accuracy,
    }
