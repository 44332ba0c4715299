rule preprocess:
    input:
        raw_h5ad,
    output:
        "results/{dataset}/data/preprocessed.h5ad",
    log:
        "results/logs/{dataset}/preprocess.log",
    benchmark:
        "results/benchmarks/{dataset}/preprocess.tsv"
    conda:
        "../envs/data.yaml"
    params:
        preprocess=config["preprocess"],
        scale=config["scale"],
        dataset=preprocess_entry,
        min_cells_per_class=config["min_cells_per_class"],
        seed=config["seed"],
    script:
        "../scripts/preprocess.py"


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
