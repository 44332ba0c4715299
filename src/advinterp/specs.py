"""Parameter objects of every step, with the checks that need no data.

Each spec is built from its own section of the workflow config with ``from_config``, e.g.
``TrainSpec.from_config(config["training"])``; its ``SECTION`` names that section. The
dataclass defaults are the one place defaults live: they equal the embedded default config
(config/config.yaml), and a key missing from a section takes the dataclass default
(tests/test_specs.py checks that config/config.yaml, the schema's ``default:`` entries and these
defaults agree).

Pure Python on purpose: the Snakefile imports this (through ``advinterp.config``) to
check a config when the workflow is parsed, in an environment that may have neither
torch nor scanpy.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar


def _build(cls, section: dict, convert: dict[str, Callable[[Any], Any]] | None = None,
           skip: tuple[str, ...] = ()):
    """``cls`` from a config section: its keys are the fields (after ``convert``), keys in
    ``skip`` belong to a nested spec, absent keys take the dataclass default, unknown keys are an
    error naming the section."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - names - set(skip))
    if unknown:
        raise ValueError(f"unknown {'.'.join(cls.SECTION)} keys {unknown}; known: {sorted(names)}")
    convert = convert or {}
    return cls(**{k: convert[k](v) if k in convert else v for k, v in section.items() if k not in skip})


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)

NOISE_PRESETS = ("DS1", "DS2", "DS3", "DS4", "DS5", "DS6", "DS7", "DS8", "DS13", "DS14")


@dataclass(frozen=True)
class NetworkSpec:
    SECTION: ClassVar[tuple[str, ...]] = ("sergio", "network")

    n_genes: int = 1200
    n_master_regulators: int = 67
    n_edges: int = 2700
    n_layers: int = 4
    max_regulators: int = 11
    k_min: float = 1.0
    k_max: float = 5.0
    repressive_fraction: float = 0.5
    hill_n: int = 2

    @classmethod
    def from_config(cls, section: dict) -> NetworkSpec:
        """From ``sergio.network``, whose ``k_range: [min, max]`` gives ``k_min`` and ``k_max``."""
        section = dict(section)
        if "k_range" in section:
            section["k_min"], section["k_max"] = (float(k) for k in section.pop("k_range"))
        return _build(cls, section)

    def check(self) -> None:
        """Raise ValueError naming the parameter when the spec cannot be realised."""
        n_targets = self.n_genes - self.n_master_regulators
        if self.n_master_regulators < 1 or n_targets < 1:
            raise ValueError(
                f"sergio.network.n_master_regulators={self.n_master_regulators} must be between 1 "
                f"and sergio.network.n_genes - 1 = {self.n_genes - 1}"
            )
        if not 1 <= self.n_layers <= n_targets:
            raise ValueError(
                f"sergio.network.n_layers={self.n_layers} must be between 1 and the number of targets ({n_targets})"
            )
        lo = max(n_targets, self.n_master_regulators)
        hi = n_targets * self.max_regulators
        if not lo <= self.n_edges <= hi:
            raise ValueError(
                f"sergio.network.n_edges={self.n_edges} cannot be realised: with {n_targets} targets, "
                f"{self.n_master_regulators} master regulators and at most "
                f"{self.max_regulators} regulators per target it must lie in [{lo}, {hi}]"
            )
        if not 0 < self.k_min <= self.k_max:
            raise ValueError(f"sergio.network.k_range=[{self.k_min}, {self.k_max}] must satisfy 0 < min <= max")
        if not 0.0 <= self.repressive_fraction <= 1.0:
            raise ValueError(f"sergio.network.repressive_fraction={self.repressive_fraction} must be in [0, 1]")


@dataclass(frozen=True)
class SimulationSpec:
    SECTION: ClassVar[tuple[str, ...]] = ("sergio", "simulation")

    n_cell_types: int = 9
    cells_per_type: int = 300
    decay: float = 0.8
    mr_low_range: tuple[float, float] = (0.5, 1.5)
    mr_high_range: tuple[float, float] = (3.5, 5.0)
    safety_iter: int = 150
    scale_iter: int = 10
    dt: float = 0.01
    noise_s: int = 1
    technical_noise: str = "DS3"

    @classmethod
    def from_config(cls, section: dict) -> SimulationSpec:
        """From ``sergio.simulation``."""
        return _build(cls, section, {"mr_low_range": _floats, "mr_high_range": _floats})


# What a dataset's X holds: integer counts (normalised and logged here), library-size-normalised
# values that are not logged (TPM, CPM: logged here), or values already normalised and logged.
VALUE_KINDS = ("counts", "normalized", "log_normalized")
# log1p of any realistic normalised expression stays far below this; larger values are not logged
MAX_LOG_VALUE = 30.0
# Cells left with zero counts by the gene filter: dropped (logged, counted in the output's metadata) or an error.
ZERO_CELL_ACTIONS = ("drop", "error")


@dataclass(frozen=True)
class PreprocessSpec:
    """``label_key`` and ``values`` come from the dataset's entry, the rest from ``preprocess``
    (with the entry's ``preprocess`` overrides; :func:`advinterp.config.preprocess_spec`)."""

    SECTION: ClassVar[tuple[str, ...]] = ("preprocess",)

    label_key: str = "cell_type"
    min_counts: int = 30
    min_cells: int = 3
    n_hvg: int = 2500
    hvg_flavor: str = "seurat"
    target_sum: float | None = 1e4
    test_size: float = 0.2
    values: str = "counts"  # counts | normalized | log_normalized
    zero_cells: str = "drop"  # drop | error

    @classmethod
    def from_config(cls, section: dict) -> PreprocessSpec:
        """From ``preprocess`` (``label_key`` and ``values`` may be added from the dataset's entry)."""
        return _build(cls, section, {"target_sum": lambda v: None if v is None else float(v)})

    def check(self) -> None:
        """Raise ValueError for combinations the preprocessing cannot run."""
        if self.values not in VALUE_KINDS:
            raise ValueError(f"values={self.values!r}; use one of {list(VALUE_KINDS)}")
        if self.zero_cells not in ZERO_CELL_ACTIONS:
            raise ValueError(f"preprocess.zero_cells={self.zero_cells!r}; use one of {list(ZERO_CELL_ACTIONS)}")
        if self.values != "counts" and self.hvg_flavor == "seurat_v3":
            raise ValueError(f"preprocess.hvg_flavor 'seurat_v3' models counts, but this dataset has {self.values} "
                             "values; use 'seurat' or 'cell_ranger'")


# Classifier architectures (``model.kind``): the paper's MLP and SIMS's TabNet (advinterp.tabnet).
MODEL_KINDS = ("mlp", "tabnet")
MASK_TYPES = ("sparsemax", "entmax")


@dataclass(frozen=True)
class TabNetSpec:
    """TabNet's hyperparameters (config ``model.tabnet``); defaults are SIMS's (advinterp.tabnet's
    docstring, docs/methods.md).

    ``weight_decay``, ``learning_rate`` and ``batch_size`` (SIMS's Adam and data loader) replace
    ``training``'s for a TabNet (:meth:`advinterp.tabnet.TabNetClassifier.train_spec`); ``class_weights``:
    weight the cross-entropy by inverse class frequency (:func:`advinterp.model.class_weight_vector`);
    ``l2_normalise``: divide each cell by its L2 norm first.
    """

    SECTION: ClassVar[tuple[str, ...]] = ("model", "tabnet")

    n_d: int = 64
    n_a: int = 64
    n_steps: int = 3
    gamma: float = 1.3
    n_independent: int = 2
    n_shared: int = 2
    mask_type: str = "sparsemax"
    lambda_sparse: float = 1e-3
    virtual_batch_size: int = 128
    momentum: float = 0.02
    weight_decay: float = 0.01
    learning_rate: float = 0.01
    batch_size: int = 32
    class_weights: bool = True
    l2_normalise: bool = True

    def __post_init__(self):
        self.check()

    def _key(self, name: str) -> str:
        return f"{'.'.join(self.SECTION)}.{name}={getattr(self, name)!r}"

    def check(self) -> None:
        """Raise ValueError naming the key (``model.tabnet.<key>``) of a value TabNet cannot use."""
        for name in ("n_d", "n_a", "n_steps", "virtual_batch_size", "n_independent", "n_shared", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{self._key(name)} must be an integer")
        for name in ("gamma", "lambda_sparse", "momentum", "weight_decay", "learning_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{self._key(name)} must be a number")
        for name in ("class_weights", "l2_normalise"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{self._key(name)} must be true or false")
        for name in ("n_d", "n_a", "n_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self._key(name)} must be >= 1")
        for name in ("n_independent", "n_shared"):
            if getattr(self, name) < 0:
                raise ValueError(f"{self._key(name)} must be >= 0")
        if self.n_independent == 0 and self.n_shared == 0:
            raise ValueError(f"{'.'.join(self.SECTION)}.n_independent and n_shared are both 0: "
                             "each feature transformer needs at least one GLU layer")
        if self.virtual_batch_size < 2:
            raise ValueError(f"{self._key('virtual_batch_size')} must be >= 2 (ghost batch norm normalises "
                             "chunks of this many cells)")
        if not self.gamma >= 1:
            raise ValueError(f"{self._key('gamma')} must be >= 1 (the prior gamma - M must stay non-negative)")
        if self.mask_type not in MASK_TYPES:
            raise ValueError(f"{self._key('mask_type')}; use one of {list(MASK_TYPES)}")
        if not self.lambda_sparse >= 0:
            raise ValueError(f"{self._key('lambda_sparse')} must be >= 0")
        if not 0 < self.momentum <= 1:
            raise ValueError(f"{self._key('momentum')} must be in (0, 1]")
        if not self.weight_decay >= 0:
            raise ValueError(f"{self._key('weight_decay')} must be >= 0")
        if not self.learning_rate > 0:
            raise ValueError(f"{self._key('learning_rate')} must be > 0")

    @classmethod
    def from_config(cls, section: dict) -> TabNetSpec:
        """From ``model.tabnet``."""
        return _build(cls, section or {}, {name: float for name in
                                           ("gamma", "lambda_sparse", "momentum", "weight_decay", "learning_rate")})


@dataclass(frozen=True)
class Architecture:
    """The classifier (config ``model``): ``kind`` ``mlp`` (the paper's MLP: ``hidden``, ``dropout``,
    ``batch_norm``) or ``tabnet`` (SIMS's TabNet: ``tabnet``, :class:`TabNetSpec`). The ``tabnet_*``
    regimes use TabNet whatever ``kind`` says (:meth:`for_regime`)."""

    SECTION: ClassVar[tuple[str, ...]] = ("model",)

    hidden: tuple[int, ...] = (500, 250, 100, 80, 60, 40, 20)
    dropout: tuple[float, ...] = (0.1, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0)
    # batch norm after every hidden layer's linear map (the ``*_reg`` regimes: RegularisationSpec)
    batch_norm: bool = False
    kind: str = "mlp"
    tabnet: TabNetSpec = TabNetSpec()

    def __post_init__(self):
        if len(self.hidden) != len(self.dropout):
            raise ValueError(
                f"model.dropout has {len(self.dropout)} entries but model.hidden has {len(self.hidden)}: "
                "give one dropout rate per hidden layer (0 for none)"
            )
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model.kind={self.kind!r}; use one of {list(MODEL_KINDS)}")

    @classmethod
    def from_config(cls, section: dict) -> Architecture:
        """From ``model`` (its ``tabnet`` subsection: :meth:`TabNetSpec.from_config`)."""
        arch = _build(cls, section, {"hidden": lambda v: tuple(int(h) for h in v), "dropout": _floats},
                      skip=("tabnet",))
        return replace(arch, tabnet=TabNetSpec.from_config(section.get("tabnet", {})))

    @classmethod
    def from_payload(cls, stored: dict) -> Architecture:
        """From the dict a saved model stores (``dataclasses.asdict``; lists for tuples). Models saved
        before ``kind`` existed are MLPs."""
        stored = dict(stored)
        tabnet = TabNetSpec(**stored.pop("tabnet", {}))
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}, tabnet=tabnet)

    def for_regime(self, regime: str) -> Architecture:
        """The architecture a regime trains: TabNet for the ``tabnet_*`` regimes, else this one."""
        return replace(self, kind="tabnet") if regime_architecture(regime) == "tabnet" else self


@dataclass(frozen=True)
class TrainSpec:
    """``eval_batch_size`` (cells per evaluation batch on the device) is not a config key;
    ``weight_decay`` (Adam's L2 penalty) comes from ``regularisation`` for the ``*_reg`` regimes
    (:meth:`RegularisationSpec.train_spec`), 0 otherwise."""

    SECTION: ClassVar[tuple[str, ...]] = ("training",)

    epochs: int = 100
    batch_size: int = 500
    learning_rate: float = 1e-3
    eval_batch_size: int = 4096
    weight_decay: float = 0.0

    @classmethod
    def from_config(cls, section: dict) -> TrainSpec:
        """From ``training``."""
        return _build(cls, section, {"learning_rate": float})


# Attacks that craft adversarial training cells (regimes adv_<attack>) and the sweep's ``whitebox``
# rows: FGSM and the paper's PGD (advinterp.attacks), and APGD with the cross-entropy (or margin)
# loss, the stronger attack of advinterp.autoattack, for adversarial training that holds up under it.
ATTACKS = ("fgsm", "pgd", "apgd")
PGD_LOSSES = ("ce", "margin")
TRAINING_MODES = ("static", "dynamic")


@dataclass(frozen=True)
class AttackSpec:
    """How attacks are run. PGD: ``pgd_steps`` steps of ``pgd_step_size`` (None = ε/4), ``pgd_loss``,
    ``pgd_restarts``. APGD: ``pgd_steps`` iterations (its own step-size schedule), the same loss and
    restarts."""

    SECTION: ClassVar[tuple[str, ...]] = ("attacks",)

    pgd_steps: int = 10
    pgd_step_size: float | None = None
    pgd_random_start: bool = False
    batch_size: int = 4096
    pgd_loss: str = "ce"
    pgd_restarts: int = 1

    def __post_init__(self):
        if self.pgd_loss not in PGD_LOSSES:
            raise ValueError(f"attacks.pgd_loss={self.pgd_loss!r}; use one of {list(PGD_LOSSES)}")

    @classmethod
    def from_config(cls, section: dict) -> AttackSpec:
        """From ``attacks``."""
        return _build(cls, section)


@dataclass(frozen=True)
class EvaluationSpec:
    """The strong white-box evaluation (advinterp.autoattack): attacks run in this order, each on
    the cells still standing. The defaults are the embedded config's CPU budget (APGD-CE,
    APGD-DLR, Square with 1000 queries, 50 iterations); AutoAttack's standard version
    (config/paper.yaml) is apgd_ce, apgd_t (9 targets), FAB-T and square (5000 queries) with
    100 iterations; FAB is not implemented here."""

    SECTION: ClassVar[tuple[str, ...]] = ("evaluation",)
    ATTACKS: ClassVar[tuple[str, ...]] = ("apgd_ce", "apgd_dlr", "apgd_t", "square")

    attacks: tuple[str, ...] = ("apgd_ce", "apgd_dlr", "square")
    n_iter: int = 50
    n_restarts: int = 1
    n_target_classes: int = 9
    square_queries: int = 1000
    square_p_init: float = 0.8
    batch_size: int = 4096

    def __post_init__(self):
        unknown = [a for a in self.attacks if a not in self.ATTACKS]
        if unknown or not self.attacks:
            raise ValueError(f"evaluation.attacks={list(self.attacks)}: use one or more of {list(self.ATTACKS)}")

    @classmethod
    def from_config(cls, section: dict) -> EvaluationSpec:
        """From ``evaluation``; its ``sanity`` subsection is :class:`SanitySpec`'s."""
        return _build(cls, section, {"attacks": tuple, "square_p_init": float}, skip=("sanity",))


@dataclass(frozen=True)
class SanitySpec:
    """Thresholds of the robustness sanity checks (advinterp.attack_sanity)."""

    SECTION: ClassVar[tuple[str, ...]] = ("evaluation", "sanity")

    large_epsilon: float = 10.0
    max_accuracy_at_large_epsilon: float = 0.02
    tolerance: float = 0.01

    @classmethod
    def from_config(cls, section: dict) -> SanitySpec:
        """From ``evaluation.sanity``."""
        return _build(cls, section)


@dataclass(frozen=True)
class AdversarialTrainingSpec:
    """Adversarial training, continued from the standard model for ``epochs`` epochs.

    ``static``: the paper's procedure — adversarial copies of the training cells crafted
    once against the standard model, concatenated with the clean cells. ``dynamic``:
    Madry-style — in every mini-batch, half the cells are replaced by adversarial
    versions crafted against the current model. PGD used for training takes
    ``pgd_steps`` steps (evaluation uses :class:`AttackSpec`'s). The defaults are the embedded
    config's CPU budget; config/paper.yaml trains 100 epochs with 10 PGD steps.
    """

    SECTION: ClassVar[tuple[str, ...]] = ("adversarial_training",)

    mode: str = "dynamic"
    epochs: int = 50
    pgd_steps: int = 3

    def __post_init__(self):
        if self.mode not in TRAINING_MODES:
            raise ValueError(f"adversarial_training.mode={self.mode!r}; use one of {list(TRAINING_MODES)}")

    @classmethod
    def from_config(cls, section: dict) -> AdversarialTrainingSpec:
        """From ``adversarial_training``."""
        return _build(cls, section)


@dataclass(frozen=True)
class NoiseTrainingSpec:
    """The ``noise`` regimes (Koo et al. 2019's noise injection): training continued from the
    standard (or regularised standard) model for ``adversarial_training.epochs`` epochs, as the
    adversarial regimes are, with Gaussian noise N(0, ``sigma``) added to the scaled input of
    every training cell, redrawn for every mini-batch. ``sigma`` is in the units of the scaled
    input (one = a gene's SD over the training cells)."""

    SECTION: ClassVar[tuple[str, ...]] = ("noise_training",)

    sigma: float = 0.5

    def __post_init__(self):
        if not self.sigma > 0:
            raise ValueError(f"noise_training.sigma={self.sigma} must be > 0")

    @classmethod
    def from_config(cls, section: dict) -> NoiseTrainingSpec:
        """From ``noise_training``."""
        return _build(cls, section, {"sigma": float})


@dataclass(frozen=True)
class RegularisationSpec:
    """The ``*_reg`` regimes (Koo et al. 2019's regularisation): the same network with batch norm
    after every hidden linear map, dropout ``dropout`` after every hidden layer (replacing
    ``model.dropout``) and Adam with ``weight_decay`` (an L2 penalty weight_decay/2 · ‖w‖² on all
    parameters), for the standard training and every training continued from it."""

    SECTION: ClassVar[tuple[str, ...]] = ("regularisation",)

    batch_norm: bool = True
    dropout: float = 0.2
    weight_decay: float = 1e-6

    def __post_init__(self):
        if not 0 <= self.dropout < 1:
            raise ValueError(f"regularisation.dropout={self.dropout} must be in [0, 1)")
        if self.weight_decay < 0:
            raise ValueError(f"regularisation.weight_decay={self.weight_decay} must be >= 0")

    @classmethod
    def from_config(cls, section: dict) -> RegularisationSpec:
        """From ``regularisation``."""
        return _build(cls, section, {"dropout": float, "weight_decay": float})

    def architecture(self, arch: Architecture) -> Architecture:
        """``arch`` regularised: same layers, batch norm as configured, dropout on every hidden layer
        (an MLP's: Koo's regularisation has no TabNet counterpart)."""
        if arch.kind != "mlp":
            raise ValueError(f"the regularised (*_reg) regimes regularise the MLP; model.kind is {arch.kind!r}: "
                             "list the regimes without the _reg suffix")
        return replace(arch, dropout=(self.dropout,) * len(arch.hidden), batch_norm=self.batch_norm)

    def train_spec(self, spec: TrainSpec) -> TrainSpec:
        """``spec`` with this weight decay."""
        return replace(spec, weight_decay=self.weight_decay)


# Names in advinterp.explain's registry; the config schema lists the same (tests check both).
EXPLAIN_METHODS = ("saliency", "activation_maximization", "lime", "shap_gradient", "shap_deep", "shap_kernel",
                   "deeplift", "integrated_gradients", "smoothgrad", "tabnet_mask")
# Training regimes: the standard model, Koo et al. 2019's noise injection, adversarial training with each
# attack, and each of them regularised (suffix _reg: RegularisationSpec); prefixed tabnet_, the same regimes
# (unregularised) of a TabNet classifier beside the dataset's model.kind (issue #15). advinterp.regimes trains them.
BASE_REGIMES = ("standard", "noise") + tuple(f"adv_{a}" for a in ATTACKS)
REGULARISED_SUFFIX = "_reg"
TABNET_PREFIX = "tabnet_"
TABNET_REGIMES = tuple(TABNET_PREFIX + r for r in BASE_REGIMES)
REGIMES = BASE_REGIMES + tuple(r + REGULARISED_SUFFIX for r in BASE_REGIMES) + TABNET_REGIMES


def _check_regime(name: str) -> None:
    if name not in REGIMES:
        raise ValueError(f"unknown regime {name!r}; use one of {list(REGIMES)}")


def regime_architecture(name: str) -> str | None:
    """``tabnet`` for the ``tabnet_*`` regimes; None for the others (they train ``model.kind``)."""
    _check_regime(name)
    return "tabnet" if name.startswith(TABNET_PREFIX) else None


def parse_regime(name: str) -> tuple[str, bool]:
    """``(base regime, regularised)`` of a regime name, e.g. ``adv_pgd_reg`` → ``("adv_pgd", True)``,
    ``tabnet_noise`` → ``("noise", False)``."""
    _check_regime(name)
    name = name.removeprefix(TABNET_PREFIX)
    regularised = name.endswith(REGULARISED_SUFFIX)
    return (name.removesuffix(REGULARISED_SUFFIX) if regularised else name), regularised


def regime_attack(name: str) -> str | None:
    """The attack an adversarial regime is trained with (``adv_pgd_reg`` → ``pgd``), else None."""
    base, _ = parse_regime(name)
    return base.removeprefix("adv_") if base.startswith("adv_") else None


def trained_here(regime: str) -> bool:
    """Whether :func:`advinterp.regimes.train_regime` (rule train_regime) trains ``regime``; rules
    train_standard and train_adversarial train ``standard`` and ``adv_{attack}``."""
    base, regularised = parse_regime(regime)
    return regularised or base == "noise" or regime_architecture(regime) is not None


def base_regime(regime: str) -> str | None:
    """The regime whose model ``regime`` continues from: ``standard``, ``standard_reg`` or
    ``tabnet_standard``; None for those three (trained from scratch)."""
    base, regularised = parse_regime(regime)
    if base == "standard":
        return None
    if regime_architecture(regime) is not None:
        return TABNET_PREFIX + "standard"
    return "standard_reg" if regularised else "standard"


def evaluation_epsilon(regime: str, selected: dict) -> float:
    """ε at which a regime's robustness is reported: an adversarial regime's training ε (``selected``:
    selected_epsilon.json), else the smallest selected ε (as for the standard model)."""
    attack = regime_attack(regime)
    if attack is not None:
        return float(selected[attack]["epsilon"])
    return float(min(choice["epsilon"] for choice in selected.values()))


# Explanation methods that cannot explain a TabNetClassifier (advinterp.tabnet), found by running each registered
# method on a small trained TabNet (tests/test_tabnet.py re-checks the reasons;
# here, not in advinterp.tabnet, so that checking a config does not import torch). Every method runs
# without an error; these give attributions that are wrong by the method's own definition.
_DEEPLIFT_RULES = ("has no DeepLIFT rule for TabNet's sparsemax masks, its multiplicative mask and GLU gates or "
                   "its functional ReLUs, so the attributions break DeepLIFT's summation to f(x) - f(reference)")
TABNET_ALWAYS_UNSUPPORTED: dict[str, str] = {
    "shap_deep": f"shap's DeepExplainer {_DEEPLIFT_RULES} (shap's own additivity check fails: "
                 "'The SHAP explanations do not sum up to the model's output!')",
    "deeplift": f"captum's DeepLift {_DEEPLIFT_RULES}",
}
# With model.tabnet.l2_normalise (the default) the model is scale-invariant: f(a·x) = f(x) for a > 0.
TABNET_L2_UNSUPPORTED: dict[str, str] = {
    "activation_maximization": "it starts from the zero cell, where an L2-normalised TabNet "
                               "(model.tabnet.l2_normalise) is undefined (the gradient of x / max(|x|, 1e-12) is of "
                               "order 1e12), so Adam's first step moves every gene by the same amount and, the model "
                               "being scale-invariant, the prototype keeps almost the same magnitude on every gene: "
                               "no ranking of genes",
    "integrated_gradients": "its baseline is the zero cell and an L2-normalised TabNet (model.tabnet.l2_normalise) "
                            "is constant along the path from 0 to x (gradient at a*x = gradient at x / a), so it "
                            "collapses to gradient x input times a quadrature sum of 1/a that grows with n_steps, and "
                            "sums to 0 instead of f(x) - f(0)",
    "deeplift": "its baseline is the zero cell and an L2-normalised TabNet (model.tabnet.l2_normalise) is constant "
                "along the ray from 0 to x, so it is exactly gradient x input, summing to 0 instead of f(x) - f(0)",
}


def tabnet_unsupported(spec: TabNetSpec | None = None) -> dict[str, str]:
    """Method → reason, for the explanation methods that cannot explain a TabNet built from ``spec``."""
    spec = spec or TabNetSpec()
    out = dict(TABNET_L2_UNSUPPORTED) if spec.l2_normalise else {}
    out.update(TABNET_ALWAYS_UNSUPPORTED)
    return out


# For the default spec (l2_normalise: true): shap_deep, deeplift, integrated_gradients, activation_maximization.
TABNET_UNSUPPORTED: dict[str, str] = tabnet_unsupported()


def check_methods(kind: str, methods, tabnet_spec: TabNetSpec | None = None) -> None:
    """Raise ValueError for an explanation method that cannot explain a ``kind`` model
    (``tabnet_spec``: the TabNet's spec, default :class:`TabNetSpec`; ``tabnet_mask`` needs a TabNet)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"model.kind={kind!r}; use one of {list(MODEL_KINDS)}")
    unsupported = tabnet_unsupported(tabnet_spec) if kind == "tabnet" else {}
    for method in methods:
        if method in unsupported:
            raise ValueError(f"explanation method {method!r} cannot explain a TabNet model: "
                             f"{unsupported[method]}; remove it from interpretability.tabnet_methods")
        if kind != "tabnet" and method == "tabnet_mask":
            raise ValueError(f"explanation method {method!r} explains TabNet models (model.kind: tabnet, the "
                             f"tabnet_* regimes) only; remove it from interpretability.methods (TabNet models "
                             "run interpretability.tabnet_methods)")


# Every spec built from a config section (tests/test_specs.py checks each against config/config.yaml).
SPECS = (NetworkSpec, SimulationSpec, PreprocessSpec, Architecture, TabNetSpec, TrainSpec, AttackSpec, EvaluationSpec,
         SanitySpec, AdversarialTrainingSpec, NoiseTrainingSpec, RegularisationSpec)
