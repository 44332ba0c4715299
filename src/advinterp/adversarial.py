"""Adversarial training (paper section 3.1, Supplementary Fig. S2a) and white-box evaluation.

Both modes continue training a copy of the standard model:

- ``static`` (the paper's): adversarial copies of all training cells are crafted once
  against the standard model and concatenated with the clean cells (2× cells);
- ``dynamic`` (Madry et al.): in every mini-batch half of the cells are replaced by
  adversarial versions crafted against the model being trained.

Evaluation is always white-box against the model under test; ``transfer`` evaluation
(cells attacked against the standard model — what the original notebook reported) is
computed too, and labelled as such.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import numpy as np
import torch

from advinterp.attacks import attack
from advinterp.model import MLP, TrainResult, classification_metrics, predict, train_classifier
from advinterp.specs import AdversarialTrainingSpec, AttackSpec, TrainSpec

log = logging.getLogger(__name__)

# FGSM white-box accuracy exceeding PGD's by more than this flags gradient masking.
MASKING_GAP = 0.2


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
    n_classes = model.net[-1].out_features
    if adv_spec.mode == "static":
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
    """Accuracy of ``model`` on cells attacked against ``model`` itself."""
    x_adv = attack(attack_name, model, x, y, epsilon, attack_spec, seed=seed)
    return float((predict(model, x_adv, device) == y).mean())


def gradient_masking_suspected(acc_fgsm: float, acc_pgd: float) -> bool:
    """True when white-box FGSM accuracy exceeds PGD's at the same ε by more than ``MASKING_GAP``."""
    return bool(acc_fgsm - acc_pgd > MASKING_GAP)


def gradient_masking_report(model: MLP, x: np.ndarray, y: np.ndarray, epsilon: float, attack_spec: AttackSpec,
                            device, seed: int = 0) -> dict:
    """White-box FGSM and PGD accuracy at ``epsilon`` and the gradient-masking flag.

    PGD is at least as strong as FGSM against an honest model; an FGSM accuracy well
    above PGD's (> ``MASKING_GAP``) is the classic signature of gradient masking.
    """
    acc_fgsm = whitebox_accuracy(model, x, y, "fgsm", epsilon, attack_spec, device, seed)
    acc_pgd = whitebox_accuracy(model, x, y, "pgd", epsilon, attack_spec, device, seed)
    return {
        "whitebox_accuracy_fgsm": acc_fgsm,
        "whitebox_accuracy_pgd": acc_pgd,
        "gradient_masking_suspected": gradient_masking_suspected(acc_fgsm, acc_pgd),
    }


def train_adversarial_regime(standard: MLP, data, attack_name: str, epsilon: float,
                             adv_spec: AdversarialTrainingSpec, attack_spec: AttackSpec, train_spec: TrainSpec,
                             seed: int, device) -> tuple[TrainResult, dict]:
    """The ``adv_{attack}`` regime used downstream, and its metrics.

    Metrics: clean ``accuracy``, ``macro_f1``, ``per_class_f1``, ``n_train``, ``n_test``,
    ``device``, ``seconds`` (as for the standard model), plus ``attack``, ``epsilon``,
    ``mode``, ``whitebox_accuracy`` (the attack it was trained with, against itself),
    ``transfer_accuracy`` (cells attacked against the standard model),
    ``whitebox_accuracy_fgsm``/``_pgd``, ``gradient_masking_suspected`` and, for comparison,
    the standard model's ``standard_whitebox_accuracy_fgsm``/``_pgd`` at the same ε.
    """
    x, y = data.x_test, data.y_test
    result = adversarial_train(standard, data.x_train, data.y_train, x, y, attack_name, epsilon, adv_spec,
                               attack_spec, train_spec, seed, device)
    model = result.model
    transfer_x = attack(attack_name, standard, x, y, epsilon, attack_spec, seed=seed)
    masking = gradient_masking_report(model, x, y, epsilon, attack_spec, device, seed)
    metrics = {
        **attacked_metrics(model, x, y, data.class_names, device),
        "n_train": int(len(data.y_train)),
        "n_test": int(len(y)),
        "device": torch.device(device).type,
        "seconds": round(result.seconds, 3),
        "attack": attack_name,
        "epsilon": float(epsilon),
        "mode": adv_spec.mode,
        "whitebox_accuracy": masking[f"whitebox_accuracy_{attack_name}"],
        "transfer_accuracy": float((predict(model, transfer_x, device) == y).mean()),
        **masking,
    }
    # The same comparison for the standard model: PGD beating FGSM by a wide margin can be
    # plain multi-step strength rather than masking, and this shows how large that gap is.
    reference = gradient_masking_report(standard, x, y, epsilon, attack_spec, device, seed)
    metrics["standard_whitebox_accuracy_fgsm"] = reference["whitebox_accuracy_fgsm"]
    metrics["standard_whitebox_accuracy_pgd"] = reference["whitebox_accuracy_pgd"]
    return result, metrics
