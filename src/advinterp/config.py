"""The workflow config: datasets, checks across keys, and what rules pass as params.

Each parameter object is built from its own section by the spec itself
(``TrainSpec.from_config(config["training"])``, :mod:`advinterp.specs`); this module adds what
needs more than one section: a dataset's preprocessing (the ``preprocess`` section with the
dataset's overrides), the cross-key checks run when the workflow is parsed, and the params that
leave device batch sizes out.
"""

from __future__ import annotations

import os

from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    EvaluationSpec,
    NetworkSpec,
    NoiseTrainingSpec,
    PreprocessSpec,
    RegularisationSpec,
    SanitySpec,
    SimulationSpec,
    TrainSpec,
    check_methods,
    parse_regime,
    regime_architecture,
    regime_attack,
    tabnet_unsupported,
)

# sources of simulated datasets: known key genes, synthetic gene names (no real-data arm)
SIMULATED_SOURCES = ("simulated", "sergio_network")


def load_registry(path: str) -> dict[str, dict]:
    """The dataset registry (workflow/resources/datasets.yaml): name → entry (see
    workflow/schemas/dataset.schema.yaml)."""
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def resolve_datasets(config: dict, registry: dict[str, dict]) -> dict[str, dict]:
    """Entries of the config's ``datasets``: registry entries, or ``custom_datasets`` (``source: path``);
    then the registry entries the annotator arms run on (``allen_mlp.datasets``, the references and
    queries of ``singlecellnet.runs``), loaded by the same rules but not analysed by the main arms
    unless also in ``datasets``.

    Errors name the offending dataset and say what to do: an unknown name lists the known
    ones; a custom name may not shadow a registry one; a custom ``path`` must exist.
    """
    custom = config.get("custom_datasets") or {}
    clash = sorted(set(custom) & set(registry))
    if clash:
        raise ValueError(f"custom_datasets {clash} reuse registry names (workflow/resources/datasets.yaml); "
                         f"rename them")
    out = {}
    allen = list(config.get("allen_mlp", {}).get("datasets", []))
    for name in allen:
        fmt = registry.get(name, {}).get("format")
        if fmt != "allen_zip":
            raise ValueError(f"allen_mlp.datasets names {name!r}, which is not an Allen zip dataset of the registry "
                             f"(format: allen_zip; e.g. allen_mtg)")
    scn = [name for run in config.get("singlecellnet", {}).get("runs", {}).values()
           for name in (run["reference"], run["query"])]
    unknown = sorted(set(scn) - set(registry) - set(custom))
    if unknown:
        raise ValueError(f"singlecellnet.runs names unknown datasets {unknown}; known: {sorted(registry)}")
    for name in dict.fromkeys([*config["datasets"], *allen, *scn]):
        if name in custom:
            entry = {"source": "path", **custom[name]}
            if entry["source"] != "path":
                raise ValueError(f"custom_datasets.{name}.source must be 'path' (a local .h5ad)")
            if "path" not in entry:
                raise ValueError(f"custom_datasets.{name}: 'path' is required (a local .h5ad file)")
            if not os.path.isfile(entry["path"]):
                raise ValueError(f"custom_datasets.{name}.path: file {entry['path']!r} does not exist "
                                 f"(relative paths start at the working directory {os.getcwd()})")
        elif name in registry:
            entry = dict(registry[name])
        else:
            raise ValueError(f"unknown dataset {name!r} in datasets; known: {sorted(registry)}; "
                             f"your own data go under custom_datasets")
        out[name] = entry
    return out


def preprocess_spec(config: dict, entry: dict) -> PreprocessSpec:
    """The preprocessing of one dataset: config ``preprocess`` with the entry's overrides,
    its label key and the kind of its values."""
    overrides = entry.get("preprocess") or {}
    # label_key and values are the entry's own keys, not preprocess overrides
    unknown = sorted(set(overrides) - (set(PreprocessSpec.__dataclass_fields__) - {"label_key", "values"}))
    if unknown:
        raise ValueError(f"unknown preprocess keys {unknown} in a dataset's preprocess overrides")
    return PreprocessSpec.from_config({**config["preprocess"], **overrides, "label_key": entry["label_key"],
                                       "values": entry.get("values", "counts")})


def enrichment_params(config: dict, entry: dict) -> dict:
    """``biology.enrichment`` with the dataset's overrides; backend gmt needs a gmt file."""
    params = {**config["biology"]["enrichment"], **(entry.get("enrichment") or {})}
    unknown = sorted(set(params) - set(config["biology"]["enrichment"]))
    if unknown:
        raise ValueError(f"unknown enrichment keys {unknown} in a dataset's enrichment overrides")
    if params["backend"] == "gmt" and not params.get("gmt"):
        raise ValueError("biology.enrichment.backend is 'gmt' but no gmt file is set (biology.enrichment.gmt)")
    return params


def evaluation_params(config: dict, sanity: bool = False) -> dict:
    """``evaluation`` as rule params: without ``batch_size`` (device memory only; changing it must
    not rerun jobs) and, unless ``sanity``, without the sanity thresholds (only robustness_sanity
    reads them)."""
    return {k: v for k, v in config["evaluation"].items() if k != "batch_size" and (sanity or k != "sanity")}


def with_evaluation_batch(evaluation: dict, full: dict) -> dict:
    """The ``evaluation`` section from rule params, with the config's device batch size put back."""
    return {**evaluation, "batch_size": full["evaluation"]["batch_size"]}


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


def check_config(config: dict, datasets: dict[str, dict]) -> None:
    """Cross-key checks the JSON schema cannot express; raises ValueError naming the keys.

    ``datasets`` are the resolved entries (:func:`resolve_datasets`). Called when the workflow
    is parsed, so a bad combination fails before any job runs.
    """
    if any(entry.get("source") in SIMULATED_SOURCES for entry in datasets.values()):
        SimulationSpec.from_config(config["sergio"]["simulation"])
    if "sergio" in config["datasets"]:
        NetworkSpec.from_config(config["sergio"]["network"]).check()
    arch = Architecture.from_config(config["model"])
    arm_only = {*config.get("allen_mlp", {}).get("datasets", []),
                *(name for run in config.get("singlecellnet", {}).get("runs", {}).values()
                  for name in (run["reference"], run["query"]))} - set(config["datasets"])
    for name, entry in datasets.items():
        if name in arm_only:  # only loaded, for the annotator arms (Fig. 5)
            continue
        try:
            preprocess_spec(config, entry).check()
            if entry.get("source") not in SIMULATED_SOURCES:  # synthetic genes: no enrichment
                enrichment_params(config, entry)
        except ValueError as err:
            raise ValueError(f"dataset {name!r}: {err}") from None

    TrainSpec.from_config(config["training"])
    AttackSpec.from_config(config["attacks"])
    EvaluationSpec.from_config(config["evaluation"])
    SanitySpec.from_config(config["evaluation"]["sanity"])
    AdversarialTrainingSpec.from_config(config["adversarial_training"])
    regimes = {"interpretability.regimes": config["interpretability"]["regimes"],
               "explanation_checks.label_randomisation": config["explanation_checks"]["label_randomisation"],
               "biology.regime": [config["biology"]["regime"]]}
    for key, names in regimes.items():
        attacks = config["robustness"]["attacks"]
        missing = [r for r in names if regime_attack(r) not in (None, *attacks)]
        if missing:
            raise ValueError(f"{key} names {missing}, whose attack is not in robustness.attacks "
                             f"{config['robustness']['attacks']}: add it there or remove the regime")
    NoiseTrainingSpec.from_config(config["noise_training"])
    RegularisationSpec.from_config(config["regularisation"])
    interp = config["interpretability"]
    for key in ("methods", "tabnet_methods"):
        both = sorted(set(interp[key]) & set(interp["extra_methods"]))
        if both:
            raise ValueError(f"interpretability.extra_methods names {both}, which interpretability.{key} lists too: "
                             f"a method either votes in the consensus ({key}) or not (extra_methods)")
    check_model_kinds(config, arch)
    lo, hi = config["imbalance"]["drop_fraction"]
    if not 0 <= lo <= hi < 1:
        raise ValueError(f"imbalance.drop_fraction=[{lo}, {hi}] must satisfy 0 <= min <= max < 1")


def model_kind(config: dict, regime: str) -> str:
    """The classifier a regime trains: ``tabnet`` for the ``tabnet_*`` regimes, else ``model.kind``."""
    return regime_architecture(regime) or config["model"].get("kind", "mlp")


def model_params(config: dict, regime: str) -> dict:
    """The ``model`` settings a regime's training needs (rule params): an MLP's ``hidden`` and ``dropout``
    only, so that adding TabNet's keys to a config does not rerun MLP training; a TabNet's ``kind`` and
    ``tabnet``. :meth:`advinterp.specs.Architecture.from_config` reads either."""
    model = config["model"]
    if model_kind(config, regime) == "mlp":
        return {"dropout": model["dropout"], "hidden": model["hidden"]}  # sorted, as canonical() sorts keys
    return {"kind": "tabnet", "tabnet": model.get("tabnet", {})}


def voting_methods(config: dict, regime: str) -> list[str]:
    """The explainers whose top genes vote in ``regime``'s consensus: ``interpretability.methods`` for an
    MLP, ``interpretability.tabnet_methods`` for a TabNet (:func:`model_kind`)."""
    interp = config["interpretability"]
    return list(interp["tabnet_methods"] if model_kind(config, regime) == "tabnet" else interp["methods"])


def explained_methods(config: dict, regime: str) -> list[str]:
    """Every explainer run on ``regime``'s models: its voters, then ``interpretability.extra_methods``."""
    return [*voting_methods(config, regime), *config["interpretability"]["extra_methods"]]


def checked_methods(config: dict, regime: str) -> list[str]:
    """The explainers ``explanation_checks`` checks on ``regime``'s model: ``explanation_checks.methods``; for
    a TabNet, those of them that can explain it (:func:`advinterp.specs.tabnet_unsupported`) and
    ``tabnet_mask`` if ``interpretability.tabnet_methods`` has it."""
    methods = list(config["explanation_checks"]["methods"])
    if model_kind(config, regime) != "tabnet":
        return methods
    unsupported = tabnet_unsupported(Architecture.from_config(config["model"]).tabnet)
    methods = [m for m in methods if m not in unsupported]
    return methods + ["tabnet_mask"] * ("tabnet_mask" in config["interpretability"]["tabnet_methods"])


def check_model_kinds(config: dict, arch: Architecture) -> None:
    """The regimes and explainers of each classifier in use (``model.kind`` for the unprefixed regimes,
    TabNet for ``tabnet_*``) fit together; raises ValueError naming the keys."""
    interp = config["interpretability"]
    listed = {"interpretability.regimes": interp["regimes"],
              "explanation_checks.label_randomisation": config["explanation_checks"]["label_randomisation"]}
    if arch.kind == "tabnet":
        for key, names in listed.items():
            regularised = [r for r in names if parse_regime(r)[1]]
            if regularised:
                raise ValueError(f"{key} names {regularised}, but model.kind is 'tabnet' and the regularised "
                                 "(*_reg) regimes regularise the MLP: remove them")
            prefixed = [r for r in names if regime_architecture(r) is not None]
            if prefixed:
                raise ValueError(f"{key} names {prefixed}, but model.kind is 'tabnet', so the unprefixed regimes "
                                 "already train TabNet: list them without the tabnet_ prefix")
    kinds = {arch.kind} | {"tabnet" for r in interp["regimes"] if regime_architecture(r) is not None}
    for kind in sorted(kinds):
        voters = "tabnet_methods" if kind == "tabnet" else "methods"
        try:
            check_methods(kind, interp[voters], arch.tabnet)
            check_methods(kind, interp["extra_methods"], arch.tabnet)
        except ValueError as err:
            raise ValueError(f"interpretability.{voters} / extra_methods ({kind} models): {err}") from None
    if "tabnet_mask" in interp["extra_methods"]:
        raise ValueError("interpretability.extra_methods names 'tabnet_mask', which explains TabNet models only: "
                         "list it in interpretability.tabnet_methods")


def explain_params(config: dict) -> dict:
    """Per-method parameters of the explainers (``interpretability.params``)."""
    return {name: dict(p) for name, p in config["interpretability"]["params"].items()}


# explainer parameters that only size device batches: results do not depend on them (tested), so
# they are kept out of rule params, whose changes would rerun every explain job
DEVICE_BATCH_KEYS = ("batch_size", "chunk_elements")


def without_device_batches(interpretability: dict) -> dict:
    """The ``interpretability`` config without the device-batch keys of its method params."""
    params = {name: {k: v for k, v in p.items() if k not in DEVICE_BATCH_KEYS}
              for name, p in interpretability["params"].items()}
    return {**interpretability, "params": params}


def with_device_batches(interpretability: dict, full: dict) -> dict:
    """``interpretability`` (rule params) with the device-batch keys of ``full`` (the config) put back."""
    params = {name: {**p, **{k: v for k, v in full["params"].get(name, {}).items() if k in DEVICE_BATCH_KEYS}}
              for name, p in interpretability["params"].items()}
    return {**interpretability, "params": params}
