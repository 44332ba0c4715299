rule train_adversarial_seed:
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
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        attacks=config["attacks"],
        adversarial_training=config["adversarial_training"],
        training=config["training"],
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/train_adversarial.py"


rule explain:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=regime_model_main,
    output:
        expand(
            "results/{{dataset}}/explain/{{regime}}/{method}.tsv",
            method=config["interpretability"]["methods"],
        ),
    log:
        "results/logs/{dataset}/explain.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/explain.{regime}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        interpretability=without_device_batches(config["interpretability"]),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/explain.py"


rule explain_seed:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model=regime_model,
    output:
        expand(
            "results/{{dataset}}/explain/seeds/seed{{seed}}/{{regime}}/{method}.tsv",
            method=config["interpretability"]["methods"],
        ),
    log:
        "results/logs/{dataset}/explain_seed.{regime}.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/explain_seed.{regime}.seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        interpretability=without_device_batches(config["interpretability"]),
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/explain.py"


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
        "../../envs/torch.yaml"
    params:
        methods=config["interpretability"]["methods"],
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
        "../../envs/torch.yaml"
    params:
        interpretability=without_device_batches(config["interpretability"]),
        seed=config["seed"],
    script:
        "../scripts/keygene_recovery.py"


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
        "../../envs/data.yaml"
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
        "../../envs/data.yaml"
    script:
        "../scripts/plot_keygenes.py"
