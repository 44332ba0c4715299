"""The paper's figures and tables by name: the index and messages (library), the targets (workflow)."""

import shutil

import pytest
from PIL import Image
from workflow_runs import snakemake

from advinterp.paper import ITEMS, index_markdown, missing_message, panel_files


def test_every_item_names_its_panels_and_tables():
    for name, item in ITEMS.items():
        assert item.is_table or item.panels, name
        for panel in item.panels:
            assert panel.figure.startswith("figures/") and panel.tables, (name, panel)


def test_missing_dataset_names_the_config_that_runs_it():
    assert missing_message("fig2", ["sergio"]) is None
    assert missing_message("fig3", ["sergio", "pbmc68k"]) == (
        "fig3 needs dataset 'hippocampus', which this config does not run; it is in config/paper.yaml: "
        "snakemake --cores 8 fig3 --configfile config/paper.yaml")
    assert "table2 needs dataset 'pancreas'" in missing_message("table2", [])
    assert missing_message("fig5", ["sergio", "lung", "allen_mtg"]) is None
    assert missing_message("fig5", ["sergio", "lung"]) == (
        "fig5 needs dataset 'allen_mtg', which this config does not run; it is in config/paper.yaml "
        "(allen_mlp.datasets): snakemake --cores 8 fig5 --configfile config/paper.yaml")
    assert "needs dataset 'lung' and 'allen_mtg'" in missing_message("fig5", ["sergio"])


def test_index_maps_panels_to_tables():
    text = index_markdown(["sergio"], "adv_fgsm")
    assert "| d-e | test accuracy under FGSM (d) and PGD (e)" in text
    assert "`sergio/figures/sweep_accuracy.png` | `sergio/robustness/sweep.tsv` |" in text
    assert "Not built with this config: fig3 needs dataset 'hippocampus'" in text
    assert panel_files("fig3", "adv_pgd")["c"] == "results/hippocampus/figures/consensus_adv_pgd.png"


@pytest.mark.workflow
def test_paper_target_builds_only_its_figure(repo, runs, tmp_path):
    """`snakemake fig2` on a finished tiny run with results/paper removed: only the composition runs."""
    work = tmp_path / "work"
    shutil.copytree(runs[0], work, symlinks=True)
    shutil.rmtree(work / "results/paper")
    out = snakemake(repo, work, "fig2").stderr
    jobs = {line.split()[0] for line in out.split("Job stats:")[1].split("total")[0].splitlines()[3:] if line.strip()}
    assert jobs == {"fig2", "paper_figure", "paper_index"}, out[-3000:]
    paper = work / "results/paper"
    assert sorted(p.name for p in paper.iterdir()) == ["fig2.pdf", "fig2.png", "index.md"]
    width, height = Image.open(paper / "fig2.png").size
    assert width > 1000 and height > width  # three stage figures stacked, full width
    index = (paper / "index.md").read_text()
    assert "## fig2: Adversarial training and key-gene recovery (SERGIO)" in index
    assert "`sergio/figures/keygenes_all_mr.png` | `sergio/keygenes/recovery.tsv` |" in index


@pytest.mark.workflow
def test_default_target_builds_what_the_config_can(runs):
    paper = runs[0] / "results/paper"
    assert sorted(p.name for p in paper.iterdir() if not p.name.startswith(".")) == [
        "fig1.pdf", "fig1.png", "fig2.pdf", "fig2.png", "figS2.pdf", "figS2.png", "index.md"]


@pytest.mark.workflow
@pytest.mark.parametrize("target, message", [
    ("fig3", "fig3 needs dataset 'hippocampus', which this config does not run; it is in config/paper.yaml"),
    ("table1", "table1 needs dataset 'hippocampus'"),
    ("fig5", "fig5 needs dataset 'lung' and 'allen_mtg', which this config does not run"),
])
def test_target_of_an_unconfigured_dataset_says_which_config(repo, runs, target, message):
    proc = snakemake(repo, runs[0], "-n", target, check=False)
    assert proc.returncode != 0 and message in proc.stderr + proc.stdout
