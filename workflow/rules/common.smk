import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def library_dir():
    """A local directory holding this workflow's own advinterp library (the package directory
    ``advinterp/`` inside it), for parsing here and for every job's script.

    In a checkout, or a module loaded from a local path, that is the repository's src/. When the
    workflow runs as a module from a git source (snakedeploy's ``github(...)``, ``gitfile(...)``),
    nothing of it is on disk: the library's files (listed in its ``__init__.py``'s ``__all__``) are
    read through Snakemake's source cache into the directory where Snakemake caches this workflow's
    scripts, which every script job has on its ``sys.path``, with or without --use-conda.
    """
    checkout = os.path.join(str(workflow.basedir), os.pardir, "src")
    if os.path.isfile(os.path.join(checkout, "advinterp", "__init__.py")):
        return os.path.abspath(checkout)
    import ast
    import shutil

    scripts = os.path.dirname(workflow.source_path("../scripts/advinterp_path.py"))
    package = os.path.join(scripts, "advinterp")
    os.makedirs(package, exist_ok=True)
    init = workflow.source_path("../../src/advinterp/__init__.py")
    modules = next(
        ast.literal_eval(node.value)
        for node in ast.parse(open(init).read()).body
        if isinstance(node, ast.Assign) and node.targets[0].id == "__all__"
    )
    for name in ["__init__", *modules]:
        cached = workflow.source_path(f"../../src/advinterp/{name}.py")
        shutil.copyfile(cached, os.path.join(package, f"{name}.py"))
    return scripts


# The config checks come from the workflow's own library (light: no torch, no scanpy), so
# parsing works in a bare snakemake environment too, e.g. with --use-conda.
LIBRARY_DIR = library_dir()
sys.path.insert(0, LIBRARY_DIR)
from advinterp.specs import (
    ATTACKS,
    REGIMES,
    base_regime,
    regime_architecture,
    regime_attack,
    trained_here,
)
from advinterp.config import (
    SIMULATED_SOURCES,
    canonical,
    check_config,
    checked_methods,
    describe_validation_error,
    explained_methods,
    model_kind,
    model_params,
    voting_methods,
    evaluation_params,
    load_registry,
    resolve_datasets,
    sweep_seeds,
    without_device_batches,
)

try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as err:
    # Snakemake's own message buries the offending key under a dump of the schema.
    raise WorkflowError(f"invalid config: {describe_validation_error(err)}") from None
try:
    DATASET_ENTRIES = resolve_datasets(
        config, load_registry(workflow.source_path("../resources/datasets.yaml"))
    )
except ValueError as err:
    raise WorkflowError(f"invalid config: {err}") from None
for _name, _entry in DATASET_ENTRIES.items():
    try:
        validate(_entry, "../schemas/dataset.schema.yaml")
    except WorkflowError as err:
        where = (
            "custom_datasets"
            if _name in config["custom_datasets"]
            else "workflow/resources/datasets.yaml"
        )
        raise WorkflowError(
            f"invalid dataset {_name!r} ({where}): {describe_validation_error(err)}"
        ) from None
try:
    check_config(config, DATASET_ENTRIES)
except ValueError as err:
    raise WorkflowError(f"invalid config: {err}") from None
# Key order must not depend on how the config was assembled (see canonical()): rule params
# built from the config or from a dataset entry are compared as text between runs.
_canonical_config = canonical(config)
config.clear()
config.update(_canonical_config)
DATASET_ENTRIES = canonical(DATASET_ENTRIES)


DATASETS = list(config["datasets"])
# regimes trained by train_regime (its wildcard constraint)
TRAINED_BY_TRAIN_REGIME = "|".join(r for r in REGIMES if trained_here(r))
# explainers run on every model: the consensus voters and the extra methods (scored, not voting) -
# of the unprefixed regimes' model.kind (explain) and of the tabnet_* regimes (explain_tabnet)
EXPLAINED_METHODS = explained_methods(config, "standard")
TABNET_EXPLAINED_METHODS = explained_methods(config, "tabnet_standard")
UNPREFIXED_REGIME_PATTERN = "|".join(
    r for r in REGIMES if regime_architecture(r) is None
)
TABNET_REGIME_PATTERN = "|".join(
    r for r in REGIMES if regime_architecture(r) == "tabnet"
)
# every voter of either classifier (keygenes/recovery.tsv counts those a model has)
ALL_VOTERS = list(
    dict.fromkeys(
        [
            *config["interpretability"]["methods"],
            *config["interpretability"]["tabnet_methods"],
        ]
    )
)
# the Allen MLP arm's datasets (paper Fig. 5c): loaded like the others, analysed only by that arm
ALLEN_DATASETS = list(config["allen_mlp"]["datasets"])
# SingleCellNet's runs (paper Fig. 5a,b): name -> reference, query, labels
SCN_RUNS = dict(config["singlecellnet"]["runs"])


def datasets_with_source(*sources):
    """The datasets of this run (the main arms' and the Allen MLP arm's) with one of these
    sources (registry key `source`)."""
    return [ds for ds in DATASET_ENTRIES if DATASET_ENTRIES[ds]["source"] in sources]


def constraint_matching(names):
    """Wildcard constraint matching exactly these datasets (nothing when there are none)."""
    return "|".join(names) if names else "(?!)"


# Simulated datasets (known key genes): sergio (network built here) and published SERGIO
# networks (downloaded, simulated with their own master-regulator rates).
SIMULATED = datasets_with_source(*SIMULATED_SOURCES)
PUBLISHED_NETWORKS = datasets_with_source("sergio_network")
PUBLISHED_PATTERN = constraint_matching(PUBLISHED_NETWORKS)
# Datasets loaded from a file or a package: the real-data arm runs on these.
LOADED = datasets_with_source("scanpy", "url", "path")
LOADED_PATTERN = constraint_matching(LOADED)
DOWNLOADED = datasets_with_source("url", "sergio_network")
# Rules that use torch ask the scheduler for a GPU only when the config asks for one,
# so CPU runs are not throttled by a gpu resource limit.
GPU = 1 if config["device"] == "cuda" else 0


def all_outputs():
    """Final targets of the default run: per dataset, the model, its metrics and figures."""
    outputs = []
    for ds in DATASETS:
        outputs += [
            f"results/{ds}/data/preprocessed.h5ad",
            f"results/{ds}/models/standard.pt",
            f"results/{ds}/models/standard.history.tsv",
            f"results/{ds}/metrics/standard.json",
            f"results/{ds}/figures/umap.png",
            f"results/{ds}/figures/standard.confusion.png",
            f"results/{ds}/figures/standard.training_curve.png",
        ]
        outputs += robustness_outputs(ds)
        outputs += interpretability_outputs(ds)
        if ds in LOADED:
            outputs += biology_outputs(ds)
    for ds in ALLEN_DATASETS:
        outputs += allen_outputs(ds)
    for run in SCN_RUNS:
        outputs += [
            f"results/{run}/annotator/precision_recall.tsv",
            f"results/{run}/figures/annotator_precision_recall.png",
        ]
    return outputs + regcode_outputs() + paper_buildable()


def allen_selection_rule():
    """The ε rule's settings for the Allen MLP arm: the main arm's thresholds, this arm's attacks,
    and allen_mlp.adversarial.epsilon as the override of its attack."""
    adversarial = config["allen_mlp"]["adversarial"]
    return {
        **config["robustness"],
        "attacks": config["allen_mlp"]["attacks"],
        "epsilon": {
            attack: adversarial["epsilon"] if attack == adversarial["attack"] else None
            for attack in config["allen_mlp"]["attacks"]
        },
    }


def singlecellnet_inputs(wildcards):
    """The raw counts of a SingleCellNet run's reference and query, and its label map if any
    (:func:`user_or_shipped`)."""
    run = SCN_RUNS[wildcards.run]
    inputs = {
        "reference": f"results/{run['reference']}/data/raw.h5ad",
        "query": f"results/{run['query']}/data/raw.h5ad",
    }
    if run["labels"]:
        inputs["labels"] = user_or_shipped(run["labels"])
    return inputs


def scn_label_key(wildcards, role):
    return DATASET_ENTRIES[SCN_RUNS[wildcards.run][role]]["label_key"]


RC = config["regulatory_code"]


def regcode_outputs():
    """The regulatory-code arm's targets (Koo et al. 2019's Table 1), when regulatory_code.enabled."""
    if not RC["enabled"]:
        return []
    return [
        "results/regulatory_code/table1.tsv",
        "results/regulatory_code/table1.md",
        "results/regulatory_code/figures/logos.png",
    ]


def regcode_reg_name(regularised):
    return "reg" if regularised else "plain"


def regcode_trial_seed(wildcards):
    """A trial's seed: the run's seed + the trial number."""
    return int(config["seed"]) + int(wildcards.trial)


def regcode_attribution_parts(wildcards):
    """Per-sequence scores of every model: sizes x models x regularisation x regimes x trials."""
    return expand(
        "results/regulatory_code/attribution/{size}/{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.tsv",
        size=RC["dataset_sizes"],
        rc_model=RC["models"],
        rc_reg=[regcode_reg_name(r) for r in RC["regularised"]],
        rc_regime=RC["regimes"],
        trial=range(int(RC["trials"])),
    )


def regcode_pick(value, choices):
    """``value`` when the run has it among ``choices``, else the run's first choice."""
    return value if value in list(choices) else list(choices)[0]


def regcode_logo_inputs(wildcards):
    """Data and model (trial 0, first dataset size) whose attribution logos are drawn: the attribution
    section's logo_* choice where the run trains it, else the run's first of each."""
    att = RC["attribution"]
    size = RC["dataset_sizes"][0]
    model = regcode_pick(att["logo_model"], RC["models"])
    reg = regcode_reg_name(regcode_pick(att["logo_regularised"], RC["regularised"]))
    regime = regcode_pick(att["logo_regime"], RC["regimes"])
    return {
        "data": f"results/regulatory_code/data/synthetic_{size}.npz",
        "model": f"results/regulatory_code/models/{size}/{model}.{reg}.{regime}.trial0.pt",
    }


def allen_outputs(ds):
    """The Allen MLP arm's targets (paper Fig. 5c) on one Allen zip dataset."""
    return [
        f"results/{ds}/annotator/f1.tsv",
        f"results/{ds}/figures/annotator_f1.png",
    ]


def preprocess_entry(wildcards):
    """What the preprocessing needs of {dataset}'s entry: label key, kind of values, overrides."""
    entry = DATASET_ENTRIES[wildcards.dataset]
    return canonical(
        {
            "label_key": entry["label_key"],
            "values": entry.get("values", "counts"),
            "preprocess": entry.get("preprocess", {}),
        }
    )


MTX_FILES = {"matrix": "matrix.mtx.gz", "obs": "obs.csv", "var": "var.csv"}


def download_path(ds):
    """Where a downloaded dataset is kept (git-ignored): one file, or a mtx dataset's three
    (matrix, obs, var)."""
    fmt = DATASET_ENTRIES[ds]["format"]
    if fmt == "mtx":
        return [f"resources/data/{ds}.{ext}" for ext in MTX_FILES.values()]
    return f"resources/data/{ds}.{'zip' if fmt == 'allen_zip' else fmt}"


def network_file(kind):
    """Where a published network's file (interactions or regulators) is kept (git-ignored)."""
    return f"resources/data/{{dataset}}.{kind}.txt"


def dataset_source(wildcards):
    """The file a dataset is loaded from: its download, the user's path, or none (scanpy ships it)."""
    entry = DATASET_ENTRIES[wildcards.dataset]
    if entry["source"] == "url":
        return download_path(wildcards.dataset)
    if entry["source"] == "path":
        return entry["path"]
    return []


def download_url(wildcards):
    """URL of a download: the dataset's, or one file of a published network (ext interactions.txt ...)."""
    entry = DATASET_ENTRIES[wildcards.dataset]
    if entry["source"] == "sergio_network":
        return entry["network"][wildcards.ext.removesuffix(".txt")]
    if entry["format"] == "mtx":
        role = {ext: role for role, ext in MTX_FILES.items()}[wildcards.ext]
        return entry["files"][role]
    return entry["url"]


def download_sha256(wildcards):
    entry = DATASET_ENTRIES[wildcards.dataset]
    if entry["source"] == "sergio_network" or entry["format"] == "mtx":
        return None  # recorded in resources/checksums.tsv by the first download
    return entry.get("sha256")


def top_n_of(wildcards):
    """Consensus top-N of {dataset}: the dataset's own top_n, else interpretability.top_n."""
    return DATASET_ENTRIES[wildcards.dataset].get(
        "top_n", config["interpretability"]["top_n"]
    )


def top_genes_of(wildcards):
    """Genes per class in Tables 1-2: the dataset's top_genes, else biology.top_genes."""
    return DATASET_ENTRIES[wildcards.dataset].get(
        "top_genes", config["biology"]["top_genes"]
    )


def biology_regime_ranked(wildcards):
    """Ranked consensus table of the model compared with DE (biology.regime)."""
    return f"results/{wildcards.dataset}/consensus/{config['biology']['regime']}.ranked.tsv"


def enrichment_of(wildcards):
    """biology.enrichment with {dataset}'s overrides."""
    from advinterp.config import enrichment_params

    return canonical(enrichment_params(config, DATASET_ENTRIES[wildcards.dataset]))


def dataset_organism(wildcards):
    return DATASET_ENTRIES[wildcards.dataset]["organism"]


def enrichment_gmt(wildcards):
    """The gene-set file of the gmt backend (an input, so a missing file fails before the job):
    relative to the working directory, else to workflow/ (the registry's shipped files, also when
    the workflow runs as a module from elsewhere).
    """
    params = enrichment_of(wildcards)
    if params["backend"] != "gmt":
        return []
    return user_or_shipped(params["gmt"])


def user_or_shipped(path):
    """A file named in the config: relative to the working directory, else to workflow/ (a file the
    workflow ships, also when it runs as a module from elsewhere). A file found in neither place
    stays as given, so Snakemake names it as a missing input."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    shipped = os.path.join(str(workflow.basedir), path)
    if os.path.exists(shipped):  # a checkout, or a module from a local path
        return shipped
    if os.path.isdir(str(workflow.basedir)):  # on disk, and not there
        return path
    # a module from a git source: Snakemake's cached copy (a stable path for a tag or commit)
    return workflow.source_path(os.path.join(os.pardir, path))


def load_entry(wildcards):
    """What loading {dataset} needs of its entry (not its description or downstream settings)."""
    entry = DATASET_ENTRIES[wildcards.dataset]
    keys = [
        "source",
        "format",
        "label_key",
        "organism",
        "values",
        "counts_layer",
        "n_cells",
        "labels",
        "gene_column",
        "cell_filter",
    ]
    return {k: entry[k] for k in keys if k in entry}


def biology_outputs(ds):
    """Real-data-arm targets of one dataset."""
    return [
        f"results/{ds}/de/wilcoxon.tsv",
        f"results/{ds}/compare/consensus_vs_de.tsv",
        f"results/{ds}/figures/venn_consensus_de.png",
        f"results/{ds}/tables/top_genes.tsv",
        f"results/{ds}/tables/top_genes.md",
        f"results/{ds}/enrichment",
        f"results/{ds}/figures/enrichment_pooled.png",
    ]


def raw_h5ad(wildcards):
    """Counts AnnData of a dataset (the simulated one for sergio)."""
    return f"results/{wildcards.dataset}/data/raw.h5ad"


def robustness_outputs(ds):
    """Robustness-arm targets of one dataset."""
    outputs = [
        f"results/{ds}/robustness/sweep.tsv",
        f"results/{ds}/robustness/preservation.tsv",
        f"results/{ds}/robustness/selected_epsilon.json",
        f"results/{ds}/robustness/sanity.tsv",
        f"results/{ds}/robustness/autoattack.tsv",
        f"results/{ds}/figures/sweep_accuracy.png",
        f"results/{ds}/figures/sweep_macro_f1.png",
        f"results/{ds}/figures/preservation.png",
        f"results/{ds}/figures/adversarial_umap.png",
    ]
    for attack in config["robustness"]["attacks"]:
        outputs += [
            f"results/{ds}/models/adv_{attack}.pt",
            f"results/{ds}/metrics/adv_{attack}.json",
        ]
    if ds in config["imbalance"]["datasets"]:
        outputs += [
            f"results/{ds}/robustness/imbalance.tsv",
            f"results/{ds}/figures/imbalance.png",
        ]
    return outputs


def seed_of(wildcards):
    """The {seed} wildcard as an integer (params of the seeded training rule)."""
    return int(wildcards.seed)


def standard_model(wildcards):
    """Standard model trained with seed {seed}: the main one for the config seed."""
    if int(wildcards.seed) == config["seed"]:
        return f"results/{wildcards.dataset}/models/standard.pt"
    return f"results/{wildcards.dataset}/models/seeds/standard.seed{wildcards.seed}.pt"


def sanity_models(wildcards):
    """Models whose robustness evaluation is sanity-checked and drawn over epsilon (config seed): standard,
    adv_{attack} and every other regime of interpretability.regimes."""
    regimes = [
        "standard",
        *(f"adv_{attack}" for attack in config["robustness"]["attacks"]),
        *config["interpretability"]["regimes"],
    ]
    return [
        f"results/{wildcards.dataset}/models/{regime}.pt"
        for regime in dict.fromkeys(regimes)
    ]


def sanity_surrogate(wildcards):
    """Independently trained standard model (seed + 1) whose attacked cells are transferred."""
    return (
        f"results/{wildcards.dataset}/models/seeds/standard.seed{config['seed'] + 1}.pt"
    )


def sweep_parts(wildcards):
    """Per-(attack, seed) sweep tables of a dataset."""
    return expand(
        "results/{dataset}/robustness/sweep/{attack}.seed{seed}.tsv",
        dataset=wildcards.dataset,
        attack=config["robustness"]["attacks"],
        seed=sweep_seeds(config),
    )


def interpretability_seeds():
    """Seeds of the models behind key-gene recovery: seed, seed + 1, ..."""
    return [config["seed"] + k for k in range(config["interpretability"]["seeds"])]


def interpretability_outputs(ds):
    """Interpretability-arm targets of one dataset."""
    regimes = config["interpretability"]["regimes"]
    outputs = [f"results/{ds}/consensus/{r}.tsv" for r in regimes]
    outputs += [f"results/{ds}/consensus/{r}.ranked.tsv" for r in regimes]
    outputs += [f"results/{ds}/figures/consensus_{r}.png" for r in regimes]
    # DeepSHAP's type relevance: MLP models only (DeepSHAP cannot explain TabNet: advinterp.specs)
    outputs += [
        f"results/{ds}/figures/type_relevance_{r}.png"
        for r in regimes
        if model_kind(config, r) == "mlp"
    ]
    if ds in config["explanation_checks"]["datasets"]:
        outputs += [
            f"results/{ds}/explain/evaluation.tsv",
            f"results/{ds}/explain/sanity.tsv",
            f"results/{ds}/figures/explain_evaluation.png",
        ]
    if ds in SIMULATED:
        outputs += [
            f"results/{ds}/keygenes/recovery.tsv",
            f"results/{ds}/figures/keygenes_all_mr.png",
            f"results/{ds}/figures/keygenes_class_mr.png",
            f"results/{ds}/figures/keygenes_auroc.png",
            f"results/{ds}/keygenes/regimes.tsv",
            f"results/{ds}/figures/keygenes_regimes.png",
        ]
    return outputs


def model_path(ds, regime, seed):
    """Model of a regime trained with a seed (the main models for the config seed)."""
    if int(seed) == config["seed"]:
        return f"results/{ds}/models/{regime}.pt"
    return f"results/{ds}/models/seeds/{regime}.seed{seed}.pt"


def regime_model(wildcards):
    """Model of {regime} trained with {seed}."""
    return model_path(wildcards.dataset, wildcards.regime, wildcards.seed)


def explain_tables(dataset, regime, seed, methods=None):
    """Per-method importance tables of one (regime, seed): every method explained on its model, or ``methods``'."""
    folder = (
        f"results/{dataset}/explain/{regime}"
        if seed == config["seed"]
        else f"results/{dataset}/explain/seeds/seed{seed}/{regime}"
    )
    return [f"{folder}/{m}.tsv" for m in methods or explained_methods(config, regime)]


def regime_model_main(wildcards):
    """Model of {regime} trained with the config seed."""
    return f"results/{wildcards.dataset}/models/{wildcards.regime}.pt"


def explain_main(wildcards):
    """Importance tables of {regime}'s voters for the config seed (the consensus of the main models)."""
    return explain_tables(
        wildcards.dataset,
        wildcards.regime,
        config["seed"],
        voting_methods(config, wildcards.regime),
    )


def model_of(wildcards):
    """The model settings of {regime} (standard without a {regime} wildcard), an MLP's or a TabNet's."""
    return model_params(config, wildcards.get("regime", "standard"))


def voters_of(wildcards):
    """The consensus voters of {regime}'s model (an MLP's or a TabNet's)."""
    return voting_methods(config, wildcards.regime)


def checked_methods_of(wildcards):
    """The explainers explanation_checks checks on {regime}'s model."""
    return checked_methods(config, wildcards.regime)


def explain_all(wildcards):
    """Importance tables of every regime and seed, keyed '{regime}__seed{seed}' (key-gene recovery)."""
    return {
        f"{r}__seed{s}": explain_tables(wildcards.dataset, r, s)
        for r in config["interpretability"]["regimes"]
        for s in interpretability_seeds()
    }


def regime_training_metrics(wildcards):
    """Training metrics (clean test accuracy) of every regime and seed, keyed '{regime}__seed{seed}'
    (keygenes/regimes.tsv)."""
    ds = wildcards.dataset
    files = {}
    for regime in config["interpretability"]["regimes"]:
        for seed in interpretability_seeds():
            main = seed == config["seed"]
            if regime == "standard":
                path = (
                    f"results/{ds}/metrics/standard.json"
                    if main
                    else f"results/{ds}/models/seeds/standard.seed{seed}.json"
                )
            else:
                path = (
                    f"results/{ds}/models/{regime}.training.json"
                    if main
                    else f"results/{ds}/models/seeds/{regime}.seed{seed}.json"
                )
            files[f"{regime}__seed{seed}"] = path
    return files


def regime_inputs(wildcards):
    """What a regime trained by train_regime starts from - the data, its base model (standard or standard_reg,
    same seed) and, for an adversarial regime, the selected epsilon."""
    ds, regime = wildcards.dataset, wildcards.regime
    seed = int(wildcards.get("seed", config["seed"]))
    inputs = {"data": f"results/{ds}/data/preprocessed.h5ad"}
    base = base_regime(regime)
    if base is not None:
        inputs["base"] = model_path(ds, base, seed)
    if regime_attack(regime) is not None:
        inputs["epsilon"] = f"results/{ds}/robustness/selected_epsilon.json"
    return inputs


def label_randomised_inputs(wildcards):
    """A regime trained on shuffled labels continues from the shuffled-label model of its base regime
    (standard or standard_reg), as the real one does; adversarial regimes at the selected epsilon.
    """
    ds, base = wildcards.dataset, base_regime(wildcards.regime)
    inputs = {}
    if base is not None:
        inputs["base"] = f"results/{ds}/models/label_randomised/{base}.pt"
    if regime_attack(wildcards.regime) is not None:
        inputs["epsilon"] = f"results/{ds}/robustness/selected_epsilon.json"
    return inputs


def label_randomised_model(wildcards):
    """The shuffled-label counterpart of {regime}, if explanation_checks.label_randomisation lists it."""
    if wildcards.regime in config["explanation_checks"]["label_randomisation"]:
        return (
            f"results/{wildcards.dataset}/models/label_randomised/{wildcards.regime}.pt"
        )
    return []


def explain_evaluation_parts(wildcards):
    return expand(
        "results/{dataset}/explain/evaluation/{regime}.tsv",
        dataset=wildcards.dataset,
        regime=config["interpretability"]["regimes"],
    )


# The paper's figures and tables by name (workflow/rules/paper.smk, advinterp.paper).
from advinterp.paper import ITEMS as PAPER_ITEMS, missing_message, panel_files

# what the paper's panels are drawn from: the main arms' datasets, the Allen MLP arm's datasets and
# SingleCellNet's runs (results/{name}/)
PAPER_SOURCES = [*DATASETS, *ALLEN_DATASETS, *SCN_RUNS]
PAPER_FIGURES = [
    n for n, item in PAPER_ITEMS.items() if item.dataset and not item.is_table
]
PAPER_TABLES = [n for n, item in PAPER_ITEMS.items() if item.is_table]


def paper_title(name):
    return PAPER_ITEMS[name].title


def paper_panels(wildcards):
    """The workflow figures behind the panels of {figure}: {letters: path}."""
    return panel_files(wildcards.figure, config["biology"]["regime"])


def paper_table_source(name):
    """The workflow table behind a paper table, without extension."""
    item = PAPER_ITEMS[name]
    return f"results/{item.dataset}/{item.table}"


def paper_outputs(name):
    exts = ["tsv", "md"] if PAPER_ITEMS[name].is_table else ["png", "pdf"]
    return [f"results/paper/{name}.{ext}" for ext in exts] + ["results/paper/index.md"]


def paper_target(name):
    """Input function of the paper target `name` (fig1, table1, ...): its files, or an error
    naming the config that builds it when this config does not run its dataset."""

    def inputs(wildcards):
        why = missing_message(name, PAPER_SOURCES)
        if why:
            raise WorkflowError(why)
        return paper_outputs(name)

    return inputs


def paper_buildable():
    """Everything of the paper that this config can build (target `paper`)."""
    names = [n for n in PAPER_ITEMS if missing_message(n, PAPER_SOURCES) is None]
    return [path for n in names for path in paper_outputs(n)]
