"""profiles/slurm on a real single-node SLURM cluster started by the test (tests/slurm_cluster.py).

The tiny config runs through snakemake-executor-plugin-slurm with the shipped profile, adapted
to this "site" the way README's "Run on a cluster" tells a user to (partition names); its result
tables must equal the local run's, and the torch rules must have been submitted with a GPU.
Skipped, with the reason, where no cluster can be started (not root, SLURM not installed, a
real SLURM node); `.ci/run` installs SLURM and sets ADVINTERP_CI=1, which turns the skip into a
failure.
"""

import json
import os
import re

import pytest
import slurm_cluster
import yaml
from workflow_runs import deploy, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def cluster():
    try:
        slurm_cluster.start()
    except slurm_cluster.Unavailable as err:
        if os.environ.get("ADVINTERP_CI") == "1":
            pytest.fail(f"CI must run the SLURM test, but no test cluster could be started: {err}")
        pytest.skip(f"no test SLURM cluster: {err}")
    yield
    slurm_cluster.stop()


def site_profile(repo, dest):
    """profiles/slurm with this cluster's partition in place of the placeholders, and memory requests
    this small node can grant (two GPU jobs and two CPU jobs at once)."""
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    cap = slurm_cluster.memory_mb() // 4
    for resources in [profile["default-resources"], *profile["set-resources"].values()]:
        resources["slurm_partition"] = slurm_cluster.PARTITION
        resources["mem_mb"] = min(resources["mem_mb"], cap)
    dest.mkdir()
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return profile


@pytest.fixture(scope="module")
def cluster_run(repo, cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm")
    profile = site_profile(repo, base / "profile")
    workdir = deploy(repo, base / "work")
    # squeue instead of sacct: this cluster has no accounting database (sacct would fail and the
    # plugin would wait forever); MinJobAge (3600 s) >> 3 x the first status check (2 s).
    proc = snakemake(repo, workdir, "--profile", str(base / "profile"), "--slurm-status-command", "squeue",
                     "--slurm-init-seconds-before-status-checks", "2")
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/",
                           proc.stdout + proc.stderr)
    return workdir, profile, submitted


def test_every_job_ran_as_a_slurm_job(repo, cluster_run, tmp_path):
    workdir, _, submitted = cluster_run
    # the jobs the tiny DAG plans on a fresh deployment, less the local target rule `all`
    planned = snakemake(repo, deploy(repo, tmp_path / "plan"), "-n").stdout
    expected = int(re.search(r"^total\s+(\d+)$", planned, flags=re.M).group(1)) - 1
    rules = {rule for _, rule in submitted}
    # every rule of the sergio DAG but the local target rule `all`
    assert {"sergio_simulate", "preprocess", "train_standard", "robustness_sweep", "explain", "consensus",
            "keygene_recovery", "plot_keygenes"} <= rules
    assert len(submitted) == expected, submitted
    for job_id, rule in submitted:
        record = slurm_cluster.job_record(job_id)
        assert record["JobState"] == "COMPLETED", (rule, record)
        assert record["Partition"] == slurm_cluster.PARTITION


def test_torch_rules_were_given_a_gpu(cluster_run):
    _, profile, submitted = cluster_run
    gpu_rules = {rule for rule, res in profile["set-resources"].items() if res.get("gpu")}
    assert {"train_standard", "robustness_sweep", "explain", "explain_seed", "train_adversarial"} <= gpu_rules
    seen = set()
    for job_id, rule in submitted:
        record = slurm_cluster.job_record(job_id)
        if rule in gpu_rules:
            seen.add(rule)
            assert re.fullmatch(r"gres[:/]gpu:1", record.get("TresPerJob", "")), (rule, record)
            assert record["NumCPUs"] == str(profile["set-resources"][rule]["cpus_per_gpu"])
        else:
            assert "gpu" not in record.get("TresPerJob", ""), (rule, record)
    # every torch rule of the profile that the tiny DAG has (the Fig. 5 arms and the regulatory-code arm are off)
    off_rules = {"singlecellnet", "allen_train", "allen_train_adversarial", "allen_preservation", "allen_f1",
                 "regcode_train", "regcode_attribute", "regcode_logos"}
    assert seen == gpu_rules - off_rules
    assert {"train_regime", "train_regime_seed", "type_relevance"} <= seen


def test_cluster_tables_equal_the_local_run(runs, cluster_run):
    local, cluster = runs[0] / "results/sergio", cluster_run[0] / "results/sergio"
    tables = sorted(p.relative_to(local) for p in local.rglob("*.tsv"))
    assert len(tables) > 30
    assert tables == sorted(p.relative_to(cluster) for p in cluster.rglob("*.tsv"))
    for table in tables:
        assert (local / table).read_bytes() == (cluster / table).read_bytes(), table
    for metrics in sorted(local.glob("metrics/*.json")):
        a, b = (json.loads((d / "metrics" / metrics.name).read_text()) for d in (local, cluster))
        a.pop("seconds"), b.pop("seconds")
        assert a == b, metrics.name
