rule robustness_sweep:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=standard_model,
    output:
        "results/{dataset}/robustness/sweep/{attack}.seed{seed}.tsv",
    log:
        "results/logs/{dataset}/robustness_sweep.{attack}.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/robustness_sweep.{attack}.seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        robustness=config["robustness"],
        attacks=config["attacks"],
        evaluation=evaluation_params(config),
        adversarial_training=config["adversarial_training"],
        training=config["training"],
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/robustness_sweep.py"


rule robustness_sweep_table:
    input:
        sweep_parts,
    output:
        report(
            "results/{dataset}/robustness/sweep.tsv",
            caption="../report/sweep_table.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
    log:
        "results/logs/{dataset}/robustness_sweep_table.log",
    benchmark:
        "results/benchmarks/{dataset}/robustness_sweep_table.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/robustness_sweep_table.py"


rule robustness_preservation:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model="results/{dataset}/models/standard.pt",
    output:
        report(
            "results/{dataset}/robustness/preservation.tsv",
            caption="../report/preservation_table.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
    log:
        "results/logs/{dataset}/robustness_preservation.log",
    benchmark:
        "results/benchmarks/{dataset}/robustness_preservation.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        robustness=config["robustness"],
        attacks=config["attacks"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/robustness_preservation.py"


rule select_epsilon:
    input:
        "results/{dataset}/robustness/preservation.tsv",
    output:
        report(
            "results/{dataset}/robustness/selected_epsilon.json",
            caption="../report/selected_epsilon.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
    log:
        "results/logs/{dataset}/select_epsilon.log",
    benchmark:
        "results/benchmarks/{dataset}/select_epsilon.tsv"
    conda:
        "../envs/data.yaml"
    params:
        robustness=config["robustness"],
    script:
        "../scripts/select_epsilon.py"


rule train_adversarial:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model="results/{dataset}/models/standard.pt",
        epsilon="results/{dataset}/robustness/selected_epsilon.json",
    output:
        model="results/{dataset}/models/adv_{attack}.pt",
        history="results/{dataset}/models/adv_{attack}.history.tsv",
        metrics="results/{dataset}/models/adv_{attack}.training.json",
    log:
        "results/logs/{dataset}/train_adversarial.{attack}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_adversarial.{attack}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        attacks=config["attacks"],
        adversarial_training=config["adversarial_training"],
        training=config["training"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_adversarial.py"


# The same adversarial training from each extra seed's standard model (seed sweeps).
use rule train_adversarial as train_adversarial_seed with:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=standard_model,
        epsilon="results/{dataset}/robustness/selected_epsilon.json",
    output:
        model="results/{dataset}/models/seeds/adv_{attack}.seed{seed}.pt",
        history="results/{dataset}/models/seeds/adv_{attack}.seed{seed}.history.tsv",
        metrics="results/{dataset}/models/seeds/adv_{attack}.seed{seed}.json",
    log:
        "results/logs/{dataset}/train_adversarial_seed.{attack}.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_adversarial_seed.{attack}.seed{seed}.tsv"
    threads: 1
    params:
        attacks=config["attacks"],
        adversarial_training=config["adversarial_training"],
        training=config["training"],
        seed=seed_of,
        device=config["device"],


rule adversarial_metrics:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        standard="results/{dataset}/models/standard.pt",
        model="results/{dataset}/models/adv_{attack}.pt",
        training="results/{dataset}/models/adv_{attack}.training.json",
    output:
        report(
            "results/{dataset}/metrics/adv_{attack}.json",
            caption="../report/metrics_adversarial.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
    log:
        "results/logs/{dataset}/adversarial_metrics.{attack}.log",
    benchmark:
        "results/benchmarks/{dataset}/adversarial_metrics.{attack}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        attacks=config["attacks"],
        evaluation=evaluation_params(config),
        adversarial_training=config["adversarial_training"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/adversarial_metrics.py"


rule robustness_imbalance:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        epsilon="results/{dataset}/robustness/selected_epsilon.json",
    output:
        table=report(
            "results/{dataset}/robustness/imbalance.tsv",
            caption="../report/imbalance_table.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        dropped="results/{dataset}/robustness/imbalance.json",
    log:
        "results/logs/{dataset}/robustness_imbalance.log",
    benchmark:
        "results/benchmarks/{dataset}/robustness_imbalance.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        imbalance=config["imbalance"],
        attacks=config["attacks"],
        evaluation=evaluation_params(config),
        robustness=config["robustness"],
        adversarial_training=config["adversarial_training"],
        model=model_of,
        training=config["training"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/robustness_imbalance.py"


rule robustness_sanity:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        epsilon="results/{dataset}/robustness/selected_epsilon.json",
        models=sanity_models,
        surrogate=sanity_surrogate,
    output:
        table=report(
            "results/{dataset}/robustness/sanity.tsv",
            caption="../report/sanity.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        curves="results/{dataset}/robustness/autoattack.tsv",
    log:
        "results/logs/{dataset}/robustness_sanity.log",
    benchmark:
        "results/benchmarks/{dataset}/robustness_sanity.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        robustness=config["robustness"],
        evaluation=evaluation_params(config, sanity=True),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/robustness_sanity.py"


rule plot_sweep:
    input:
        "results/{dataset}/robustness/sweep.tsv",
    output:
        accuracy_png=report(
            "results/{dataset}/figures/sweep_accuracy.png",
            caption="../report/sweep.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        accuracy_pdf="results/{dataset}/figures/sweep_accuracy.pdf",
        f1_png=report(
            "results/{dataset}/figures/sweep_macro_f1.png",
            caption="../report/sweep.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        f1_pdf="results/{dataset}/figures/sweep_macro_f1.pdf",
    log:
        "results/logs/{dataset}/plot_sweep.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_sweep.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_sweep.py"


rule plot_preservation:
    input:
        table="results/{dataset}/robustness/preservation.tsv",
        epsilon="results/{dataset}/robustness/selected_epsilon.json",
        curves="results/{dataset}/robustness/autoattack.tsv",
    output:
        png=report(
            "results/{dataset}/figures/preservation.png",
            caption="../report/preservation.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        pdf="results/{dataset}/figures/preservation.pdf",
    log:
        "results/logs/{dataset}/plot_preservation.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_preservation.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_preservation.py"


rule plot_adversarial_umap:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model="results/{dataset}/models/standard.pt",
        epsilon="results/{dataset}/robustness/selected_epsilon.json",
    output:
        png=report(
            "results/{dataset}/figures/adversarial_umap.png",
            caption="../report/adversarial_umap.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        pdf="results/{dataset}/figures/adversarial_umap.pdf",
    log:
        "results/logs/{dataset}/plot_adversarial_umap.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_adversarial_umap.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        robustness=config["robustness"],
        attacks=config["attacks"],
        umap=config["umap"],
        seed=config["seed"],
    script:
        "../scripts/plot_adversarial_umap.py"


rule plot_imbalance:
    input:
        "results/{dataset}/robustness/imbalance.tsv",
    output:
        png=report(
            "results/{dataset}/figures/imbalance.png",
            caption="../report/imbalance.rst",
            category="{dataset}",
            subcategory="robustness",
        ),
        pdf="results/{dataset}/figures/imbalance.pdf",
    log:
        "results/logs/{dataset}/plot_imbalance.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_imbalance.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/plot_imbalance.py"
