rule plot_umap:
    input:
        "results/{dataset}/data/preprocessed.h5ad",
    output:
        png=report(
            "results/{dataset}/figures/umap.png",
            caption="../report/umap.rst",
            category="{dataset}",
            subcategory="data",
        ),
        pdf="results/{dataset}/figures/umap.pdf",
    log:
        "results/logs/{dataset}/plot_umap.log",
    benchmark:
        "results/benchmarks/{dataset}/plot_umap.tsv"
    conda:
        "../envs/data.yaml"
    params:
        umap=config["umap"],
        seed=config["seed"],
    script:
        "../scripts/plot_umap.py"


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
