from pathlib import Path

import pytest
from workflow_runs import add_custom_dataset, deploy, snakemake

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def runs(repo, tmp_path_factory):
    """The tiny config (sergio + a user's log-normalised dataset), run twice from scratch with
    local execution; shared by the workflow, SLURM and report tests."""
    first = add_custom_dataset(deploy(repo, tmp_path_factory.mktemp("run1")))
    second = add_custom_dataset(deploy(repo, tmp_path_factory.mktemp("run2")))
    snakemake(repo, first)
    snakemake(repo, second)
    return first, second
