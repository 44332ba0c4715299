"""advinterp: adversarial training and interpretability for single-cell classifiers.

The library behind the Snakemake workflow of this repository. Every step of the
workflow calls one function here; the workflow scripts only read the ``snakemake``
object, call that function and write its outputs.
"""

__version__ = "0.1.0"

# Every module of the library. The workflow copies these files when it runs as a module from a git
# source (library_dir() in workflow/rules/common.smk); tests/test_layout.py checks the list is complete.
__all__ = [
    "adversarial",
    "allen_data",
    "allen_mlp",
    "attack_sanity",
    "attacks",
    "autoattack",
    "batched",
    "compare",
    "config",
    "consensus",
    "datasets",
    "de",
    "device",
    "download",
    "embedding",
    "enrichment",
    "explain",
    "explain_checks",
    "grn",
    "io",
    "keygenes",
    "model",
    "paper",
    "plots",
    "preprocess",
    "regcode_attribution",
    "regcode_data",
    "regcode_model",
    "regcode_plots",
    "regimes",
    "robustness",
    "robustness_tables",
    "simulate",
    "singlecellnet",
    "smk",
    "specs",
    "store",
    "tabnet",
    "type_relevance",
]
