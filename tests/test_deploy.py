"""Deployment as a Snakemake user does it: `snakedeploy deploy-workflow <git URL> <dir> --tag <tag>`,
then `snakemake` in <dir>, the workflow running as a module from its git source.

GitHub stands in as a local clone reached by a file:// URL whose path ends in
github.com/advinterp/advinterp, so snakedeploy 0.17.1 treats it as a GitHub repository (its only
providers are GitHub, GitLab and an existing local path; a plain file:// URL matches none) and
writes what it writes for GitHub: `github("advinterp/advinterp", path="workflow/Snakefile",
tag=...)`. Snakemake reads such a module from a bare clone in its source cache; the test puts the
clone there instead of letting Snakemake fetch it from github.com (no network in tests). What is
deployed is the repository's last commit (HEAD), tagged in the clone.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.workflow

TAG = "v0.0.0-test"
# planted in the tagged library only: shows that jobs import the workflow's own library from its
# git source, not the advinterp installed in this environment
MARKER = "(library of the deployed tag)"


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def tagged_clone(repo: Path, origin: Path) -> None:
    git("clone", "--quiet", str(repo), str(origin), cwd=repo)
    paper = origin / "src/advinterp/paper.py"
    text = paper.read_text()
    assert "# The paper's figures and tables" in text
    paper.write_text(text.replace("# The paper's figures and tables", f"# The paper's figures and tables {MARKER}"))
    git("-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "--quiet", "-am", "mark", cwd=origin)
    git("tag", TAG, cwd=origin)


def test_snakedeploy_deployment_runs_the_smoke_test_config(repo, tmp_path):
    origin = tmp_path / "github.com/advinterp/advinterp"
    tagged_clone(repo, origin)
    deployed = tmp_path / "my-analysis"
    snakedeploy = Path(sys.executable).parent / "snakedeploy"
    subprocess.run([str(snakedeploy), "deploy-workflow", f"file://{origin}", str(deployed), "--tag", TAG],
                   check=True, capture_output=True, text=True)

    snakefile = (deployed / "workflow/Snakefile").read_text()
    assert f'github("advinterp/advinterp", path="workflow/Snakefile", tag="{TAG}")' in snakefile
    assert "use rule * from advinterp" in snakefile
    assert (deployed / "config/README.md").exists() and (deployed / "profiles/default/config.yaml").exists()
    assert not (deployed / "src").exists() and not (deployed / "workflow/rules").exists()

    # Snakemake's git cache of github.com/advinterp/advinterp, as a first run would have filled it
    cache = tmp_path / "cache"
    git_cache = cache / "snakemake/snakemake/source-cache/snakemake-git-cache"
    git("clone", "--quiet", "--bare", str(origin), str(git_cache / "github.com/advinterp/advinterp"), cwd=tmp_path)
    # the smoke test's config (.test/config) in place of the embedded default
    shutil.copy(origin / ".test/config/config.yaml", deployed / "config/config.yaml")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=deployed, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]

    results = deployed / "results"
    assert (results / "sergio/keygenes/recovery.tsv").stat().st_size > 0
    assert (results / "paper/fig2.png").stat().st_size > 0
    assert MARKER in (results / "paper/index.md").read_text()
    # the registry and the library came from the tag; nothing of the repository was copied in
    assert yaml.safe_load((deployed / "config/config.yaml").read_text())["datasets"] == ["sergio"]
    assert not (deployed / "src").exists() and not (deployed / "workflow/resources").exists()
