"""Turn the (schema-validated) workflow config into the library's parameter objects.

Keeping this translation in one place means a script never picks keys out of the
config itself, and tests can build the same objects from a plain dict.
"""

from __future__ import annotations

from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    NetworkSpec,
    PreprocessSpec,
    SimulationSpec,
    TrainSpec,
)

# Datasets the workflow knows how to make, with the obs column holding their labels.
LABEL_KEYS = {"sergio": "cell_type"}


def network_spec(config: dict) -> NetworkSpec:
    net = dict(config["sergio"]["network"])
    k_min, k_max = net.pop("k_range")
    return NetworkSpec(k_min=float(k_min), k_max=float(k_max), **net)


def simulation_spec(config: dict) -> SimulationSpec:
    sim = dict(config["sergio"]["simulation"])
    sim["mr_low_range"] = tuple(float(v) for v in sim["mr_low_range"])
    sim["mr_high_range"] = tuple(float(v) for v in sim["mr_high_range"])
    return SimulationSpec(**sim)


def preprocess_spec(config: dict, dataset: str) -> PreprocessSpec:
    pre = dict(config["preprocess"])
    if pre.get("target_sum") is not None:
        pre["target_sum"] = float(pre["target_sum"])
    return PreprocessSpec(label_key=LABEL_KEYS[dataset], **pre)


def architecture(config: dict) -> Architecture:
    model = config["model"]
    return Architecture(hidden=tuple(int(h) for h in model["hidden"]),
                        dropout=tuple(float(p) for p in model["dropout"]))


def train_spec(config: dict) -> TrainSpec:
    return TrainSpec(**config["training"])


def attack_spec(config: dict) -> AttackSpec:
    return AttackSpec(**config["attacks"])


def adversarial_training_spec(config: dict) -> AdversarialTrainingSpec:
    return AdversarialTrainingSpec(**config["adversarial_training"])


def sweep_seeds(config: dict) -> list[int]:
    """Seeds of the models behind every sweep point: seed, seed + 1, ..."""
    return [config["seed"] + k for k in range(config["robustness"]["seeds"])]


def canonical(value):
    """``value`` with every mapping's keys sorted, recursively.

    Rule params are compared as text between runs; a config merged from several files
    (``--configfile``) can list the same keys in another order, which would trigger
    spurious reruns. Sorting makes the params depend on the values only.
    """
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def describe_validation_error(err: BaseException) -> str:
    """One line naming the offending config key, from snakemake's validation error.

    ``snakemake.utils.validate`` wraps a ``jsonschema.ValidationError`` whose message is
    followed by a dump of the schema; users need the key path and what is wrong.
    """
    import jsonschema

    candidates = (err, err.__cause__, err.__context__, *getattr(err, "args", ()))
    found = [a for a in candidates if isinstance(a, jsonschema.ValidationError)]
    if not found:
        return str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    v = found[0]
    path = ".".join(str(p) for p in v.absolute_path)
    if v.validator == "additionalProperties":
        allowed = sorted(v.schema.get("properties", {}))
        extra = sorted(set(v.instance) - set(allowed))
        keys = ", ".join(repr(f"{path}.{k}" if path else k) for k in extra)
        return f"unknown config key {keys}; allowed here: {allowed}"
    if v.validator == "required":
        return f"{v.message} (in config key {path!r})" if path else v.message
    return f"config key {path!r}: {v.message}"


def check_config(config: dict) -> None:
    """Cross-key checks the JSON schema cannot express; raises ValueError naming the keys.

    Called when the workflow is parsed, so a bad combination fails before any job runs.
    """
    if "sergio" in config["datasets"]:
        network_spec(config).check()
        simulation_spec(config)
    architecture(config)
    for ds in config["datasets"]:
        preprocess_spec(config, ds)
    train_spec(config)
    attack_spec(config)
    adversarial_training_spec(config)
    lo, hi = config["imbalance"]["drop_fraction"]
    if not 0 <= lo <= hi < 1:
        raise ValueError(f"imbalance.drop_fraction=[{lo}, {hi}] must satisfy 0 <= min <= max < 1")


def explain_params(config: dict) -> dict:
    """Per-method parameters of the explainers (``interpretability.params``)."""
    return {name: dict(p) for name, p in config["interpretability"]["params"].items()}
