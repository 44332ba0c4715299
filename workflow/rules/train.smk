# The scripts read scale.in_memory_max_cells and scale.loader_workers from the config (split_store), not
# from params: they change how the store is read, not the results (tested), and a params change
# would retrain every model.
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
        model=model_of,
        training=config["training"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/train_standard.py"


# The same training, once per extra seed (the seed sweeps of Fig. 2 and the robustness curves).
use rule train_standard as train_standard_seed with:
    output:
        model="results/{dataset}/models/seeds/standard.seed{seed}.pt",
        history="results/{dataset}/models/seeds/standard.seed{seed}.history.tsv",
        metrics="results/{dataset}/models/seeds/standard.seed{seed}.json",
    log:
        "results/logs/{dataset}/train_standard_seed.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_standard_seed.seed{seed}.tsv"
    params:
        model=model_of,
        training=config["training"],
        seed=seed_of,
        device=config["device"],


# Koo et al. 2019's regimes (advinterp.regimes): noise injection, and the regularised variant of
# every regime (*_reg); standard and adv_{attack} are trained by train_standard / train_adversarial.
rule train_regime:
    input:
        unpack(regime_inputs),
    output:
        model="results/{dataset}/models/{regime}.pt",
        history="results/{dataset}/models/{regime}.history.tsv",
        metrics="results/{dataset}/models/{regime}.training.json",
    log:
        "results/logs/{dataset}/train_regime.{regime}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_regime.{regime}.tsv"
    wildcard_constraints:
        regime=TRAINED_BY_TRAIN_REGIME,
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
        "../scripts/train_regime.py"


use rule train_regime as train_regime_seed with:
    input:
        unpack(regime_inputs),
    output:
        model="results/{dataset}/models/seeds/{regime}.seed{seed}.pt",
        history="results/{dataset}/models/seeds/{regime}.seed{seed}.history.tsv",
        metrics="results/{dataset}/models/seeds/{regime}.seed{seed}.json",
    log:
        "results/logs/{dataset}/train_regime_seed.{regime}.seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train_regime_seed.{regime}.seed{seed}.tsv"
    threads: 1
    params:
        model=model_of,
        training=config["training"],
        attacks=config["attacks"],
        adversarial_training=config["adversarial_training"],
        regularisation=config["regularisation"],
        noise_training=config["noise_training"],
        seed=seed_of,
        device=config["device"],


rule plot_standard_model:
    input:
        data="results/{dataset}/data/preprocessed.h5ad",
        model="results/{dataset}/models/standard.pt",
        history="results/{dataset}/models/standard.history.tsv",
    output:
        confusion_png=report(
            "results/{dataset}/figures/standard.confusion.png",
            caption="../report/confusion.rst",
            category="{dataset}",
            subcategory="standard model",
        ),
        confusion_pdf="results/{dataset}/figures/standard.confusion.pdf",
        curve_png=report(
            "results/{dataset}/figures/standard.training_curve.png",
            caption="../report/training_curve.rst",
            category="{dataset}",
            subcategory="standard model",
        ),
        curve_pdf="results/{dataset}/figures/standard.training_curve.pdf",
    log:
        "results/logs/{dataset}/plot_standard_model.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_standard_model.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/plot_standard_model.py"
