import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from advinterp.config import check_config, describe_validation_error

SCHEMA = "workflow/schemas/config.schema.yaml"


@pytest.fixture
def default(repo):
    return yaml.safe_load((repo / "config/config.yaml").read_text())


def validation_message(repo, config):
    with pytest.raises(WorkflowError) as info:
        validate(copy.deepcopy(config), str(repo / SCHEMA))
    return describe_validation_error(info.value)


@pytest.mark.parametrize("name", ["config/config.yaml", "config/paper.yaml", "tests/data/tiny.yaml"])
def test_shipped_configs_are_valid(repo, name, default):
    # --configfile layers a file over config/config.yaml, as snakemake does here
    config = copy.deepcopy(default)
    update_config(config, yaml.safe_load((repo / name).read_text()))
    validate(config, str(repo / SCHEMA))
    check_config(config)


def test_unknown_key_is_named(repo, default):
    default["preprocess"]["n_hvgs"] = 100
    assert validation_message(repo, default).startswith("unknown config key 'preprocess.n_hvgs'")
    default["preprocess"].pop("n_hvgs")
    default["sed"] = 1
    assert "unknown config key 'sed'" in validation_message(repo, default)


def test_wrong_type_is_named(repo, default):
    default["sergio"]["network"]["n_genes"] = "many"
    msg = validation_message(repo, default)
    assert msg == "config key 'sergio.network.n_genes': 'many' is not of type 'integer'"


def test_cross_key_checks(default):
    default["model"]["dropout"] = [0.1]
    with pytest.raises(ValueError, match="model.dropout"):
        check_config(default)


def test_schema_lists_the_registered_methods(repo):
    from advinterp.specs import EXPLAIN_METHODS

    schema = yaml.safe_load((repo / SCHEMA).read_text())
    methods = schema["properties"]["interpretability"]["properties"]["methods"]["items"]["enum"]
    assert methods == list(EXPLAIN_METHODS)
    assert set(schema["properties"]["interpretability"]["properties"]["params"]["properties"]) == set(EXPLAIN_METHODS)
