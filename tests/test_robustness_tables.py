"""advinterp.robustness_tables: the robustness arm's steps that need only pandas (no torch)."""

import subprocess
import sys

import pandas as pd
import pytest

from advinterp.robustness_tables import SWEEP_COLUMNS, combine_sweeps, select_epsilon

# Modules that the light environment (workflow/envs/data.yaml) imports: none may pull in torch.
TORCH_FREE = ["advinterp.robustness_tables", "advinterp.consensus", "advinterp.keygenes", "advinterp.config",
              "advinterp.allen_data", "advinterp.datasets"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_does_not_import_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"importing {module} imports torch:\n{result.stderr}"


def test_combine_sweeps(tmp_path):
    rows = pd.DataFrame([("pgd", 0.1, "adversarial", "whitebox", 1, 0.5, 0.4),
                         ("fgsm", 0.1, "standard", "whitebox", 0, 0.6, 0.5)], columns=SWEEP_COLUMNS)
    rows.iloc[[0]].to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    rows.iloc[[1]].to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    out = combine_sweeps([tmp_path / "a.tsv", tmp_path / "b.tsv"])
    assert list(out.columns) == SWEEP_COLUMNS and out["attack"].tolist() == ["fgsm", "pgd"]
    rows.drop(columns="seed").to_csv(tmp_path / "c.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match="columns"):
        combine_sweeps([tmp_path / "c.tsv"])


def selection_table():
    return pd.DataFrame({
        "attack": "fgsm", "perturbation": "adversarial",
        "epsilon": [0.0, 0.1, 0.5, 1.0, 2.0],
        "preservation": [1.0, 0.9, 0.7, 0.45, 0.3],
        "accuracy": [0.95, 0.9, 0.6, 0.4, 0.3],
        "accuracy_drop": [0.0, 0.05, 0.35, 0.55, 0.65],
    })


def test_select_epsilon_rule_fallbacks_and_override():
    t = selection_table()
    choice = select_epsilon(t, "fgsm", 0.5, 0.2)
    assert choice["epsilon"] == 0.5 and choice["rule"].startswith("largest epsilon")
    assert [g["epsilon"] for g in choice["grid"]] == [0.1, 0.5, 1.0, 2.0]
    assert select_epsilon(t, "fgsm", 0.4, 0.2)["epsilon"] == 1.0
    fallback = select_epsilon(t, "fgsm", 0.8, 0.2)
    assert fallback["epsilon"] == 0.1 and fallback["rule"].startswith("fallback")
    assert select_epsilon(t, "fgsm", 0.99, 0.2)["epsilon"] == 0.1
    over = select_epsilon(t, "fgsm", 0.5, 0.2, override=1.2)
    assert over["epsilon"] == 1.2 and "config" in over["rule"]
