"""envs/*.yaml (for --use-conda) pin every package, to the versions pyproject.toml pins.

conda channels cannot be reached where the tests run, so this checks the files instead
of building the environments.
"""

import re
import tomllib

import pytest
import yaml

# conda-forge names of PyPI packages where the two differ
CONDA_NAMES = {"matplotlib": "matplotlib-base"}


def pyproject_pins(repo):
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", dep)
        assert m, f"pyproject dependency {dep!r} is not pinned with =="
        pins[m.group(1).lower()] = m.group(2)
    return pins


def env_files(repo):
    return sorted((repo / "envs").glob("*.yaml"))


def test_env_files_exist(repo):
    assert env_files(repo)


@pytest.mark.parametrize("path", env_files(__import__("pathlib").Path(__file__).resolve().parents[1]),
                         ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(repo, path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
    pins = pyproject_pins(repo)
    conda_to_pypi = {v: k for k, v in CONDA_NAMES.items()}
    seen = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                if pip_dep.startswith("-e"):
                    continue
                name, _, version = pip_dep.partition("==")
                assert version, f"{path.name}: pip package {pip_dep!r} is not pinned"
                seen[name.lower()] = version
            continue
        name, _, version = dep.partition("=")
        assert version and not version.startswith("="), f"{path.name}: {dep!r} is not pinned with name=version"
        seen[conda_to_pypi.get(name, name).lower()] = version
    for name, version in seen.items():
        if name in pins:
            assert version == pins[name], f"{path.name}: {name} {version} but pyproject pins {pins[name]}"
    missing = set(pins) - set(seen) - {"snakemake"}  # snakemake runs the env, it need not be inside it
    assert not missing, f"{path.name} lacks {sorted(missing)} that the package needs"


def test_every_third_party_import_of_the_library_is_declared(repo):
    # captum, shap and lime were once imported by advinterp but missing from pyproject: a fresh
    # install would have failed at the first explain job.
    import ast
    import importlib.metadata
    import sys

    distributions = importlib.metadata.packages_distributions()
    def norm(name):
        return name.lower().replace("_", "-")

    declared = {norm(d) for d in pyproject_pins(repo)}
    undeclared = {}
    for path in sorted((repo / "src" / "advinterp").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "advinterp":
                    continue
                dists = {norm(d) for d in distributions.get(top, [top])}
                if not dists & declared:
                    undeclared.setdefault(top, []).append(path.name)
    assert not undeclared, f"imported but not in pyproject dependencies: {undeclared}"
