"""The documentation: the mkdocs site builds with --strict, the configuration reference that
docs/hooks/config_reference.py generates lists every key of the schemas, and the README stays
short with working relative links."""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README_LIMIT = 10_240  # bytes (issue #16)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(out)],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_mkdocs_build_strict(site):
    assert (site / "index.html").is_file()
    assert (site / "assets" / "workflow.png").is_file()
    # build inputs are not published as pages or files
    assert not (site / "hooks").exists()


def _schema_keys(name: str) -> list[str]:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / name).read_text())
    return list(schema["properties"])


def test_configuration_reference_lists_every_key(site):
    page = (site / "configuration" / "index.html").read_text()
    assert "schema-reference:" not in page, "the hook did not replace its placeholder"
    for key in _schema_keys("config.schema.yaml"):
        assert f"<code>{key}</code>" in page, f"config key {key!r} missing from the configuration reference"
    for key in _schema_keys("dataset.schema.yaml"):
        assert f"<code>{key}</code>" in page, f"dataset key {key!r} missing from the configuration reference"
    # nested keys are rendered by their dotted path, with the embedded default beside them
    assert "<code>biology.enrichment.backend</code>" in page
    assert "<code>interpretability.params.shap_kernel.nsamples</code>" in page


def test_readme_size():
    size = (REPO / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes, over {README_LIMIT}: move detail into docs/"


def _relative_links(markdown: str) -> list[str]:
    # inline links and images, [text](target) / ![alt](target "title"), outside fenced code blocks
    text = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", text, flags=re.MULTILINE)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE) and not t.startswith("#")]


def test_readme_relative_links_exist():
    links = _relative_links((REPO / "README.md").read_text())
    assert links, "no relative links found: the link pattern is broken"
    missing = [link for link in links if not (REPO / unquote(link.split("#", 1)[0])).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def _workflow_rules() -> set[str]:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.strip() for line in proc.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}


def test_methods_table_finds_every_rule_its_script_and_library_function():
    """docs/methods.md's rule -> script -> library function table: complete, and every name in it exists."""
    import importlib

    rows = re.findall(r"^\| (`[^|]+`) \| `(workflow/scripts/[^`]+)` \| ([^|]+) \|$",
                      (REPO / "docs/methods.md").read_text(), flags=re.M)
    listed = {name for rules, _, _ in rows for name in re.findall(r"`(\w+)`", rules)}
    targets = {"all", "paper", "fig1", "fig2", "fig3", "fig4", "fig5", "table1", "table2", "figS2"}
    assert listed == _workflow_rules() - targets
    for _, script, functions in rows:
        assert list(REPO.glob(script)), script
        for dotted in re.findall(r"`(advinterp\.[\w.]+)`", functions):
            module, _, name = dotted.rpartition(".")
            if name[0].islower() and module.count(".") >= 1:
                assert hasattr(importlib.import_module(module), name), dotted
            else:
                importlib.import_module(dotted)
