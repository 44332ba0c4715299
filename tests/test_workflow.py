"""The whole default DAG on a tiny config, through Snakemake's command line, twice."""

import json
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from PIL import Image
from workflow_runs import MARKERS, deploy, snakemake

from advinterp.model import load_model, predict, split_data

pytestmark = pytest.mark.workflow

METRIC_KEYS = {"accuracy", "macro_f1", "per_class_f1", "n_train", "n_test", "device", "seconds"}


def test_simulated_dataset(runs):
    res = runs[0] / "results/sergio/data"
    raw = ad.read_h5ad(res / "raw.h5ad")
    assert raw.shape == (180, 100)
    assert np.issubdtype(raw.X.dtype, np.integer) and raw.X.min() >= 0
    assert raw.obs["cell_type"].value_counts().tolist() == [60, 60, 60]
    assert int(raw.var["is_key_gene"].sum()) == 10
    assert set(raw.var["layer"]) == {0, 1, 2, 3}
    net = pd.read_csv(res / "network.tsv", sep="\t")
    assert list(net.columns) == ["regulator", "target", "K", "n"] and len(net) == 220
    assert set(net["regulator"]) - set(net["target"]) == set(raw.var_names[raw.var["is_key_gene"]])
    key = pd.read_csv(res / "key_genes.tsv", sep="\t")
    assert list(key.columns) == ["cell_type", "gene", "mr_level"]
    assert len(key) == 10 and set(key["gene"]) == set(raw.var_names[raw.var["is_key_gene"]])
    assert raw.varm["class_key_gene"].to_numpy().sum() == 10


def test_preprocessed_and_model(runs):
    res = runs[0] / "results/sergio"
    pre = ad.read_h5ad(res / "data/preprocessed.h5ad")
    assert pre.n_vars == 50 and pre.X.dtype == np.float32 and sp.issparse(pre.X)  # the store (advinterp.store)
    assert (pre.obs["split"] == "test").sum() == 36
    assert not pre.layers and pre.var["highly_variable"].all() and pre.uns["preprocess"]["x"] == "log_normalized"
    # the tiny config's caps are above its size: every cell is in the samples, as they were before the caps
    assert pre.obs["sample_embedding"].all() and pre.obs["sample_evaluation"].equals(pre.obs["split"] == "test")

    history = pd.read_csv(res / "models/standard.history.tsv", sep="\t")
    assert list(history.columns) == ["epoch", "loss", "train_accuracy", "test_accuracy"]
    assert history["epoch"].tolist() == list(range(1, 31))

    metrics = json.loads((res / "metrics/standard.json").read_text())
    assert set(metrics) == METRIC_KEYS
    assert metrics["n_train"] == 144 and metrics["n_test"] == 36 and metrics["device"] == "cpu"
    assert metrics["accuracy"] >= 0.8
    assert set(metrics["per_class_f1"]) == {"type_0", "type_1", "type_2"}

    # the saved model reproduces the reported accuracy on the stored test split
    model, payload = load_model(res / "models/standard.pt")
    assert payload["gene_names"] == list(pre.var_names)
    assert payload["class_names"] == ["type_0", "type_1", "type_2"]
    data = split_data(pre)
    assert (predict(model, data.x_test, "cpu") == data.y_test).mean() == pytest.approx(metrics["accuracy"])
    assert history["test_accuracy"].iloc[-1] == pytest.approx(metrics["accuracy"])


def test_figures_logs_benchmarks(runs):
    res = runs[0] / "results"
    for name in ["umap", "standard.confusion", "standard.training_curve"]:
        with Image.open(res / f"sergio/figures/{name}.png") as img:
            assert img.size[0] > 300 and img.size[1] > 300
            assert len(img.getcolors(maxcolors=1 << 20) or []) > 10  # not blank
        assert (res / f"sergio/figures/{name}.pdf").read_bytes().startswith(b"%PDF")
    for rule in ["sergio_network", "sergio_simulate", "preprocess", "train_standard", "plot_umap",
                 "plot_standard_model"]:
        assert (res / f"benchmarks/sergio/{rule}.tsv").exists()
        assert (res / f"logs/sergio/{rule}.log").exists()
    assert "test acc" in (res / "logs/sergio/train_standard.log").read_text()


def test_robustness_outputs(runs):
    res = runs[0] / "results/sergio"
    sweep = pd.read_csv(res / "robustness/sweep.tsv", sep="\t")
    assert list(sweep.columns) == ["attack", "epsilon", "model", "evaluation", "seed", "accuracy", "macro_f1"]
    assert set(sweep["attack"]) == {"fgsm", "pgd"} and set(sweep["seed"]) == {7, 8}
    assert set(sweep["model"]) == {"standard", "adversarial"}
    assert set(sweep["evaluation"]) == {"clean", "whitebox", "transfer", "autoattack"}
    # the robust accuracy is the worst case per cell over the strong evaluation and the row's attack
    wide = sweep.pivot_table(index=["attack", "epsilon", "model", "seed"], columns="evaluation", values="accuracy")
    assert (wide["autoattack"] <= wide["whitebox"] + 1e-9).all()
    std = sweep[sweep["model"] == "standard"]
    assert sorted(std["epsilon"].unique()) == [0.0, 0.25, 1.0]
    assert set(sweep.loc[sweep["model"] == "adversarial", "epsilon"]) == {1.0}
    assert sweep["accuracy"].between(0, 1).all() and not sweep.duplicated(
        ["attack", "epsilon", "model", "evaluation", "seed"]).any()
    # the sweep's seed-7 standard model is the main one: its clean accuracy is the reported one
    metrics = json.loads((res / "metrics/standard.json").read_text())
    clean7 = std[(std["seed"] == 7) & (std["evaluation"] == "clean")]["accuracy"]
    assert clean7.eq(metrics["accuracy"]).all()

    selected = json.loads((res / "robustness/selected_epsilon.json").read_text())
    assert set(selected) == {"fgsm", "pgd"}
    assert selected["pgd"]["epsilon"] == 0.25 and "config" in selected["pgd"]["rule"]  # explicit override
    assert selected["fgsm"]["epsilon"] in (0.25, 1.0) and selected["fgsm"]["grid"]

    for attack in ("fgsm", "pgd"):
        m = json.loads((res / f"metrics/adv_{attack}.json").read_text())
        assert METRIC_KEYS | {"whitebox_accuracy", "transfer_accuracy", "autoattack_accuracy", "autoattack_broken_by",
                              "standard_autoattack_accuracy", "evaluation_attacks"} <= set(m)
        assert m["autoattack_accuracy"] <= m["whitebox_accuracy"]
        assert m["evaluation_attacks"] == ["apgd_ce", "apgd_dlr", "square"]
        training = json.loads((res / f"models/adv_{attack}.training.json").read_text())
        assert training.items() <= m.items()
        assert m["epsilon"] == selected[attack]["epsilon"] and m["mode"] == "dynamic"
        model, payload = load_model(res / f"models/adv_{attack}.pt")
        assert payload["meta"]["regime"] == f"adv_{attack}"
        assert len(pd.read_csv(res / f"models/adv_{attack}.history.tsv", sep="\t")) == 5

    pres = pd.read_csv(res / "robustness/preservation.tsv", sep="\t")
    assert set(pres["perturbation"]) == {"adversarial", "random"} and len(pres) == 2 * 2 * 3
    imb = pd.read_csv(res / "robustness/imbalance.tsv", sep="\t")
    assert list(imb.columns) == ["class", "n_train", "model", "attack", "epsilon", "evaluation", "accuracy"]
    assert set(imb["model"]) == {"standard", "adv_fgsm", "adv_pgd"} and len(imb) == 3 * 3 * 5
    assert set(imb["evaluation"]) == {"clean", "whitebox", "autoattack"}

    sanity = pd.read_csv(res / "robustness/sanity.tsv", sep="\t")
    assert list(sanity.columns) == ["model", "check", "passed", "detail"]
    # every regime of interpretability.regimes is checked and drawn over epsilon (Koo's noise and adv_fgsm_reg,
    # and the TabNet regimes, too)
    every = {"standard", "adv_fgsm", "adv_pgd", "noise", "adv_fgsm_reg", "tabnet_standard", "tabnet_adv_fgsm"}
    assert set(sanity["model"]) == every and len(sanity) == 7 * 5
    assert sanity["passed"].dtype == bool and sanity["detail"].str.len().gt(10).all()
    curves = pd.read_csv(res / "robustness/autoattack.tsv", sep="\t")
    assert set(curves["model"]) == every
    # the standard model's curve is the strong evaluation alone: never below the sweep's autoattack rows of the
    # config seed, which also fold in the row's own attack
    std_aa = sweep[(sweep["model"] == "standard") & (sweep["evaluation"] == "autoattack") & (sweep["seed"] == 7)
                   & (sweep["attack"] == "fgsm")].set_index("epsilon")["accuracy"]
    curve = curves[curves["model"] == "standard"].set_index("epsilon")["accuracy"]
    assert list(curve.index) == list(std_aa.index) and (curve >= std_aa - 1e-9).all()
    for name in ["sweep_accuracy", "sweep_macro_f1", "preservation", "adversarial_umap", "imbalance"]:
        assert (res / f"figures/{name}.png").stat().st_size > 10_000


def test_interpretability_outputs(runs):
    res = runs[0] / "results/sergio"
    methods = ["saliency", "activation_maximization", "lime", "shap_gradient", "shap_deep", "shap_kernel"]
    tabnet_methods = ["saliency", "lime", "shap_gradient", "shap_kernel", "tabnet_mask"]
    mlp_regimes = ["standard", "adv_fgsm", "adv_pgd", "noise", "adv_fgsm_reg"]
    tabnet_regimes = ["tabnet_standard", "tabnet_adv_fgsm"]  # TabNet beside the MLP (issue #15)
    regimes = mlp_regimes + tabnet_regimes
    voters = {r: tabnet_methods if r.startswith("tabnet_") else methods for r in regimes}
    genes = list(ad.read_h5ad(res / "data/preprocessed.h5ad").var_names)
    for regime in regimes:
        assert {p.stem for p in (res / f"explain/{regime}").glob("*.tsv")} - {"type_relevance"} == {
            *voters[regime], "smoothgrad"}  # each model's own voters; smoothgrad: extra method, scored, not voting
        tables = {m: pd.read_csv(res / f"explain/{regime}/{m}.tsv", sep="\t", index_col=0)
                  for m in [*voters[regime], "smoothgrad"]}
        for m, t in tables.items():
            assert list(t.index) == genes and list(t.columns) == ["type_0", "type_1", "type_2"], m
            assert np.isfinite(t.to_numpy()).all() and (t.to_numpy() >= 0).all()
        if "tabnet_mask" in tables:  # per-cell masks sum to 1: a class's mean importance sums to 1 too
            np.testing.assert_allclose(tables["tabnet_mask"].sum(), 1, rtol=1e-6)
        votes = pd.read_csv(res / f"consensus/{regime}.tsv", sep="\t", index_col=0)
        assert votes.to_numpy().max() <= len(voters[regime]) and votes.to_numpy().max() > 1
        # every voter puts exactly top_n = 5 genes in each class's vote (ties can add more)
        assert (votes.sum() >= 5 * len(voters[regime])).all()
        ranked = pd.read_csv(res / f"consensus/{regime}.ranked.tsv", sep="\t")
        assert list(ranked.columns) == ["class", "rank", "gene", "votes", "mean_rank"]
        first = ranked[ranked["class"] == "type_0"]
        assert first["votes"].is_monotonic_decreasing and first["rank"].tolist() == list(range(1, len(genes) + 1))
        assert (res / f"figures/consensus_{regime}.png").exists()
        model, payload = load_model(res / f"models/{regime}.pt")
        assert payload["architecture"]["kind"] == ("tabnet" if regime.startswith("tabnet_") else "mlp")
        if regime.startswith("tabnet_"):  # DeepSHAP's type relevance is for MLPs only
            assert not (res / f"explain/{regime}/type_relevance.tsv").exists()
            continue
        relevance = pd.read_csv(res / f"explain/{regime}/type_relevance.tsv", sep="\t")
        assert list(relevance.columns) == ["class", "gene", "mean_abs_shap", "scaled", "rank", "n_cells"]
        assert set(relevance["gene"]) <= set(genes) and (relevance.groupby("class").size() == 5).all()  # top_n
        assert relevance.groupby("class")["n_cells"].first().sum() == 2 * 3  # the explained cells, by predicted type
        assert (res / f"figures/type_relevance_{regime}.png").stat().st_size > 10_000
    evaluation = pd.read_csv(res / "explain/evaluation.tsv", sep="\t")
    assert list(evaluation.columns) == ["regime", "method", "metric", "value", "seed"]
    assert set(evaluation["regime"]) == set(regimes)
    assert set(evaluation["method"]) == set(methods) | {"tabnet_mask"}
    # a TabNet is checked with the checks' methods that can explain it, and its own masks
    tabnet_checked = set(evaluation.loc[evaluation["regime"] == "tabnet_standard", "method"])
    assert tabnet_checked == set(methods) - {"shap_deep", "activation_maximization"} | {"tabnet_mask"}
    metrics = set(evaluation["metric"])
    assert {"deletion_auc", "insertion_auc", "max_sensitivity", "randomisation_cascade_3"} <= metrics
    # tiny config: only the standard regime is retrained on shuffled labels
    assert set(evaluation.loc[evaluation["metric"] == "randomisation_labels", "regime"]) == {"standard"}
    checks = pd.read_csv(res / "explain/sanity.tsv", sep="\t")
    assert list(checks.columns) == ["regime", "method", "check", "passed", "detail"]
    # model randomisation per regime (a TabNet: its 5 checked methods), labels for standard
    assert len(checks) == len(methods) * (len(mlp_regimes) + 1) + len(tabnet_checked) * len(tabnet_regimes)
    assert (res / "figures/explain_evaluation.png").stat().st_size > 10_000
    rec = pd.read_csv(res / "keygenes/recovery.tsv", sep="\t")
    assert list(rec.columns) == ["regime", "model", "method", "ground_truth", "class", "seed", "top_n",
                                 "n_key_in_top", "n_key_expected", "auroc", "auprc"]
    assert set(rec["method"]) == set(methods) | {"tabnet_mask", "smoothgrad", "consensus", "random", "t_statistic"}
    assert rec.groupby("regime")["model"].agg(set).to_dict() == {
        **dict.fromkeys(mlp_regimes, {"mlp"}), **dict.fromkeys(tabnet_regimes, {"tabnet"}), "baseline": {"none"}}
    assert set(rec.loc[rec["model"] == "tabnet", "method"]) == {*tabnet_methods, "smoothgrad", "consensus"}
    assert set(rec["regime"]) == {*regimes, "baseline"}
    assert set(rec["ground_truth"]) == {"all_mr", "class_mr"}
    assert set(rec.loc[rec["regime"] != "baseline", "seed"]) == {7, 8}
    models = rec[rec["regime"] != "baseline"]
    # regimes x seeds x (methods + smoothgrad + consensus) x truths x classes
    assert len(models) == sum(len(voters[r]) + 2 for r in regimes) * 2 * 2 * 3
    assert models["n_key_in_top"].between(0, 5).all() and models["auroc"].dropna().between(0, 1).all()
    # AUROC is undefined only where a class has no key gene among the model's genes
    assert (models.loc[models["auroc"].isna(), "n_key_expected"] == 0).all()
    for name in ["keygenes_all_mr", "keygenes_class_mr", "keygenes_auroc", "keygenes_regimes"]:
        assert (res / f"figures/{name}.png").stat().st_size > 10_000
    # Koo's Table 1 for the classifier: the recovery of class_mr per regime and method, with test accuracy
    table = pd.read_csv(res / "keygenes/regimes.tsv", sep="\t")
    assert list(table.columns) == ["regime", "model", "regularised", "method", "accuracy", "auroc_mean", "auroc_sd",
                                   "auprc_mean", "auprc_sd", "n_seeds"]
    assert len(table) == sum(len(voters[r]) + 2 for r in regimes) + 2 and set(table["regime"]) == {*regimes, "baseline"}
    row = table.set_index(["regime", "method"])
    cls = models[models["ground_truth"] == "class_mr"]
    lime_noise = cls[(cls["regime"] == "noise") & (cls["method"] == "lime")]["auroc"]
    assert row.loc[("noise", "lime"), "auroc_mean"] == pytest.approx(lime_noise.mean())
    assert row.loc[("adv_fgsm_reg", "lime"), "regularised"] and not row.loc[("noise", "lime"), "regularised"]
    assert (table.loc[table["regime"] != "baseline", "n_seeds"] == 2).all()
    noise_training = [json.loads((res / "models/noise.training.json").read_text())["accuracy"],
                      json.loads((res / "models/seeds/noise.seed8.json").read_text())["accuracy"]]
    assert row.loc[("noise", "lime"), "accuracy"] == pytest.approx(np.mean(noise_training))
    # the regularised regime continues the regularised standard model: batch norm, weight decay
    reg, payload = load_model(res / "models/adv_fgsm_reg.pt")
    assert payload["architecture"]["batch_norm"] and payload["meta"]["regime"] == "adv_fgsm_reg"
    assert json.loads((res / "models/adv_fgsm_reg.training.json").read_text())["weight_decay"] == 1e-6
    assert json.loads((res / "models/tabnet_adv_fgsm.training.json").read_text())["model"] == "tabnet"


def test_second_invocation_has_nothing_to_do(repo, runs):
    proc = snakemake(repo, runs[0])
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_same_values_in_another_key_order_change_nothing(repo, runs, tmp_path):
    # --configfile merges can reorder keys; params depend on the values only
    config = yaml.safe_load((runs[0] / "config/config.yaml").read_text())

    def reverse(value):
        return {k: reverse(value[k]) for k in reversed(list(value))} if isinstance(value, dict) else value

    layered = tmp_path / "same_values.yaml"
    layered.write_text(yaml.safe_dump(reverse(config), sort_keys=False))
    proc = snakemake(repo, runs[0], "-n", "--configfile", str(layered))
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]


def test_device_batch_sizes_do_not_rerun_jobs(repo, runs, tmp_path):
    # README: raise the explainers' device batches on a GPU; results do not depend on them, so
    # changing them must not rerun the explain jobs
    layered = tmp_path / "gpu_batches.yaml"
    layered.write_text(yaml.safe_dump({"interpretability": {"params": {
        "lime": {"num_samples": 300, "implementation": "batched", "batch_size": 65536, "chunk_elements": 10**9},
        "shap_kernel": {"kmeans": 5, "nsamples": 200, "implementation": "batched", "batch_size": 65536}}}}))
    proc = snakemake(repo, runs[0], "-n", "--configfile", str(layered))
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]


def test_rerun_gives_identical_tables(runs):
    a, b = (r / "results/sergio" for r in runs)
    for table in ["data/network.tsv", "data/key_genes.tsv", "models/standard.history.tsv", "robustness/sweep.tsv",
                  "robustness/preservation.tsv", "robustness/imbalance.tsv", "robustness/selected_epsilon.json",
                  "models/adv_pgd.history.tsv", "keygenes/recovery.tsv", "consensus/adv_pgd.ranked.tsv",
                  "explain/standard/shap_kernel.tsv", "explain/adv_fgsm/lime.tsv"]:
        assert (a / table).read_bytes() == (b / table).read_bytes(), table
    for table in ["de/wilcoxon.tsv", "compare/consensus_vs_de.tsv", "tables/top_genes.md", "enrichment/pooled.tsv"]:
        assert (runs[0] / "results/mine" / table).read_bytes() == (runs[1] / "results/mine" / table).read_bytes()
    ma, mb = (json.loads((r / "metrics/standard.json").read_text()) for r in (a, b))
    ma.pop("seconds"), mb.pop("seconds")
    assert ma == mb
    for name in ["raw", "preprocessed"]:
        xa, xb = (ad.read_h5ad(r / f"data/{name}.h5ad").X for r in (a, b))
        np.testing.assert_array_equal(*(x.toarray() if sp.issparse(x) else x for x in (xa, xb)))


def test_custom_dataset_real_data_arm(runs):
    res = runs[0] / "results/mine"
    pre = ad.read_h5ad(res / "data/preprocessed.h5ad")
    # TPM in, values: normalized: logged once, then the log-normalised path
    assert pre.uns["preprocess"]["values"] == "normalized" and not pre.layers
    raw = ad.read_h5ad(res / "data/raw.h5ad")
    logged = np.log1p(raw[pre.obs_names, pre.var_names].X)
    np.testing.assert_allclose(pre.X.toarray(), logged, rtol=1e-5)
    # the cell whose only gene the filter removed is dropped, and the outputs say so
    assert pre.n_obs == 120 and "cell120" not in pre.obs_names and "RARE1" not in pre.var_names
    assert pre.uns["preprocess"]["zero_cells_dropped"] == 1 and pre.uns["preprocess"]["zero_cells"] == "drop"
    de = pd.read_csv(res / "de/wilcoxon.tsv", sep="\t")
    assert list(de.columns) == ["class", "gene", "score", "logfoldchange", "pval", "pval_adj", "significant"]
    for cls, markers in MARKERS.items():  # the planted markers are the top DE genes of their class
        top = de[de["class"] == cls].sort_values("score", ascending=False).head(3)
        assert set(top["gene"]) == set(markers) and top["significant"].all()
    venn = pd.read_csv(res / "compare/consensus_vs_de.tsv", sep="\t")
    assert list(venn.columns) == ["class", "n_consensus", "n_de", "n_shared", "jaccard"]
    assert venn["n_consensus"].tolist() == [10, 10, 10] and (venn["n_shared"] <= 10).all()
    top = pd.read_csv(res / "tables/top_genes.tsv", sep="\t")
    assert list(top.columns) == ["class", "rank", "gene", "votes", "de_significant"] and len(top) == 9
    md = (res / "tables/top_genes.md").read_text()
    assert md.startswith("| class | top consensus genes |") and all(f"| {c} |" in md for c in MARKERS)
    names = sorted(p.name for p in (res / "enrichment").iterdir() if not p.name.startswith("."))  # .snakemake_timestamp
    assert names == ["class_alpha.tsv", "class_beta.tsv", "class_gamma.tsv", "pooled.tsv"]
    pooled = pd.read_csv(res / "enrichment/pooled.tsv", sep="\t")
    assert list(pooled.columns) == ["source", "term_id", "term_name", "p_value", "p_adj", "term_size", "query_size",
                                    "intersection_size", "intersection"]
    assert set(pooled["term_id"]) == {"SET_ALPHA", "SET_BETA", "SET_GAMMA"} and (pooled["source"] == "markers").all()
    for fig in ["venn_consensus_de", "enrichment_pooled", "consensus_adv_fgsm"]:
        assert Image.open(res / f"figures/{fig}.png").size[0] > 100


def test_bad_config_fails_before_any_job(repo, tmp_path):
    workdir = deploy(repo, tmp_path / "bad")
    text = (workdir / "config/config.yaml").read_text().replace("n_hvg: 50", "n_hvg: 50\n  n_hgv: 10")
    (workdir / "config/config.yaml").write_text(text)
    proc = snakemake(repo, workdir, "-n", check=False)
    assert proc.returncode != 0
    assert "unknown config key 'preprocess.n_hgv'" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_model_kind_tabnet_plans_tabnet_everywhere(repo, tmp_path):
    """model.kind: tabnet makes every model a TabNet: its explainers, no DeepSHAP type relevance, no _reg regime."""
    workdir = deploy(repo, tmp_path / "tabnet")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["model"]["kind"] = "tabnet"
    config["interpretability"]["regimes"] = ["standard", "adv_fgsm", "noise"]
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    plan = snakemake(repo, workdir, "-n").stdout
    assert "results/sergio/explain/standard/tabnet_mask.tsv" in plan
    assert "explain/standard/shap_deep.tsv" not in plan and "type_relevance" not in plan
    config["interpretability"]["regimes"] = ["standard", "standard_reg"]
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(repo, workdir, "-n", check=False)
    assert proc.returncode != 0 and "names ['standard_reg'], but model.kind is 'tabnet'" in proc.stdout + proc.stderr


@pytest.mark.parametrize("device, gpu", [("cpu", "gpu=0"), ("cuda", "gpu=1")])
def test_torch_rules_request_a_gpu_only_for_device_cuda(repo, tmp_path, device, gpu):
    workdir = deploy(repo, tmp_path / device)
    text = (workdir / "config/config.yaml").read_text().replace("device: cpu", f"device: {device}")
    (workdir / "config/config.yaml").write_text(text)
    out = snakemake(repo, workdir, "-n").stdout
    block = out[out.index("rule train_standard:"):]
    block = block[: block.index("\n\n")] if "\n\n" in block else block
    assert gpu in block


def test_paper_config_plans_the_full_reproduction(repo, tmp_path):
    # the paper's datasets, downloads included, plan without error (nothing is downloaded by -n)
    workdir = deploy(repo, tmp_path / "paper", config="config/config.yaml")
    out = snakemake(repo, workdir, "-n", "--configfile", str(repo / "config/paper.yaml")).stdout
    for target in ["resources/data/hippocampus.loom", "resources/data/pancreas.h5ad",
                   "results/hippocampus/enrichment", "results/pancreas/tables/top_genes.md",
                   "results/sergio/keygenes/recovery.tsv",
                   # Fig. 5: both annotator arms and their downloads
                   "resources/data/lung_reference.h5ad", "resources/data/lung_query.matrix.mtx.gz",
                   "resources/data/lung_query.obs.csv", "resources/data/lung_query.var.csv",
                   "resources/data/allen_mtg.zip", "results/lung/annotator/precision_recall.tsv",
                   "results/allen_mtg/annotator/f1.tsv", "results/paper/fig5.png",
                   # Koo et al.'s regulatory-code experiment: both sizes, five trials
                   "results/regulatory_code/table1.tsv", "results/regulatory_code/figures/logos.png",
                   "results/regulatory_code/attribution/30000/dist_net.reg.adversarial.trial4.tsv",
                   "results/regulatory_code/attribution/10000/local_net.plain.noise.trial0.tsv"]:
        assert target in out, target
    assert not (workdir / "results").exists()


def write_published_network(directory, name, n_genes=60, n_mrs=6, n_types=3, seed=1):
    """A network in SERGIO's published file format (as resources/data/{name}.*.txt after the download)."""
    from advinterp.grn import NetworkSpec, generate_network

    edges, genes = generate_network(NetworkSpec(n_genes=n_genes, n_master_regulators=n_mrs, n_edges=120, n_layers=3,
                                                max_regulators=4), seed=seed)
    number = {g: i for i, g in enumerate(genes["gene"])}
    lines = []
    for target, rows in edges.groupby("target", sort=True):
        regs = [f"{number[r]}.0" for r in rows["regulator"]]
        lines.append(",".join([f"{number[target]}.0", f"{len(regs)}.0", *regs, *map(str, rows["K"]),
                               *map(str, rows["n"].astype(float))]))
    rng = np.random.default_rng(seed)
    mrs = genes.loc[genes["is_master_regulator"], "gene"]
    regs = [",".join([f"{number[g]}.0", *map(str, rng.uniform(0.2, 4.0, n_types))]) for g in mrs]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.interactions.txt").write_text("\n".join(lines) + "\n")
    (directory / f"{name}.regulators.txt").write_text("\n".join(regs) + "\n")
    return len(mrs)


def test_published_sergio_network_dataset(repo, tmp_path):
    # sergio_ds3's files put where its download would (README: offline use), then simulated with the
    # given master-regulator rates; a simulated dataset: key-gene recovery planned, no real-data arm
    workdir = deploy(repo, tmp_path / "ds3")
    n_mrs = write_published_network(workdir / "resources/data", "sergio_ds3")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["datasets"] = ["sergio_ds3"]
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plan = snakemake(repo, workdir, "-n").stdout
    assert "results/sergio_ds3/keygenes/recovery.tsv" in plan and "rule simulate_published_network" in plan
    assert "rule download_dataset" not in plan and "de_wilcoxon" not in plan and "rule load_dataset" not in plan
    snakemake(repo, workdir, "results/sergio_ds3/data/preprocessed.h5ad")
    res = workdir / "results/sergio_ds3/data"
    raw = ad.read_h5ad(res / "raw.h5ad")
    assert raw.shape == (180, 60) and int(raw.var["is_key_gene"].sum()) == n_mrs
    assert np.issubdtype(raw.X.dtype, np.integer) and raw.uns["simulation"]["mr_rates"].startswith("given")
    net = pd.read_csv(res / "network.tsv", sep="\t")
    assert list(net.columns) == ["regulator", "target", "K", "n"] and len(net) == 120
    key = pd.read_csv(res / "key_genes.tsv", sep="\t")
    assert set(key["gene"]) <= set(raw.var_names[raw.var["is_key_gene"]]) and key["cell_type"].nunique() == 3
    # cells the gene filter leaves with zero counts are dropped, and counted (preprocess.zero_cells: drop)
    pre = ad.read_h5ad(res / "preprocessed.h5ad")
    assert pre.n_obs + pre.uns["preprocess"]["zero_cells_dropped"] == 180 and pre.n_obs >= 150
    assert (np.asarray(pre.X.sum(axis=1)) > 0).all()  # log1p of normalised counts: > 0 where a count is


def test_every_gpu_rule_is_a_gpu_job_of_the_slurm_profile(repo):
    # a rule that asks the scheduler for a GPU (resources: gpu=GPU) must get one on a cluster
    text = "".join(p.read_text() for p in sorted((repo / "workflow/rules").glob("*.smk")))
    gpu_rules = {m.group(1) for m in re.finditer(r"^rule (\w+):\n(?:(?!^rule ).*\n)*?\s+gpu=GPU", text, re.M)}
    # `use rule a as b with:` inherits a's resources (the seed twins, and twins of twins: explain_seed_tabnet)
    twins = re.findall(r"^use rule (\w+) as (\w+) with:", text, re.M)
    for _ in twins:
        gpu_rules |= {twin for base, twin in twins if base in gpu_rules}
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    assert gpu_rules and gpu_rules == {r for r, res in profile["set-resources"].items() if res.get("gpu")}


def test_mtx_dataset_placed_by_hand_loads_with_its_cell_filter(repo, tmp_path):
    """lung_query (Matrix Market + two CSVs): files put at resources/data/ (the offline route the
    download message names) are used as they are; the registry's cell_filter (nGene >= 500) and
    cell count (4,240) are applied and checked."""
    import gzip

    import scipy.io
    import scipy.sparse as sp

    workdir = deploy(repo, tmp_path / "mtx", config="config/config.yaml")
    rng = np.random.default_rng(0)
    n_cells, n_genes = 4300, 12
    counts = sp.random(n_genes, n_cells, density=0.3, format="coo", random_state=1,
                       data_rvs=lambda n: rng.integers(1, 20, n))  # genes × cells, as GSE124872
    data = workdir / "resources/data"
    data.mkdir(parents=True)
    with gzip.open(data / "lung_query.matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, counts)
    n_gene = np.where(np.arange(n_cells) < 4240, 600, 100)
    pd.DataFrame({"": [f"cell{i}" for i in range(n_cells)], "celltype": rng.choice(["B_cells", "Club_cells"], n_cells),
                  "nGene": n_gene}).to_csv(data / "lung_query.obs.csv", index=False)
    pd.DataFrame({"x": [f"Gene{j}" for j in range(n_genes)]}).to_csv(data / "lung_query.var.csv", index=False)
    proc = snakemake(repo, workdir, "results/lung_query/data/raw.h5ad", "--config", "datasets=[lung_query]")
    assert "download_dataset" not in proc.stdout + proc.stderr.split("Job stats:")[1].split("total")[0]
    raw = ad.read_h5ad(workdir / "results/lung_query/data/raw.h5ad")
    assert raw.shape == (4240, n_genes) and raw.obs_names[-1] == "cell4239"
    np.testing.assert_array_equal(raw.X.toarray(), counts.toarray().T[:4240])
    assert set(raw.obs["celltype"]) == {"B_cells", "Club_cells"}


def test_allen_zip_placed_by_hand_loads_in_chunks(repo, tmp_path):
    """allen_mtg (the Allen zip of exon and intron CSVs): a stand-in of the published size in cells
    (15,928 nuclei: 75 clusters' worth replaced by 3, plus 325 "no class"), put at resources/data/."""
    from test_allen import allen_tables, write_zip

    workdir = deploy(repo, tmp_path / "allen", config="config/config.yaml")
    (workdir / "resources/data").mkdir(parents=True)
    t = allen_tables(n_genes=4, n_per_cluster=5201, n_no_class=325)
    write_zip(workdir / "resources/data/allen_mtg.zip", t)
    snakemake(repo, workdir, "results/allen_mtg/data/raw.h5ad", "--config", "datasets=[allen_mtg]")
    raw = ad.read_h5ad(workdir / "results/allen_mtg/data/raw.h5ad")
    assert raw.shape == (15928, 4) and (raw.obs["cluster"] == "no class").sum() == 325
    np.testing.assert_array_equal(raw.X.toarray(), (t["exon"] + t["intron"]).T)


def allen_standin(workdir, config):
    """A stand-in Allen zip (published cell count, 3 clusters with a planted marker gene each) and the
    config that runs the Allen MLP arm on it."""
    from test_allen import allen_tables, write_zip

    t = allen_tables(n_genes=12, n_per_cluster=5201, n_no_class=325, seed=1)
    clusters = t["meta"]["cluster"].to_numpy()
    for g, cluster in enumerate(["Exc L2 LAMP5", "Inh L1 SST", "Astro L1-6 FGFR3"]):
        t["exon"][g, clusters == cluster] += 40  # a marker gene per cluster
    write_zip(workdir / "resources/data/allen_mtg.zip", t)
    config["allen_mlp"]["datasets"] = ["allen_mtg"]
    config["allen_mlp"]["network"]["max_epochs"] = 3
    config["allen_mlp"]["epsilons"] = [0, 0.5, 2.0]


def check_allen_arm(res):
    import json

    data = ad.read_h5ad(res / "annotator/data.h5ad")
    assert data.n_obs == 15603 and data.uns["allen_preprocess"]["n_no_class"] == 325
    assert data.obs["split"].value_counts().to_dict() == {"train": 9361, "val": 3121, "test": 3121}
    selected = json.loads((res / "annotator/selected_epsilon.json").read_text())
    assert set(selected) == {"fgsm", "pgd"} and selected["fgsm"]["epsilon"] in (0.5, 2.0)
    f1 = pd.read_csv(res / "annotator/f1.tsv", sep="\t")
    assert list(f1.columns) == ["model", "attack", "epsilon", "class", "f1", "support"]
    assert set(f1["model"]) == {"standard", "adversarial"} and set(f1["attack"]) == {"none", "fgsm", "pgd"}
    assert set(f1["class"]) == {"Exc L2 LAMP5", "Inh L1 SST", "Astro L1-6 FGFR3"}
    clean = f1[(f1["model"] == "standard") & (f1["attack"] == "none")]
    attacked = f1[(f1["model"] == "standard") & (f1["attack"] == "pgd") & (f1["epsilon"] == 2.0)]
    assert clean["f1"].min() > 0.9 and attacked["f1"].mean() < clean["f1"].mean()
    assert Image.open(res / "figures/annotator_f1.png").size[0] > 100


def test_annotator_arms_end_to_end_and_fig5(repo, tmp_path):
    """Fig. 5c's arm on a stand-in Allen zip (check_allen_arm) and Fig. 5a,b's on stand-ins of the pySCN
    tutorial's files (published cell counts: a 14,813-cell reference .h5ad, a query of Matrix Market +
    CSVs with 4,240 cells at nGene >= 500), ten planted cell types, the shipped label map (which leaves
    one of the stand-in's query labels unmapped); then the composed fig5."""
    import gzip
    import json

    import scipy.io
    import scipy.sparse as sp

    workdir = deploy(repo, tmp_path / "fig5", config="config/config.yaml")
    data = workdir / "resources/data"
    data.mkdir(parents=True)
    rng = np.random.default_rng(5)
    genes = [f"Gene{j}" for j in range(30)]
    # the reference's 10 classes as the pySCN tutorial's figures show them (the shipped map names them all)
    types = ["B cell", "stromal cell", "epithelial cell", "endothelial cell", "granulocyte", "lymphocyte",
             "macrophage", "monocyte", "myeloid cell", "natural killer cell"]

    def counts(labels):
        x = rng.poisson(2.0, (len(labels), len(genes)))
        for k, cell_type in enumerate(types):
            x[np.asarray(labels) == cell_type, 3 * k:3 * k + 3] += 25  # three marker genes per type
        return x

    ref_labels = rng.choice(types, 14813)
    ad.AnnData(sp.csr_matrix(counts(ref_labels).astype(np.float32)), obs=pd.DataFrame(
        {"cell_ontology_class": ref_labels}, index=[f"r{i}" for i in range(14813)]),
        var=pd.DataFrame(index=genes)).write_h5ad(data / "lung_reference.h5ad")
    query_types = rng.choice(["B_cells", "Interstitial_Fibroblast", "Type_2_pneumocytes", "low_quality_cells"], 4300)
    as_reference = {"B_cells": "B cell", "Interstitial_Fibroblast": "stromal cell",
                    "Type_2_pneumocytes": "epithelial cell", "low_quality_cells": "none"}
    q = counts([as_reference[t] for t in query_types])[:, ::-1]  # the query's genes in another order
    with gzip.open(data / "lung_query.matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, sp.coo_matrix(q.T))  # genes × cells, as GSE124872
    pd.DataFrame({"": [f"q{i}" for i in range(4300)], "celltype": query_types,
                  "nGene": np.where(np.arange(4300) < 4240, 800, 100)}).to_csv(data / "lung_query.obs.csv", index=False)
    pd.DataFrame({"x": genes[::-1]}).to_csv(data / "lung_query.var.csv", index=False)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    scn = config["singlecellnet"]
    # the label map config/paper.yaml uses, shipped with the workflow (found relative to workflow/)
    scn["runs"] = {"lung": {"reference": "lung_reference", "query": "lung_query",
                            "labels": "resources/labelmaps/lung_query_to_reference.tsv"}}
    scn["model"].update(limit_to_hvg=False, n_top_genes=5, n_top_pairs=10)
    scn["epsilons"] = {"pairs": [0, 0.3], "expression": [0, 2.0]}
    scn["marked"] = {"pairs": 0.3, "expression": 2.0}
    allen_standin(workdir, config)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    planned = snakemake(repo, workdir, "-n").stdout  # the default target includes both arms
    assert "rule plot_allen_f1:" in planned and "rule plot_singlecellnet:" in planned
    assert "results/allen_mtg/data/preprocessed.h5ad" not in planned  # loaded for the arms only
    snakemake(repo, workdir, "fig5")

    check_allen_arm(workdir / "results/allen_mtg")
    assert Image.open(workdir / "results/paper/fig5.png").size[1] > 1000  # both arms' figures, stacked
    index = (workdir / "results/paper/index.md").read_text()
    assert "| c | per-class F1 of the Allen MLP" in index and "`allen_mtg/annotator/f1.tsv`" in index

    res = workdir / "results/lung/annotator"
    table = pd.read_csv(res / "precision_recall.tsv", sep="\t")
    assert list(table.columns) == ["model", "attack_space", "epsilon", "class", "precision", "recall", "support"]
    assert set(table["model"]) == {"reference_held_out", "query"}
    assert set(zip(table["attack_space"], table["epsilon"], strict=True)) == {("none", 0), ("pairs", 0.3),
                                                                             ("expression", 2.0)}
    clean = table[(table["model"] == "query") & (table["attack_space"] == "none")]
    present = clean[clean["support"] > 0]  # the stand-in's query holds 3 of the 10 classes
    assert set(present["class"]) == {"B cell", "stromal cell", "epithelial cell"}
    assert present["recall"].min() > 0.9 and clean["support"].sum() < 4240  # low_quality_cells: unmapped
    attacked = table[(table["model"] == "query") & (table["attack_space"] == "pairs") & (table["support"] > 0)]
    assert attacked["recall"].mean() < present["recall"].mean()
    summary = json.loads((res / "summary.json").read_text())
    assert summary["n_common_genes"] == 30 and summary["n_query_cells"] == 4240
    assert summary["n_reference_train"] == 2000 and set(summary["unmapped_query_labels"]) == {"low_quality_cells"}
    composition = pd.read_csv(res / "query_composition.tsv", sep="\t")
    assert set(composition["query_label"]) == set(as_reference)
    assert composition[composition["attack_space"] == "none"]["n_cells"].sum() == 4240
    assert Image.open(workdir / "results/lung/figures/annotator_precision_recall.png").size[0] > 100


def test_regulatory_code_arm_end_to_end(repo, tmp_path):
    """Koo et al. 2019's Table 1 through Snakemake: off in the tiny config (nothing of it planned), on with
    regulatory_code.enabled: sequences generated, both models trained in the three regimes (regularised),
    attributions scored, the table and the logos written."""
    workdir = deploy(repo, tmp_path / "regcode")
    assert "regcode_" not in snakemake(repo, workdir, "-n").stdout  # off: not in the default DAG
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["regulatory_code"].update(enabled=True, regularised=[True])
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(repo, workdir, "results/regulatory_code/table1.tsv", "results/regulatory_code/figures/logos.png")
    res = workdir / "results/regulatory_code"
    table = pd.read_csv(res / "table1.tsv", sep="\t")
    assert list(table.columns) == ["dataset_size", "model", "regularised", "regime", "method", "classification_auc",
                                   "auroc_mean", "auroc_sd", "auprc_mean", "auprc_sd", "n_trials"]
    methods = {"saliency", "smoothgrad", "integrated_gradients", "deepshap"}
    assert len(table) == 2 * 3 * len(methods) and set(table["method"]) == methods
    assert set(table["regime"]) == {"standard", "noise", "adversarial"} and table["regularised"].all()
    assert (table["dataset_size"] == 300).all() and (table["n_trials"] == 1).all()
    assert table[["auroc_mean", "auprc_mean", "classification_auc"]].stack().between(0, 1).all()
    # the table pools the per-sequence scores of the attribution step
    scores = pd.read_csv(res / "attribution/300/dist_net.reg.noise.trial0.tsv", sep="\t")
    smooth = scores[scores["method"] == "smoothgrad"]
    assert len(smooth) == 10  # attribution.max_sequences positive test sequences
    row = table[(table["model"] == "dist_net") & (table["regime"] == "noise") & (table["method"] == "smoothgrad")]
    assert row["auroc_mean"].item() == pytest.approx(smooth["auroc"].mean())
    markdown = (res / "table1.md").read_text()
    assert "0.751 ± 0.055" in markdown and "paper" in markdown.lower()  # the paper's headline numbers beside ours
    assert (res / "figures/logos.png").stat().st_size > 10_000

