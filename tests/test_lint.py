"""Workflow hygiene: `snakemake --lint` is clean and the Snakefiles are snakefmt-formatted."""

import subprocess
import sys


def test_snakemake_lint(repo):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=repo, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_snakefmt(repo):
    # through this interpreter: an environment that is not activated has no snakefmt on PATH
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "workflow"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
