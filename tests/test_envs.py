"""workflow/envs/*.yaml (snakemake --use-conda): one env per stage group, each pinned to pyproject's versions
and providing every third-party module its rules' scripts import.

conda channels cannot be reached where the tests run, so this checks the files instead of building
the environments: every env parses, uses the project's channels, pins every package to the version
pyproject.toml pins (the versions the test suite runs with); every rule that runs code names an
existing env and every env is used; and, for every rule with a script, the third-party modules the
script imports, directly or through the advinterp modules it reaches (module-level and
function-level imports alike, since lazy imports run too), are declared by the rule's env.
advinterp itself is not installed in the envs: each script imports workflow/scripts/advinterp_path.py
first, which puts this checkout's src/ on sys.path.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "src" / "advinterp"
SCRIPTS = REPO / "workflow" / "scripts"
CHANNELS = ["conda-forge", "bioconda", "nodefaults"]
PYTHON = "3.11"

# conda-forge names of PyPI packages where the two differ
CONDA_NAMES = {"matplotlib": "matplotlib-base"}
# pyproject dependencies that run the workflow (the driver's env), not needed inside a job's env
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}
# Modules advinterp needs at run time but never imports itself: a library call imports them, so an
# env whose rules reach that advinterp module must declare them (pinned, like everything else).
CALLED_THROUGH = {
    "datasets": {"loompy"},  # anndata.read_loom imports loompy, an optional dependency of anndata
    # scanpy.tl.umap imports umap (umap-learn) and sc.pp.neighbors pynndescent (pinned: 0.6+ breaks scanpy 1.11.5)
    "embedding": {"umap", "pynndescent"},
    "regcode_data": {"Bio"},  # pyjaspar's motifs are Bio.motifs objects (biopython); pinned rather than left to pip
}
# Third-party modules an env may provide without declaring their package: module -> the declared
# conda package that always brings it (a hard dependency on conda-forge), e.g. "PIL": "matplotlib-base"
# or "h5py": "anndata". Keep it minimal and justify each entry; none is needed today, since every
# module a script reaches is declared by its env.
PROVIDED_BY: dict[str, str] = {}


def norm(name: str) -> str:
    """PEP 503 name: PyYAML and pyyaml, sergio_rs and sergio-rs compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_name(conda_name: str) -> str:
    return norm({v: k for k, v in CONDA_NAMES.items()}.get(conda_name, conda_name))


def pyproject_pins(repo: Path = REPO) -> dict[str, str]:
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", dep)
        assert m, f"pyproject dependency {dep!r} is not pinned with =="
        pins[norm(m.group(1))] = m.group(2)
    return pins


def env_files(repo: Path = REPO) -> list[Path]:
    return sorted((repo / "workflow" / "envs").glob("*.yaml"))


@dataclass
class Env:
    path: Path
    channels: list
    conda: dict[str, str]  # conda name -> version
    pip: dict[str, str]  # PyPI name (normalised) -> version
    unpinned: list[str]

    @property
    def name(self) -> str:
        return f"workflow/envs/{self.path.name}"

    def declared(self) -> set[str]:
        """PyPI names (normalised) of the packages the env declares, python and pip aside."""
        return {pypi_name(n) for n in self.conda if n not in ("python", "pip")} | set(self.pip)


@cache
def load_env(path: Path) -> Env:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict) and set(doc) >= {"channels", "dependencies"}, f"{path.name}: not a conda env file"
    conda, pip, unpinned = {}, {}, []
    for dep in doc["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path.name}: unexpected section {sorted(dep)}"
            for pip_dep in dep["pip"]:
                m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)", pip_dep)
                if not m:
                    unpinned.append(f"pip: {pip_dep}")
                    continue
                pip[norm(m.group(1))] = m.group(2)
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)=([A-Za-z0-9_.+!-]+)", str(dep))
        if not m:
            unpinned.append(str(dep))
            continue
        conda[m.group(1)] = m.group(2)
    return Env(path, doc["channels"], conda, pip, unpinned)


# --- the rules: a rule block runs from `rule NAME:` to the next line that is not indented --------


@dataclass
class Rule:
    name: str
    file: Path
    directives: dict[str, str]  # directive -> its source text

    def literal(self, directive: str) -> str | None:
        """The string a directive gives (conda:, script:), or None when it has none."""
        if directive not in self.directives:
            return None
        text = self.directives[directive].strip().rstrip(",")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        assert isinstance(value, str), (
            f"rule {self.name} ({self.file.relative_to(REPO)}): {directive}: is {text!r}, not a plain string; "
            f"tests/test_envs.py can only follow string paths"
        )
        return value

    def path(self, directive: str) -> Path | None:
        """conda: and script: paths are relative to the file that defines the rule."""
        value = self.literal(directive)
        return None if value is None else (self.file.parent / value).resolve()


def parse_rules(path: Path, known: dict[str, Rule] | None = None) -> list[Rule]:
    """The rules a Snakefile defines; `use rule a as b with:` starts b from a's directives
    (a from this file or from `known`, the rules of files included before)."""
    rules, current, directive = [], None, None
    known = dict(known or {})
    for line in path.read_text().splitlines():
        head = re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", line)
        derived = re.match(r"use rule\s+(\w+)\s+as\s+(\w+)\s+with\s*:", line)
        if head or derived:
            if head:
                current = Rule(head.group(1), path, {})
            else:
                base = known[derived.group(1)]
                current = Rule(derived.group(2), base.file, dict(base.directives))
            directive = None
            rules.append(current)
            known[current.name] = current
            continue
        if current is None or not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():  # back at the top level: the block is over
            current = None
            continue
        m = re.match(r"    (\w+)\s*:(.*)$", line)
        if m:
            directive = m.group(1)
            current.directives[directive] = m.group(2)
        elif directive is not None:
            current.directives[directive] += "\n" + line
    return rules


@cache
def all_rules() -> tuple[Rule, ...]:
    # in the Snakefile's include order: `use rule a as b` needs a defined before
    snakefile = REPO / "workflow" / "Snakefile"
    included = re.findall(r'^include: "(rules/[\w.]+)"', snakefile.read_text(), flags=re.M)
    files = [snakefile, *(REPO / "workflow" / path for path in included)]
    assert set(files[1:]) == set((REPO / "workflow" / "rules").glob("*.smk")), "a rules file the Snakefile misses"
    known: dict[str, Rule] = {}
    for f in files:
        known.update({rule.name: rule for rule in parse_rules(f, known)})
    return tuple(known.values())


def script_rules() -> list[Rule]:
    return [r for r in all_rules() if "script" in r.directives]


# --- imports: AST over the script and every advinterp module it reaches ------------------------


def imported_modules(path: Path) -> list[str]:
    """Every module an Import/ImportFrom names anywhere in the file (inside functions too).

    ``from advinterp import x`` yields ``advinterp.x`` as well, and relative imports inside the
    library are made absolute.
    """
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(["advinterp", *([base] if base else [])])
            modules.append(base)
            if base == "advinterp":
                modules += [f"advinterp.{alias.name}" for alias in node.names]
    return modules


def third_party_imports(script: Path) -> tuple[dict[str, set[str]], set[str]]:
    """Third-party top-level modules reached from a script -> the files importing them, and the
    advinterp modules reached (by their short name)."""
    third_party: dict[str, set[str]] = {}
    reached, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path in reached:
            continue
        reached.add(path)
        for module in imported_modules(path):
            top, *rest = module.split(".")
            if top == "advinterp":
                todo.append(LIB / "__init__.py")  # importing a submodule runs the package first
                if rest and (LIB / f"{rest[0]}.py").exists():
                    todo.append(LIB / f"{rest[0]}.py")
            elif (SCRIPTS / f"{top}.py").exists():  # a helper next to the scripts (advinterp_path)
                todo.append(SCRIPTS / f"{top}.py")
            elif top not in sys.stdlib_module_names:
                third_party.setdefault(top, set()).add(str(path.relative_to(REPO)))
    lib_modules = {p.stem for p in reached if p.parent == LIB}
    for lib_module in lib_modules:
        for top in CALLED_THROUGH.get(lib_module, ()):
            third_party.setdefault(top, set()).add(f"src/advinterp/{lib_module}.py (through a library call)")
    return third_party, lib_modules


@cache
def distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(module: str) -> set[str]:
    """PyPI names (normalised) that ship a top-level module; the module's own name if none is installed."""
    return {norm(d) for d in distributions().get(module, [module])}


def provides(env: Env, module: str) -> bool:
    if distributions_of(module) & env.declared():
        return True
    return module in PROVIDED_BY and PROVIDED_BY[module] in env.conda


# --- env files -------------------------------------------------------------------------------------


def test_env_files_exist():
    assert env_files()


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_parses_and_pins_everything(path):
    env = load_env(path)
    assert env.channels == CHANNELS, f"{env.name}: channels {env.channels}, expected {CHANNELS}"
    assert not env.unpinned, f"{env.name}: not pinned (name=version, pip: name==version): {env.unpinned}"
    assert env.conda.get("python") == PYTHON, f"{env.name}: needs python={PYTHON}"
    if env.pip:
        assert "pip" in env.conda, f"{env.name}: has a pip: section but does not pin pip itself"
    assert not set(CONDA_NAMES) & set(env.conda), (
        f"{env.name}: use the conda-forge names {[CONDA_NAMES[n] for n in set(CONDA_NAMES) & set(env.conda)]}"
    )


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_versions_agree_with_pyproject(path):
    env = load_env(path)
    pins = pyproject_pins()
    versions = {pypi_name(n): v for n, v in env.conda.items() if n not in ("python", "pip")} | env.pip
    wrong = {n: f"{v} (pyproject: {pins.get(n, 'not a dependency')})" for n, v in versions.items()
             if pins.get(n) != v}
    assert not wrong, f"{env.name}: versions that differ from pyproject.toml's pins: {wrong}"


def test_envs_together_cover_every_dependency():
    declared = set().union(*(load_env(p).declared() for p in env_files()))
    missing = set(pyproject_pins()) - DRIVER_ONLY - declared
    assert not missing, f"pyproject dependencies that no workflow/envs/*.yaml declares: {sorted(missing)}"


# --- rules and their envs --------------------------------------------------------------------------


def test_rules_are_found():
    """The regex parse sees exactly the rules snakemake sees."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed, parsed = set(proc.stdout.split()), [r.name for r in all_rules()]
    assert len(parsed) == len(set(parsed)), f"rules parsed twice: {sorted({n for n in parsed if parsed.count(n) > 1})}"
    assert listed == set(parsed), (
        f"rules snakemake lists but tests/test_envs.py does not parse: {sorted(listed - set(parsed))}; "
        f"parsed but not listed: {sorted(set(parsed) - listed)}"
    )


def test_every_rule_that_runs_code_has_an_existing_env():
    problems = []
    for rule in all_rules():
        if not {"script", "run", "shell", "notebook"} & set(rule.directives):
            continue
        env = rule.path("conda")
        where = f"rule {rule.name} ({rule.file.relative_to(REPO)})"
        if env is None:
            problems.append(f"{where} has no conda:")
        elif not env.is_file() or env.parent != REPO / "workflow" / "envs" or env.suffix != ".yaml":
            problems.append(f"{where}: conda: {rule.literal('conda')} is not an existing workflow/envs/*.yaml")
    assert not problems, "\n".join(problems)


def test_every_env_is_used():
    used = {rule.path("conda") for rule in all_rules()}
    unused = [p.name for p in env_files() if p.resolve() not in used]
    assert not unused, f"workflow/envs/*.yaml that no rule uses: {unused}"


@pytest.mark.parametrize("rule", script_rules(), ids=lambda r: r.name)
def test_rule_env_provides_every_module_its_script_imports(rule):
    script, env_path = rule.path("script"), rule.path("conda")
    assert script.is_file(), f"rule {rule.name}: script {script} does not exist"
    assert env_path is not None and env_path.is_file(), f"rule {rule.name}: no existing conda: env"
    env = load_env(env_path)
    imports, _ = third_party_imports(script)
    missing = [
        f"rule {rule.name} ({script.relative_to(REPO)}) imports {module} (in {', '.join(sorted(files))}), "
        f"but {env.name} does not provide it (declare {' or '.join(sorted(distributions_of(module)))})"
        for module, files in sorted(imports.items())
        if not provides(env, module)
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_declares_nothing_its_rules_do_not_import(path):
    """Keeps the split meaningful: an env holds what its rules need, not the whole stack."""
    env = load_env(path)
    needed = set()
    for rule in script_rules():
        if rule.path("conda") == path.resolve():
            for module in third_party_imports(rule.path("script"))[0]:
                needed |= distributions_of(module)
    extra = env.declared() - needed
    assert not extra, f"{env.name}: declares {sorted(extra)}, which none of its rules' scripts imports"


@pytest.mark.parametrize("rule", script_rules(), ids=lambda r: r.name)
def test_script_imports_advinterp_path_first(rule):
    """advinterp is not installed in the envs: advinterp_path must put src/ on sys.path before
    anything imports the library."""
    script = rule.path("script")
    tree = ast.parse(script.read_text())
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    if not any(m.split(".")[0] == "advinterp" for m in imported_modules(script)):
        return
    first = imports[0] if imports else None
    assert isinstance(first, ast.Import) and [a.name for a in first.names] == ["advinterp_path"], (
        f"rule {rule.name}: {script.relative_to(REPO)} must `import advinterp_path` before any other import"
    )


# --- pyproject -------------------------------------------------------------------------------------


def test_every_third_party_import_of_the_library_is_declared():
    # captum, shap and lime were once imported by advinterp but missing from pyproject: a fresh
    # install would have failed at the first explain job.
    declared = set(pyproject_pins())
    undeclared = {}
    for path in sorted(LIB.glob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "advinterp":
                continue
            if not distributions_of(top) & declared:
                undeclared.setdefault(top, []).append(path.name)
    assert not undeclared, f"imported but not in pyproject dependencies: {undeclared}"
