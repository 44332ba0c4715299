"""Koo et al. 2019's training regimes on the cell-type classifier: noise injection, and the
regularised variant of every regime (rules train_regime / train_regime_seed).

A regime is named ``{base}`` or ``{base}_reg`` (:func:`advinterp.specs.parse_regime`), base ∈
``standard``, ``noise``, ``adv_{attack}``. ``standard`` and ``adv_{attack}`` are trained by
:func:`advinterp.model.train_standard` and :func:`advinterp.adversarial.train_adversarial_regime`
(rules train_standard / train_adversarial); this module trains the others:

- ``standard_reg``: the standard training, from scratch, of the regularised network
  (:class:`~advinterp.specs.RegularisationSpec`: batch norm, dropout on every hidden layer, weight decay);
- ``noise`` / ``noise_reg``: training continued from ``standard`` / ``standard_reg`` for
  ``adversarial_training.epochs`` epochs — the adversarial regimes' schedule, so that the two differ
  only in what perturbs the training cells — with Gaussian noise N(0, σ) added to every training
  cell, redrawn for every mini-batch (:class:`~advinterp.specs.NoiseTrainingSpec`);
- ``adv_{attack}_reg``: adversarial training continued from ``standard_reg``, with the weight decay;
- ``tabnet_{base}``: the same regimes of a TabNet classifier (:mod:`advinterp.tabnet`, issue #15):
  ``tabnet_standard`` trained from scratch, the others continued from it, beside the dataset's own
  ``model.kind``.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch

from advinterp.adversarial import train_adversarial_regime
from advinterp.model import MLP, SplitData, TrainResult, train_classifier, training_metrics
from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    NoiseTrainingSpec,
    RegularisationSpec,
    TrainSpec,
    parse_regime,
    regime_attack,
    trained_here,
)


def noise_train(base: MLP, data: SplitData, sigma: float, epochs: int, train_spec: TrainSpec, seed: int,
                device: torch.device) -> TrainResult:
    """Continue training a copy of ``base`` for ``epochs`` epochs on cells with N(0, ``sigma``) noise added,
    redrawn for every mini-batch from a generator seeded with ``seed``."""
    model = copy.deepcopy(base).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)

    def perturb(current, xb, yb, step):
        return xb + sigma * torch.randn(xb.shape, generator=gen, device=xb.device, dtype=xb.dtype), yb

    return train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, len(data.class_names), None,
                            replace(train_spec, epochs=epochs), seed, device, model=model, perturb=perturb)


def trained_architecture(regime: str, arch: Architecture, regularisation: RegularisationSpec) -> Architecture:
    """The network ``regime`` trains: ``model``'s ``arch`` (TabNet for ``tabnet_*``:
    :meth:`~advinterp.specs.Architecture.for_regime`), regularised for the ``*_reg`` regimes."""
    arch = arch.for_regime(regime)
    return regularisation.architecture(arch) if parse_regime(regime)[1] else arch


def train_regime(regime: str, data: SplitData, arch: Architecture, train_spec: TrainSpec,
                 regularisation: RegularisationSpec, seed: int, device: torch.device, *, base: MLP | None = None,
                 noise: NoiseTrainingSpec | None = None, adv_spec: AdversarialTrainingSpec | None = None,
                 attack_spec: AttackSpec | None = None, epsilon: float | None = None
                 ) -> tuple[TrainResult, dict, Architecture]:
    """Train one of Koo's regimes (``standard_reg``, ``noise``, ``noise_reg``, ``adv_{attack}_reg``) or a
    ``tabnet_*`` regime.

    ``arch`` is ``model``'s architecture (:func:`trained_architecture` gives the one trained); ``base`` the model of
    :func:`base_regime` for the regimes continued from one; ``noise`` for the noise regimes;
    ``adv_spec`` (its ``epochs``) for the noise and adversarial regimes, ``attack_spec`` and ``epsilon`` (the
    selected ε of the attack) for the adversarial ones.
    Returns the result, the training metrics (clean test ``accuracy``, ``macro_f1``, ``per_class_f1``,
    ``n_train``, ``n_test``, ``device``, ``seconds``, ``regime``, ``regularised`` and the regime's own
    settings) and the architecture of the trained network.
    """
    if not trained_here(regime):
        raise ValueError(f"regime {regime!r} is trained by rule train_standard or train_adversarial, not here")
    name, regularised = parse_regime(regime)
    spec = regularisation.train_spec(train_spec) if regularised else train_spec
    needed = {"standard": {},
              "noise": {"base": base, "noise": noise, "adv_spec": adv_spec},
              "adv": {"base": base, "adv_spec": adv_spec, "attack_spec": attack_spec, "epsilon": epsilon}}
    missing = [k for k, v in needed["adv" if name.startswith("adv_") else name].items() if v is None]
    if missing:
        raise ValueError(f"regime {regime!r} needs {missing}")
    arch = trained_architecture(regime, arch, regularisation)
    extra: dict = {"regime": regime, "regularised": regularised, "model": arch.kind}
    if regularised:  # the network of standard_reg, and of every regime continued from it
        extra.update(batch_norm=regularisation.batch_norm, dropout=regularisation.dropout,
                     weight_decay=regularisation.weight_decay)
    if name == "standard":
        result = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, len(data.class_names), arch,
                                  spec, seed, device)
    elif name == "noise":
        result = noise_train(base, data, noise.sigma, adv_spec.epochs, spec, seed, device)
        extra.update(sigma=noise.sigma, epochs=adv_spec.epochs)
    else:
        result, adv_metrics = train_adversarial_regime(base, data, regime_attack(regime), epsilon, adv_spec,
                                                       attack_spec, spec, seed, device)
        extra.update({k: adv_metrics[k] for k in ("attack", "epsilon", "mode")})
    return result, {**training_metrics(result.model, data, result.seconds, device, spec.eval_batch_size), **extra}, arch
