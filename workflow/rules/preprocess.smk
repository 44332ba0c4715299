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
        dataset=preprocess_entry,
        seed=config["seed"],
    script:
        "../scripts/preprocess.py"
