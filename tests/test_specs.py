"""Spec objects are built from their own config section, with defaults in one place.

The dataclass defaults of advinterp.specs are the defaults; config/config.yaml (the user-facing
defaults) and any ``default:`` of workflow/schemas/config.schema.yaml must equal them.
"""

import copy
from dataclasses import fields

import pytest
import yaml

from advinterp.config import check_config, load_registry, preprocess_spec, resolve_datasets
from advinterp.specs import (
    SPECS,
    AdversarialTrainingSpec,
    Architecture,
    EvaluationSpec,
    NetworkSpec,
    PreprocessSpec,
    SimulationSpec,
    TrainSpec,
)

# Fields that are not keys of their config section: from the dataset's entry (label_key, values),
# through another key (k_range), or not configurable (a device batch size).
NOT_IN_SECTION = {
    "NetworkSpec": {"k_min", "k_max"},
    "PreprocessSpec": {"label_key", "values"},
    "TrainSpec": {"eval_batch_size", "weight_decay"},
    "Architecture": {"batch_norm"},
}
# Keys of a section that are not fields of its spec: a nested spec's section, or a field under another name.
NOT_A_FIELD = {"NetworkSpec": {"k_range"}, "EvaluationSpec": {"sanity"}}


@pytest.fixture(scope="module")
def default(repo):
    return yaml.safe_load((repo / "config/config.yaml").read_text())


@pytest.fixture(scope="module")
def schema(repo):
    return yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())


def section(tree: dict, path: tuple[str, ...], schema: bool = False) -> dict:
    for key in path:
        tree = tree["properties"][key] if schema else tree[key]
    return tree


def differences(a, b) -> dict:
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
            if getattr(a, f.name) != getattr(b, f.name)}


def test_every_spec_names_its_section():
    assert {cls.__name__ for cls in SPECS} == {"NetworkSpec", "SimulationSpec", "PreprocessSpec", "Architecture",
                                               "TabNetSpec", "TrainSpec", "AttackSpec", "EvaluationSpec", "SanitySpec",
                                               "AdversarialTrainingSpec", "NoiseTrainingSpec", "RegularisationSpec"}
    for cls in SPECS:
        assert cls.SECTION and hasattr(cls, "from_config"), cls.__name__


@pytest.mark.parametrize("cls", SPECS, ids=lambda c: c.__name__)
def test_default_config_equals_the_spec_defaults(default, cls):
    built = cls.from_config(section(default, cls.SECTION))
    assert built == cls(), (f"config/config.yaml {'.'.join(cls.SECTION)} and {cls.__name__}'s defaults differ "
                            f"(config, dataclass): {differences(built, cls())}")


@pytest.mark.parametrize("cls", SPECS, ids=lambda c: c.__name__)
def test_default_config_sets_every_field(default, cls):
    keys = set(section(default, cls.SECTION))
    names = {f.name for f in fields(cls)}
    missing = names - keys - NOT_IN_SECTION.get(cls.__name__, set())
    assert not missing, f"config/config.yaml {'.'.join(cls.SECTION)} lacks {sorted(missing)}"
    assert keys - names <= NOT_A_FIELD.get(cls.__name__, set())


@pytest.mark.parametrize("cls", SPECS, ids=lambda c: c.__name__)
def test_schema_defaults_equal_the_spec_defaults(schema, cls):
    properties = section(schema, cls.SECTION, schema=True)["properties"]
    for key, prop in properties.items():
        if "default" in prop:
            built = cls.from_config({key: prop["default"]})
            assert built == cls(), (f"schema default of {'.'.join(cls.SECTION)}.{key} differs from "
                                    f"{cls.__name__}'s: {differences(built, cls())}")


def test_the_schema_sections_are_the_config_sections(default, schema):
    for cls in SPECS:
        assert set(section(schema, cls.SECTION, schema=True)["properties"]) == set(section(default, cls.SECTION))


def test_from_config_converts_yaml_values():
    net = NetworkSpec.from_config({"k_range": [2, 4], "n_genes": 50})
    assert (net.k_min, net.k_max, net.n_genes) == (2.0, 4.0, 50) and isinstance(net.k_min, float)
    sim = SimulationSpec.from_config({"mr_low_range": [1, 2]})
    assert sim.mr_low_range == (1.0, 2.0) and sim.mr_high_range == SimulationSpec().mr_high_range
    arch = Architecture.from_config({"hidden": [8, 4], "dropout": [0, 0.5]})
    assert arch == Architecture(hidden=(8, 4), dropout=(0.0, 0.5))
    assert EvaluationSpec.from_config({"attacks": ["square"], "sanity": {"tolerance": 0.1}}).attacks == ("square",)
    assert PreprocessSpec.from_config({"target_sum": 10000}).target_sum == 1e4
    assert PreprocessSpec.from_config({"target_sum": None}).target_sum is None
    assert TrainSpec.from_config({"learning_rate": "1e-3"}).learning_rate == 1e-3  # YAML reads 1e-3 as text


def test_from_config_names_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match=r"unknown training keys \['epoch'\]"):
        TrainSpec.from_config({"epoch": 3})
    with pytest.raises(ValueError, match=r"unknown sergio.network keys \['genes'\]"):
        NetworkSpec.from_config({"genes": 3})
    with pytest.raises(ValueError, match="adversarial_training.mode='madry'"):
        AdversarialTrainingSpec.from_config({"mode": "madry"})


def test_preprocess_spec_takes_the_dataset_overrides_and_entry(default, repo):
    spec = preprocess_spec(default, {"label_key": "celltype", "values": "normalized",
                                     "preprocess": {"zero_cells": "error", "n_hvg": 100}})
    assert (spec.label_key, spec.values, spec.zero_cells, spec.n_hvg) == ("celltype", "normalized", "error", 100)
    assert spec.min_counts == default["preprocess"]["min_counts"]
    assert preprocess_spec(default, {"label_key": "celltype"}).zero_cells == "drop"
    # a config without the optional key takes the dataclass default
    bare = copy.deepcopy(default)
    del bare["preprocess"]["zero_cells"]
    assert preprocess_spec(bare, {"label_key": "celltype"}).zero_cells == PreprocessSpec().zero_cells
    with pytest.raises(ValueError, match=r"unknown preprocess keys \['label_key'\] in a dataset's preprocess"):
        preprocess_spec(default, {"label_key": "x", "preprocess": {"label_key": "y"}})
    registry = load_registry(repo / "workflow/resources/datasets.yaml")
    bad = copy.deepcopy(default)
    bad["preprocess"]["zero_cells"] = "keep"
    with pytest.raises(ValueError, match=r"dataset 'sergio': preprocess.zero_cells='keep'"):
        check_config(bad, resolve_datasets(bad, registry))
