# Real datasets: verified downloads and loading into a counts (or log-normalised) AnnData.
# The simulated datasets have their own rules (sergio.smk); published SERGIO networks are
# downloaded here too (ext interactions.txt / regulators.txt).


# Downloads run on the machine that runs snakemake, not as cluster jobs: compute nodes often
# have no internet.
localrules:
    download_dataset,


rule download_dataset:
    output:
        "resources/data/{dataset}.{ext}",
    log:
        "results/logs/{dataset}/download_dataset.{ext}.log",
    benchmark:
        "results/benchmarks/{dataset}/download_dataset.{ext}.tsv"
    wildcard_constraints:
        dataset=constraint_matching(DOWNLOADED),
        ext="h5ad|loom|zip|matrix\\.mtx\\.gz|obs\\.csv|var\\.csv|interactions\\.txt|regulators\\.txt",
    retries: 0
    conda:
        "../envs/data.yaml"
    params:
        url=download_url,
        sha256=download_sha256,
        checksums="resources/checksums.tsv",
    script:
        "../scripts/download_dataset.py"


rule load_dataset:
    input:
        dataset_source,
    output:
        "results/{dataset}/data/raw.h5ad",
    log:
        "results/logs/{dataset}/load_dataset.log",
    benchmark:
        "results/benchmarks/{dataset}/load_dataset.tsv"
    wildcard_constraints:
        dataset=LOADED_PATTERN,
    conda:
        "../envs/data.yaml"
    params:
        entry=load_entry,
        min_cells_per_class=config["min_cells_per_class"],
        small_classes=config["small_classes"],
    script:
        "../scripts/load_dataset.py"
