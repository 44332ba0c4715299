"""`snakemake --report` after the tiny run: every figure and table is in it, and it renders in a browser.

The report is a single HTML file whose content is drawn by JavaScript (React), so it is opened in
headless Chromium: a screenshot must not be blank, and the DOM must show the datasets, and after
clicking through the menu as a user would (dataset → stage → a result's info button), the stage's
files and a caption with its parameters. Skipped with the reason where there is no Chromium;
`.ci/run` installs it and sets ADVINTERP_CI=1, which turns the skip into a failure.
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from workflow_runs import snakemake

pytestmark = pytest.mark.workflow

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

# per dataset and stage (the report's categories and subcategories), the files the tiny run must show
REGIMES = ("standard", "adv_fgsm", "adv_pgd")
COMMON = {
    "data": ["figures/umap.png"],
    "standard model": ["figures/standard.confusion.png", "figures/standard.training_curve.png",
                       "metrics/standard.json"],
    "robustness": ["figures/adversarial_umap.png", "figures/preservation.png", "figures/sweep_accuracy.png",
                   "figures/sweep_macro_f1.png", "robustness/sweep.tsv", "robustness/preservation.tsv",
                   "robustness/selected_epsilon.json", "metrics/adv_fgsm.json", "metrics/adv_pgd.json",
                   "robustness/sanity.tsv"],
    "interpretability": [f"consensus/{r}.tsv" for r in REGIMES] + [f"figures/consensus_{r}.png" for r in REGIMES],
}
EXPECTED = {
    "sergio": {**COMMON,
               "data": COMMON["data"] + ["data/network.tsv", "data/key_genes.tsv"],
               "robustness": COMMON["robustness"] + ["figures/imbalance.png", "robustness/imbalance.tsv"],
               "interpretability": COMMON["interpretability"] + [
                   "keygenes/recovery.tsv", "figures/keygenes_all_mr.png", "figures/keygenes_class_mr.png",
                   "figures/keygenes_auroc.png", "explain/evaluation.tsv", "explain/sanity.tsv",
                   "figures/explain_evaluation.png"]},
    "mine": {**COMMON,
             "biology": ["de/wilcoxon.tsv", "compare/consensus_vs_de.tsv", "figures/venn_consensus_de.png",
                         "tables/top_genes.tsv", "tables/top_genes.md", "enrichment/pooled.tsv",
                         "enrichment/class_alpha.tsv", "figures/enrichment_pooled.png"]},
}

# clicks through the report's menu like a user (link labels, or info:<file> for a result's info button)
NAVIGATE = """<script>
function advinterpStep(step) {
  let target;
  if (step.startsWith("info:")) {
    const row = [...document.querySelectorAll("tr")]
      .find(r => r.cells.length && r.cells[0].textContent.trim() === step.slice(5));
    const links = row ? row.querySelectorAll("a") : [];
    target = links[links.length - 1];
  } else {
    target = [...document.querySelectorAll("a")].find(a => a.textContent.trim() === step);
  }
  if (!target) { document.body.setAttribute("data-advinterp-missing", step); return false; }
  target.click();
  return true;
}
window.addEventListener("load", () => {
  const steps = STEPS;
  let i = 0;
  const next = () => { if (i < steps.length && advinterpStep(steps[i++])) setTimeout(next, 500); };
  setTimeout(next, 500);
});
</script>"""


def browser():
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        if shutil.which(name):
            return shutil.which(name)
    reason = "no Chromium (Debian: apt-get install -y --no-install-recommends chromium)"
    if os.environ.get("ADVINTERP_CI") == "1":
        pytest.fail(f"CI must run the report test: {reason}")
    pytest.skip(reason)


def chromium(page, tmp_path, *args):
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"  # a fresh, empty user-data-dir
    profile.mkdir()
    proc = subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def visible_text(dom):
    body = re.sub(r"<script.*?</script>", " ", dom[dom.index("<body"):], flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


@pytest.fixture(scope="module")
def report(repo, runs):
    workdir = runs[0]
    proc = snakemake(repo, workdir, "--report", "results/report.html")
    # docutils reports a broken caption (e.g. a stray |x| substitution) on stderr and carries on
    problems = re.findall(r".*\((?:ERROR|WARNING|SEVERE)/\d\).*", proc.stdout + proc.stderr)
    assert not problems, problems
    return workdir / "results/report.html"


def test_every_figure_and_table_is_in_the_report(report):
    html = report.read_text()
    categories = json.loads(re.search(r"^\s*var categories = (\{.*\});\s*$", html, flags=re.M).group(1))
    assert sorted(categories) == sorted(EXPECTED)
    for dataset, stages in EXPECTED.items():
        assert sorted(categories[dataset]) == sorted(stages), dataset
        for stage, expected in stages.items():
            files = categories[dataset][stage]
            missing = [f for f in expected if f"results/{dataset}/{f}" not in files]
            assert not missing, (dataset, stage, missing)
    # every figure the run made is in the report
    shown = {f for stages in categories.values() for files in stages.values() for f in files}
    for dataset in EXPECTED:
        for png in (report.parent / dataset / "figures").glob("*.png"):
            assert f"results/{dataset}/figures/{png.name}" in shown


def test_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "report.png"
    chromium(report, tmp_path, "--window-size=1400,1000", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() / counts.sum() < 0.95, "the report rendered blank"
    text = visible_text(chromium(report, tmp_path, "--dump-dom"))
    # the landing page: the rule graph's menu and one results entry per dataset
    for entry in ["Snakemake Report", "Workflow", "Statistics", "sergio", "mine"]:
        assert entry in text, entry


def navigate(report, tmp_path, steps):
    """The report's visible text after clicking through `steps` (see NAVIGATE)."""
    page = tmp_path / "navigate.html"
    html = report.read_text()
    end = html.rindex("</body>")
    page.write_text(html[:end] + NAVIGATE.replace("STEPS", json.dumps(steps)) + html[end:])
    dom = chromium(page, tmp_path, "--dump-dom")
    missing = re.search(r'<body[^>]*data-advinterp-missing="([^"]*)"', dom)
    assert not missing, f"no {missing.group(1)!r} to click in the report"
    return visible_text(dom)


def test_report_navigation_shows_files_and_captions(report, tmp_path):
    text = navigate(report, tmp_path, ["sergio", "robustness"])
    for f in EXPECTED["sergio"]["robustness"]:
        assert f"results/sergio/{f}" in text, f
    text = navigate(report, tmp_path, ["mine", "biology"])
    for f in EXPECTED["mine"]["biology"]:
        assert f"results/mine/{f}" in text, f
    # a result's caption, with the parameters of the tiny config
    text = navigate(report, tmp_path, ["sergio", "robustness", "info:results/sergio/robustness/sweep.tsv"])
    assert "Epsilon sweep of sergio" in text
    assert "Parameters: attacks fgsm, pgd at epsilon 0, 0.25, 1.0" in text, text[-2000:]
