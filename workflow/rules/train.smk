rule train_standard:
    input:
        "results/{dataset}/data/preprocessed.h5ad",
    output:
        model="results/{dataset}/models/standard.pt",
        history="results/{dataset}/models/standard.history.tsv",
        metrics=report(
            "results/{dataset}/metrics/standard.json",
            caption="../report/metrics_standard.rst",
            category="{dataset}",
            subcategory="standard model",
        ),
    log:
        "results/logs/{dataset}/train_standard.log",
    benchmark:
        "results/benchmarks/{dataset}/train_standard.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        model=config["model"],
        training=config["training"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_standard.py"


rule train_standard_seed:
    input:
        "results/{dataset}/data/preprocessed.h5ad",
    output:
        model="results/{dataset}/models/seeds/standard.seed{seed}.pt",
        history="results/{dataset}/models/seeds/standard.seed{seed}.history.tsv",
        metrics="results/{dataset}/models/seeds/standard.seed{seed}.json",
    log:
        "results/logs/{dataset}/train_standard_seed.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_standard_seed.seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=GPU,
    params:
        model=config["model"],
        training=config["training"],
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/train_standard.py"
