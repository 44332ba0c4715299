import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from advinterp.config import check_config, describe_validation_error, load_registry, resolve_datasets

SCHEMA = "workflow/schemas/config.schema.yaml"


@pytest.fixture
def default(repo):
    return yaml.safe_load((repo / "config/config.yaml").read_text())


def validation_message(repo, config):
    with pytest.raises(WorkflowError) as info:
        validate(copy.deepcopy(config), str(repo / SCHEMA))
    return describe_validation_error(info.value)


@pytest.mark.parametrize("name", ["config/config.yaml", "config/paper.yaml", "config/small_epsilon.yaml",
                                  "config/tabnet.yaml", ".test/config/config.yaml"])
def test_shipped_configs_are_valid(repo, name, default):
    # --configfile layers a file over config/config.yaml, as snakemake does here
    config = copy.deepcopy(default)
    update_config(config, yaml.safe_load((repo / name).read_text()))
    validate(config, str(repo / SCHEMA))
    check_config(config, resolve_datasets(config, load_registry(repo / "workflow/resources/datasets.yaml")))


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
        check_config(default, {})


def test_bad_model_kind_is_named(repo, default):
    default["model"]["kind"] = "xgboost"
    assert validation_message(repo, default).startswith("config key 'model.kind': 'xgboost' is not one of")
    with pytest.raises(ValueError, match=r"model.kind='xgboost'; use one of \['mlp', 'tabnet'\]"):
        check_config(default, {})  # the library's own check, for configs built without the schema


def test_model_kinds_and_their_explainers(default):
    interp = default["interpretability"]
    with pytest.raises(ValueError, match="interpretability.methods .*'tabnet_mask' explains TabNet models"):
        check_config({**default, "interpretability": {**interp, "methods": [*interp["methods"], "tabnet_mask"]}}, {})
    tabnet_regimes = {**interp, "regimes": ["standard", "tabnet_standard"]}
    check_config({**default, "interpretability": tabnet_regimes}, {})
    deep = {**tabnet_regimes, "tabnet_methods": ["saliency", "shap_deep"]}
    with pytest.raises(ValueError, match="interpretability.tabnet_methods .*'shap_deep' cannot explain a TabNet"):
        check_config({**default, "interpretability": deep}, {})
    # tabnet_methods are checked only when a TabNet is trained
    check_config({**default, "interpretability": {**interp, "tabnet_methods": ["shap_deep"]}}, {})
    as_tabnet = {**default, "model": {**default["model"], "kind": "tabnet"}}
    with pytest.raises(ValueError, match=r"interpretability.regimes names \['standard_reg'\], but model.kind is "
                                         "'tabnet' and the regularised"):
        check_config(as_tabnet, {})
    with pytest.raises(ValueError, match=r"names \['tabnet_standard'\], but model.kind is 'tabnet'"):
        check_config({**as_tabnet, "interpretability": {**interp, "regimes": ["standard", "tabnet_standard"]}}, {})
    check_config({**as_tabnet, "interpretability": {**interp, "regimes": ["standard", "adv_pgd", "noise"]}}, {})


def test_regime_model_settings_and_methods(default):
    from advinterp.config import checked_methods, explained_methods, model_kind, model_params, voting_methods
    from advinterp.specs import Architecture

    assert model_params(default, "adv_pgd") == {"dropout": default["model"]["dropout"],
                                                "hidden": default["model"]["hidden"]}  # as before TabNet existed
    tabnet = model_params(default, "tabnet_adv_pgd")
    assert Architecture.from_config(tabnet).kind == "tabnet" and tabnet["tabnet"] == default["model"]["tabnet"]
    assert model_kind(default, "standard") == "mlp" and model_kind(default, "tabnet_noise") == "tabnet"
    assert voting_methods(default, "tabnet_standard") == default["interpretability"]["tabnet_methods"]
    assert explained_methods(default, "noise") == [*default["interpretability"]["methods"], "smoothgrad"]
    checks = default["explanation_checks"]["methods"]  # saliency, activation_maximization, shap_gradient, shap_deep
    assert checked_methods(default, "standard") == checks
    assert checked_methods(default, "tabnet_standard") == ["saliency", "shap_gradient", "tabnet_mask"]
    as_tabnet = {**default, "model": {**default["model"], "kind": "tabnet"}}
    assert model_kind(as_tabnet, "standard") == "tabnet" and model_params(as_tabnet, "standard")["kind"] == "tabnet"


def test_schema_lists_the_registered_methods(repo):
    from advinterp.specs import EXPLAIN_METHODS, TABNET_UNSUPPORTED

    schema = yaml.safe_load((repo / SCHEMA).read_text())
    interp = schema["properties"]["interpretability"]["properties"]
    assert interp["methods"]["items"]["enum"] == [m for m in EXPLAIN_METHODS if m != "tabnet_mask"]
    # a TabNet's voters: every method that can explain one (some only without L2 normalisation)
    assert set(interp["tabnet_methods"]["items"]["enum"]) == (set(EXPLAIN_METHODS) - set(TABNET_UNSUPPORTED)
                                                              | {"integrated_gradients", "activation_maximization"})
    assert set(schema["properties"]["interpretability"]["properties"]["params"]["properties"]) == set(EXPLAIN_METHODS)


def test_registry_entries_are_valid(repo):
    registry = load_registry(repo / "workflow/resources/datasets.yaml")
    assert {"sergio", "pbmc68k", "hippocampus", "pancreas"} <= set(registry)
    for name, entry in registry.items():
        validate(copy.deepcopy(entry), str(repo / "workflow/schemas/dataset.schema.yaml"))
        # a download has one URL, or three files (format: mtx)
        downloaded = entry["source"] == "url"
        assert downloaded == ("url" in entry or "files" in entry), name
        assert ("files" in entry) == (entry.get("format") == "mtx"), name


def test_mtx_dataset_needs_its_files(repo):
    entry = {"source": "url", "format": "mtx", "label_key": "celltype", "organism": "mmusculus", "values": "counts"}
    with pytest.raises(WorkflowError):
        validate(copy.deepcopy(entry), str(repo / "workflow/schemas/dataset.schema.yaml"))
    entry["files"] = {"matrix": "https://x/m.mtx.gz", "obs": "https://x/o.csv", "var": "https://x/v.csv"}
    validate(copy.deepcopy(entry), str(repo / "workflow/schemas/dataset.schema.yaml"))


def test_dataset_names_and_custom_paths_are_checked(repo, default, tmp_path):
    registry = load_registry(repo / "workflow/resources/datasets.yaml")
    default["datasets"] = ["sergio", "pbmc86k"]
    with pytest.raises(ValueError, match="unknown dataset 'pbmc86k'.*custom_datasets"):
        resolve_datasets(default, registry)
    default["datasets"] = ["mine"]
    default["custom_datasets"] = {"mine": {"path": str(tmp_path / "absent.h5ad"), "label_key": "ct",
                                           "organism": "hsapiens", "values": "counts"}}
    with pytest.raises(ValueError, match=r"custom_datasets.mine.path: file .*absent.h5ad.* does not exist"):
        resolve_datasets(default, registry)
    default["custom_datasets"] = {"pbmc68k": {"path": "x.h5ad", "label_key": "ct", "organism": "hsapiens",
                                              "values": "counts"}}
    with pytest.raises(ValueError, match="reuse registry names"):
        resolve_datasets(default, registry)


def test_dataset_overrides_are_checked(repo, default):
    entry = {"label_key": "ct", "organism": "hsapiens", "values": "log_normalized", "preprocess": {"n_hvgs": 10}}
    with pytest.raises(ValueError, match=r"dataset 'mine': unknown preprocess keys \['n_hvgs'\]"):
        check_config(default, {"mine": entry})
    entry["preprocess"] = {"hvg_flavor": "seurat_v3"}
    with pytest.raises(ValueError, match="seurat_v3"):
        check_config(default, {"mine": entry})
    entry["preprocess"] = {}
    entry["enrichment"] = {"backend": "gmt"}
    with pytest.raises(ValueError, match="no gmt file"):
        check_config(default, {"mine": entry})


def test_device_batch_keys_leave_rule_params_and_come_back():
    from advinterp.config import with_device_batches, without_device_batches

    interp = {"top_n": 20, "params": {"lime": {"num_samples": 5000, "batch_size": 8192, "chunk_elements": 10},
                                      "shap_kernel": {"nsamples": "auto", "batch_size": 64}, "saliency": {}}}
    stripped = without_device_batches(interp)
    assert stripped == {"top_n": 20, "params": {"lime": {"num_samples": 5000}, "shap_kernel": {"nsamples": "auto"},
                                                "saliency": {}}}
    assert with_device_batches(stripped, interp) == interp
    assert interp["params"]["lime"]["batch_size"] == 8192  # the config itself is not modified


def test_evaluation_and_explanation_check_keys(repo, default):
    bad = copy.deepcopy(default)
    bad["evaluation"]["attacks"] = ["apgd_ce", "fab"]
    assert validation_message(repo, bad).startswith("config key 'evaluation.attacks")
    bad = copy.deepcopy(default)
    bad["attacks"]["pgd_loss"] = "hinge"
    assert "attacks.pgd_loss" in validation_message(repo, bad)
    registry = load_registry(repo / "workflow/resources/datasets.yaml")
    # like imbalance.datasets, explanation_checks.datasets may name datasets that are not selected
    subset = copy.deepcopy(default)
    subset["datasets"] = ["sergio"]
    check_config(subset, resolve_datasets(subset, registry))
    bad = copy.deepcopy(default)
    bad["interpretability"]["regimes"] = ["standard", "adv_apgd"]
    with pytest.raises(ValueError, match=r"interpretability.regimes names \['adv_apgd'\], whose attack"):
        check_config(bad, resolve_datasets(bad, registry))
    bad["interpretability"]["regimes"] = ["standard", "noise_reg", "adv_apgd_reg"]  # the regularised ones too
    with pytest.raises(ValueError, match=r"interpretability.regimes names \['adv_apgd_reg'\], whose attack"):
        check_config(bad, resolve_datasets(bad, registry))
    bad = copy.deepcopy(default)
    bad["interpretability"]["extra_methods"] = ["smoothgrad", "lime"]
    with pytest.raises(ValueError, match=r"extra_methods names \['lime'\], which interpretability.methods lists"):
        check_config(bad, resolve_datasets(bad, registry))
    bad = copy.deepcopy(default)
    bad["interpretability"]["regimes"] = ["standard", "noise_regularised"]
    assert "interpretability.regimes" in validation_message(repo, bad)
    bad = copy.deepcopy(default)
    bad["regularisation"]["dropout"] = 1.5
    assert "regularisation.dropout" in validation_message(repo, bad)


def test_schema_lists_the_evaluation_attacks(repo):
    from advinterp.specs import EvaluationSpec

    schema = yaml.safe_load((repo / SCHEMA).read_text())
    assert schema["properties"]["evaluation"]["properties"]["attacks"]["items"]["enum"] == list(EvaluationSpec.ATTACKS)
    methods = schema["properties"]["explanation_checks"]["properties"]["methods"]["items"]["enum"]
    assert methods == schema["properties"]["interpretability"]["properties"]["methods"]["items"]["enum"]
