rule explain:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=regime_model_main,
    output:
        expand(
            "results/{{dataset}}/explain/{{regime}}/{method}.tsv",
            method=EXPLAINED_METHODS,
        ),
    log:
        "results/logs/{dataset}/explain.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/explain.{regime}.tsv"
    wildcard_constraints:
        regime=UNPREFIXED_REGIME_PATTERN,
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        interpretability=without_device_batches(config["interpretability"]),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/explain.py"


# The same explainers on each extra seed's model (key-gene recovery over seeds).
use rule explain as explain_seed with:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=regime_model,
    output:
        expand(
            "results/{{dataset}}/explain/seeds/seed{{seed}}/{{regime}}/{method}.tsv",
            method=EXPLAINED_METHODS,
        ),
    log:
        "results/logs/{dataset}/explain_seed.{regime}.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/explain_seed.{regime}.seed{seed}.tsv"
    params:
        interpretability=without_device_batches(config["interpretability"]),
        seed=seed_of,
        device=config["device"],


# The tabnet_* regimes' models (issue #15): their own voters (interpretability.tabnet_methods).
use rule explain as explain_tabnet with:
    output:
        expand(
            "results/{{dataset}}/explain/{{regime}}/{method}.tsv",
            method=TABNET_EXPLAINED_METHODS,
        ),
    wildcard_constraints:
        regime=TABNET_REGIME_PATTERN,


use rule explain_seed as explain_seed_tabnet with:
    output:
        expand(
            "results/{{dataset}}/explain/seeds/seed{{seed}}/{{regime}}/{method}.tsv",
            method=TABNET_EXPLAINED_METHODS,
        ),
    wildcard_constraints:
        regime=TABNET_REGIME_PATTERN,


rule consensus:
    input:
        explain_main,
    output:
        votes=report(
            "results/{dataset}/consensus/{regime}.tsv",
            caption="../report/consensus_table.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        ranked="results/{dataset}/consensus/{regime}.ranked.tsv",
    log:
        "results/logs/{dataset}/consensus.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/consensus.{regime}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        methods=voters_of,
        top_n=top_n_of,
    script:
        "../scripts/consensus.py"


rule keygene_recovery:
    input:
        unpack(explain_all),
        data="results/{dataset}/data/preprocessed.h5ad",
    output:
        report(
            "results/{dataset}/keygenes/recovery.tsv",
            caption="../report/recovery_table.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
    log:
        "results/logs/{dataset}/keygene_recovery.log",
    benchmark:
        "results/benchmarks/{dataset}/keygene_recovery.tsv"
    conda:
        "../envs/data.yaml"
    params:
        interpretability=without_device_batches(config["interpretability"]),
        voters=ALL_VOTERS,
        model_kind=config["model"]["kind"],
        seed=config["seed"],
    script:
        "../scripts/keygene_recovery.py"


rule keygene_regimes:
    input:
        unpack(regime_training_metrics),
        recovery="results/{dataset}/keygenes/recovery.tsv",
    output:
        report(
            "results/{dataset}/keygenes/regimes.tsv",
            caption="../report/regimes_table.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
    log:
        "results/logs/{dataset}/keygene_regimes.log",
    benchmark:
        "results/benchmarks/{dataset}/keygene_regimes.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/keygene_regimes.py"


rule plot_keygene_regimes:
    input:
        "results/{dataset}/keygenes/regimes.tsv",
    output:
        png=report(
            "results/{dataset}/figures/keygenes_regimes.png",
            caption="../report/keygenes_regimes.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        pdf="results/{dataset}/figures/keygenes_regimes.pdf",
    log:
        "results/logs/{dataset}/plot_keygene_regimes.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_keygene_regimes.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_keygene_regimes.py"


rule plot_consensus:
    input:
        "results/{dataset}/consensus/{regime}.tsv",
    output:
        png=report(
            "results/{dataset}/figures/consensus_{regime}.png",
            caption="../report/consensus.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        pdf="results/{dataset}/figures/consensus_{regime}.pdf",
    log:
        "results/logs/{dataset}/plot_consensus.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_consensus.{regime}.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_consensus.py"


rule plot_keygenes:
    input:
        "results/{dataset}/keygenes/recovery.tsv",
    output:
        all_mr=report(
            "results/{dataset}/figures/keygenes_all_mr.png",
            caption="../report/keygenes.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        all_mr_pdf="results/{dataset}/figures/keygenes_all_mr.pdf",
        class_mr=report(
            "results/{dataset}/figures/keygenes_class_mr.png",
            caption="../report/keygenes.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        class_mr_pdf="results/{dataset}/figures/keygenes_class_mr.pdf",
        auroc=report(
            "results/{dataset}/figures/keygenes_auroc.png",
            caption="../report/keygenes_auroc.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        auroc_pdf="results/{dataset}/figures/keygenes_auroc.pdf",
    log:
        "results/logs/{dataset}/plot_keygenes.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_keygenes.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_keygenes.py"


# UnitedNet-style relevance of genes to predicted types (Tang et al. 2023; advinterp.type_relevance).
rule type_relevance:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=regime_model_main,
    output:
        report(
            "results/{dataset}/explain/{regime}/type_relevance.tsv",
            caption="../report/type_relevance_table.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
    log:
        "results/logs/{dataset}/type_relevance.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/type_relevance.{regime}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        cells_per_class=config["interpretability"]["cells_per_class"],
        background_cells=config["interpretability"]["background_cells"],
        top_n=top_n_of,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/type_relevance.py"


rule plot_type_relevance:
    input:
        "results/{dataset}/explain/{regime}/type_relevance.tsv",
    output:
        png=report(
            "results/{dataset}/figures/type_relevance_{regime}.png",
            caption="../report/type_relevance.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        pdf="results/{dataset}/figures/type_relevance_{regime}.pdf",
    log:
        "results/logs/{dataset}/plot_type_relevance.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_type_relevance.{regime}.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_type_relevance.py"


rule train_label_randomised:
    input:
        unpack(label_randomised_inputs),
        data="results/{dataset}/data/preprocessed.h5ad",
    output:
        model="results/{dataset}/models/label_randomised/{regime}.pt",
        history="results/{dataset}/models/label_randomised/{regime}.history.tsv",
    log:
        "results/logs/{dataset}/train_label_randomised.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_label_randomised.{regime}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        model=model_of,
        training=config["training"],
        attacks=config["attacks"],
        adversarial_training=config["adversarial_training"],
        regularisation=config["regularisation"],
        noise_training=config["noise_training"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_label_randomised.py"


rule explain_evaluation:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=regime_model_main,
        label_randomised=label_randomised_model,
    output:
        "results/{dataset}/explain/evaluation/{regime}.tsv",
    log:
        "results/logs/{dataset}/explain_evaluation.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/explain_evaluation.{regime}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        checks=config["explanation_checks"],
        methods=checked_methods_of,
        interpretability=without_device_batches(config["interpretability"]),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/explain_evaluation.py"


rule explain_evaluation_table:
    input:
        explain_evaluation_parts,
    output:
        table=report(
            "results/{dataset}/explain/evaluation.tsv",
            caption="../report/explain_evaluation_table.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        checks=report(
            "results/{dataset}/explain/sanity.tsv",
            caption="../report/explain_sanity.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        png=report(
            "results/{dataset}/figures/explain_evaluation.png",
            caption="../report/explain_evaluation.rst",
            category="{dataset}",
            subcategory="interpretability",
        ),
        pdf="results/{dataset}/figures/explain_evaluation.pdf",
    log:
        "results/logs/{dataset}/explain_evaluation_table.log",
    benchmark:
        "results/benchmarks/{dataset}/explain_evaluation_table.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        threshold=config["explanation_checks"]["randomisation_threshold"],
    script:
        "../scripts/explain_evaluation_table.py"
