"""Parameter objects of every step, with the checks that need no data.

Pure Python on purpose: the Snakefile imports this (through ``advinterp.config``) to
check a config when the workflow is parsed, in an environment that may have neither
torch nor scanpy.
"""

from __future__ import annotations

from dataclasses import dataclass

NOISE_PRESETS = ("DS1", "DS2", "DS3", "DS4", "DS5", "DS6", "DS7", "DS8", "DS13", "DS14")


@dataclass(frozen=True)
class NetworkSpec:
    n_genes: int = 1200
    n_master_regulators: int = 67
    n_edges: int = 2700
    n_layers: int = 4
    max_regulators: int = 11
    k_min: float = 1.0
    k_max: float = 5.0
    repressive_fraction: float = 0.5
    hill_n: int = 2

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


# What a dataset's X holds: integer counts (normalised and logged here), library-size-normalised
# values that are not logged (TPM, CPM: logged here), or values already normalised and logged.
VALUE_KINDS = ("counts", "normalized", "log_normalized")
# log1p of any realistic normalised expression stays far below this; larger values are not logged
MAX_LOG_VALUE = 30.0


@dataclass(frozen=True)
class PreprocessSpec:
    label_key: str = "cell_type"
    min_counts: int = 30
    min_cells: int = 3
    n_hvg: int = 2500
    hvg_flavor: str = "seurat"
    target_sum: float | None = 1e4
    test_size: float = 0.2
    values: str = "counts"  # counts | normalized | log_normalized

    def check(self) -> None:
        """Raise ValueError for combinations the preprocessing cannot run."""
        if self.values not in VALUE_KINDS:
            raise ValueError(f"values={self.values!r}; use one of {list(VALUE_KINDS)}")
        if self.values != "counts" and self.hvg_flavor == "seurat_v3":
            raise ValueError(f"preprocess.hvg_flavor 'seurat_v3' models counts, but this dataset has {self.values} "
                             "values; use 'seurat' or 'cell_ranger'")


@dataclass(frozen=True)
class Architecture:
    hidden: tuple[int, ...] = (500, 250, 100, 80, 60, 40, 20)
    dropout: tuple[float, ...] = (0.1, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0)

    def __post_init__(self):
        if len(self.hidden) != len(self.dropout):
            raise ValueError(
                f"model.dropout has {len(self.dropout)} entries but model.hidden has {len(self.hidden)}: "
                "give one dropout rate per hidden layer (0 for none)"
            )


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 100
    batch_size: int = 500
    learning_rate: float = 1e-3
    eval_batch_size: int = 4096


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

    pgd_steps: int = 10
    pgd_step_size: float | None = None
    pgd_random_start: bool = False
    batch_size: int = 4096
    pgd_loss: str = "ce"
    pgd_restarts: int = 1

    def __post_init__(self):
        if self.pgd_loss not in PGD_LOSSES:
            raise ValueError(f"attacks.pgd_loss={self.pgd_loss!r}; use one of {list(PGD_LOSSES)}")


@dataclass(frozen=True)
class EvaluationSpec:
    """The strong white-box evaluation (advinterp.autoattack): attacks run in this order, each on
    the cells still standing. AutoAttack's standard version is apgd_ce, apgd_t (9 targets), FAB-T
    and square (5000 queries); FAB is not implemented here."""

    ATTACKS = ("apgd_ce", "apgd_dlr", "apgd_t", "square")

    attacks: tuple[str, ...] = ("apgd_ce", "apgd_t", "square")
    n_iter: int = 100
    n_restarts: int = 1
    n_target_classes: int = 9
    square_queries: int = 5000
    square_p_init: float = 0.8
    batch_size: int = 4096

    def __post_init__(self):
        unknown = [a for a in self.attacks if a not in self.ATTACKS]
        if unknown or not self.attacks:
            raise ValueError(f"evaluation.attacks={list(self.attacks)}: use one or more of {list(self.ATTACKS)}")


@dataclass(frozen=True)
class SanitySpec:
    """Thresholds of the robustness sanity checks (advinterp.attack_sanity)."""

    large_epsilon: float = 10.0
    max_accuracy_at_large_epsilon: float = 0.02
    tolerance: float = 0.01


@dataclass(frozen=True)
class AdversarialTrainingSpec:
    """Adversarial training, continued from the standard model for ``epochs`` epochs.

    ``static``: the paper's procedure — adversarial copies of the training cells crafted
    once against the standard model, concatenated with the clean cells. ``dynamic``:
    Madry-style — in every mini-batch, half the cells are replaced by adversarial
    versions crafted against the current model. PGD used for training takes
    ``pgd_steps`` steps (evaluation uses :class:`AttackSpec`'s).
    """

    mode: str = "dynamic"
    epochs: int = 30
    pgd_steps: int = 5

    def __post_init__(self):
        if self.mode not in TRAINING_MODES:
            raise ValueError(f"adversarial_training.mode={self.mode!r}; use one of {list(TRAINING_MODES)}")


# Names in advinterp.explain's registry; the config schema lists the same (tests check both).
EXPLAIN_METHODS = ("saliency", "activation_maximization", "lime", "shap_gradient", "shap_deep", "shap_kernel",
                   "deeplift", "integrated_gradients", "smoothgrad")
REGIMES = ("standard",) + tuple(f"adv_{a}" for a in ATTACKS)
