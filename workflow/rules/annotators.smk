# The paper's Fig. 5c (issue #13): the Allen Brain Map MLP of Le et al. 2022 on the Allen human
# MTG data (allen_mlp.datasets), trained as published, attacked white-box over ε, and
# adversarially trained at the ε the structure-preservation rule picks (beyond the paper).


rule allen_data:
    input:
        "results/{dataset}/data/raw.h5ad",
    output:
        "results/{dataset}/annotator/data.h5ad",
    log:
        "results/logs/{dataset}/allen_data.log",
    benchmark:
        "results/benchmarks/{dataset}/allen_data.tsv"
    wildcard_constraints:
        dataset=constraint_matching(ALLEN_DATASETS),
    conda:
        "../envs/data.yaml"
    params:
        split=config["allen_mlp"]["network"]["split"],
        seed=config["allen_mlp"]["split_seed"],
        label_key=lambda wildcards: DATASET_ENTRIES[wildcards.dataset]["label_key"],
    script:
        "../scripts/allen_data.py"


rule allen_train:
    input:
        data="results/{dataset}/annotator/data.h5ad",
    output:
        model="results/{dataset}/annotator/models/standard.pt",
        history="results/{dataset}/annotator/models/standard.history.tsv",
    log:
        "results/logs/{dataset}/allen_train.log",
    benchmark:
        "results/benchmarks/{dataset}/allen_train.tsv"
    wildcard_constraints:
        dataset=constraint_matching(ALLEN_DATASETS),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        network=config["allen_mlp"]["network"],
        adversarial=config["allen_mlp"]["adversarial"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/allen_train.py"


rule allen_preservation:
    input:
        data="results/{dataset}/annotator/data.h5ad",
        model="results/{dataset}/annotator/models/standard.pt",
    output:
        "results/{dataset}/annotator/preservation.tsv",
    log:
        "results/logs/{dataset}/allen_preservation.log",
    benchmark:
        "results/benchmarks/{dataset}/allen_preservation.tsv"
    wildcard_constraints:
        dataset=constraint_matching(ALLEN_DATASETS),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        attacks=config["allen_mlp"]["attacks"],
        epsilons=config["allen_mlp"]["epsilons"],
        attack_spec=config["attacks"],
        neighbours=config["robustness"]["neighbours"],
        n_pcs=config["robustness"]["n_pcs"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/allen_preservation.py"


# The main arm's ε rule, on this arm's preservation table (allen_mlp.adversarial.epsilon
# overrides it for its attack).
use rule select_epsilon as allen_select_epsilon with:
    input:
        "results/{dataset}/annotator/preservation.tsv",
    output:
        "results/{dataset}/annotator/selected_epsilon.json",
    log:
        "results/logs/{dataset}/allen_select_epsilon.log",
    benchmark:
        "results/benchmarks/{dataset}/allen_select_epsilon.tsv"
    wildcard_constraints:
        dataset=constraint_matching(ALLEN_DATASETS),
    params:
        robustness=allen_selection_rule(),


use rule allen_train as allen_train_adversarial with:
    input:
        data="results/{dataset}/annotator/data.h5ad",
        epsilon="results/{dataset}/annotator/selected_epsilon.json",
    output:
        model="results/{dataset}/annotator/models/adversarial.pt",
        history="results/{dataset}/annotator/models/adversarial.history.tsv",
    log:
        "results/logs/{dataset}/allen_train_adversarial.log",
    benchmark:
        "results/benchmarks/{dataset}/allen_train_adversarial.tsv"


rule allen_f1:
    input:
        data="results/{dataset}/annotator/data.h5ad",
        standard="results/{dataset}/annotator/models/standard.pt",
        adversarial="results/{dataset}/annotator/models/adversarial.pt",
        epsilon="results/{dataset}/annotator/selected_epsilon.json",
    output:
        report(
            "results/{dataset}/annotator/f1.tsv",
            caption="../report/annotator_f1_table.rst",
            category="{dataset}",
            subcategory="annotator (Fig. 5)",
        ),
    log:
        "results/logs/{dataset}/allen_f1.log",
    benchmark:
        "results/benchmarks/{dataset}/allen_f1.tsv"
    wildcard_constraints:
        dataset=constraint_matching(ALLEN_DATASETS),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        attacks=config["allen_mlp"]["attacks"],
        epsilons=config["allen_mlp"]["epsilons"],
        adversarial_attack=config["allen_mlp"]["adversarial"]["attack"],
        attack_spec=config["attacks"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/allen_f1.py"


rule plot_allen_f1:
    input:
        table="results/{dataset}/annotator/f1.tsv",
        epsilon="results/{dataset}/annotator/selected_epsilon.json",
    output:
        png=report(
            "results/{dataset}/figures/annotator_f1.png",
            caption="../report/annotator_f1.rst",
            category="{dataset}",
            subcategory="annotator (Fig. 5)",
        ),
        pdf="results/{dataset}/figures/annotator_f1.pdf",
    log:
        "results/logs/{dataset}/plot_allen_f1.log",
    wildcard_constraints:
        dataset=constraint_matching(ALLEN_DATASETS),
    conda:
        "../envs/data.yaml"
    params:
        attack=config["allen_mlp"]["adversarial"]["attack"],
    script:
        "../scripts/plot_allen_f1.py"


# The paper's Fig. 5a,b (issue #13): SingleCellNet (SVM) trained on a reference and applied to a
# query (singlecellnet.runs), clean and under FGSM on its pair features and on the expression.


rule singlecellnet:
    input:
        unpack(singlecellnet_inputs),
    output:
        table=report(
            "results/{run}/annotator/precision_recall.tsv",
            caption="../report/annotator_precision_recall_table.rst",
            category="{run}",
            subcategory="annotator (Fig. 5)",
        ),
        composition="results/{run}/annotator/query_composition.tsv",
        summary="results/{run}/annotator/summary.json",
    log:
        "results/logs/{run}/singlecellnet.log",
    benchmark:
        "results/benchmarks/{run}/singlecellnet.tsv"
    wildcard_constraints:
        run=constraint_matching(SCN_RUNS),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        model=config["singlecellnet"]["model"],
        epsilons=config["singlecellnet"]["epsilons"],
        reference_key=lambda wildcards: scn_label_key(wildcards, "reference"),
        query_key=lambda wildcards: scn_label_key(wildcards, "query"),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/singlecellnet.py"


rule plot_singlecellnet:
    input:
        "results/{run}/annotator/precision_recall.tsv",
    output:
        png=report(
            "results/{run}/figures/annotator_precision_recall.png",
            caption="../report/annotator_precision_recall.rst",
            category="{run}",
            subcategory="annotator (Fig. 5)",
        ),
        pdf="results/{run}/figures/annotator_precision_recall.pdf",
    log:
        "results/logs/{run}/plot_singlecellnet.log",
    wildcard_constraints:
        run=constraint_matching(SCN_RUNS),
    conda:
        "../envs/data.yaml"
    params:
        marked=config["singlecellnet"]["marked"],
    script:
        "../scripts/plot_singlecellnet.py"
