"""The Snakemake workflow catalog's layout, and what makes the workflow run as a module elsewhere."""

import subprocess
import sys
from pathlib import Path

import yaml

import advinterp

REPO = Path(__file__).resolve().parents[1]


def test_catalog_layout():
    for path in ["workflow/Snakefile", "workflow/envs", "workflow/schemas/config.schema.yaml", "workflow/report",
                 "config/config.yaml", "config/README.md", ".test/config/config.yaml", "LICENSE"]:
        assert (REPO / path).exists(), path
    assert not (REPO / "Snakefile").exists() and not (REPO / "envs").exists()
    snakefile = (REPO / "workflow/Snakefile").read_text()
    assert 'report: "report/workflow.rst"' in snakefile and (REPO / "workflow/report/workflow.rst").exists()
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"]["conda"] is True


def test_library_manifest_lists_every_module():
    """A module missing from advinterp.__all__ would be missing where the workflow runs from its git source."""
    modules = sorted(p.stem for p in (REPO / "src/advinterp").glob("*.py") if p.stem != "__init__")
    assert sorted(advinterp.__all__) == modules


def test_seed_twins_are_use_rule_of_their_rule():
    rules = {p.name: p.read_text() for p in (REPO / "workflow/rules").glob("*.smk")}
    for twin, base, where in [("train_standard_seed", "train_standard", "train.smk"),
                              ("train_adversarial_seed", "train_adversarial", "robustness.smk"),
                              ("explain_seed", "explain", "interpretability.smk")]:
        assert f"use rule {base} as {twin} with:" in rules[where], twin
        assert not any(f"rule {twin}:" in text for text in rules.values()), twin
    assert "plots.smk" not in rules


def test_workflow_profile_recovers_from_an_interrupted_run():
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert profile["rerun-incomplete"] is True


def test_smoke_test_command_plans_from_the_repository_root():
    """`snakemake --directory .test --cores 2`, as the README says (planned only: tests/test_deploy.py runs
    the same config in full, as a deployed module)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--directory", ".test", "--cores", "2", "-n"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "paper_figure" in proc.stdout + proc.stderr
