rule sergio_network:
    output:
        report(
            "results/sergio/data/network.tsv",
            caption="../report/network.rst",
            category="sergio",
            subcategory="data",
        ),
    log:
        "results/logs/sergio/sergio_network.log",
    benchmark:
        "results/benchmarks/sergio/sergio_network.tsv"
    conda:
        "../envs/data.yaml"
    params:
        network=config["sergio"]["network"],
        seed=config["seed"],
    script:
        "../scripts/sergio_network.py"


rule sergio_simulate:
    input:
        network="results/sergio/data/network.tsv",
    output:
        h5ad="results/sergio/data/raw.h5ad",
        key_genes=report(
            "results/sergio/data/key_genes.tsv",
            caption="../report/key_genes.rst",
            category="sergio",
            subcategory="data",
        ),
    log:
        "results/logs/sergio/sergio_simulate.log",
    benchmark:
        "results/benchmarks/sergio/sergio_simulate.tsv"
    conda:
        "../envs/data.yaml"
    params:
        simulation=config["sergio"]["simulation"],
        seed=config["seed"],
    script:
        "../scripts/sergio_simulate.py"


rule simulate_published_network:
    input:
        interactions=network_file("interactions"),
        regulators=network_file("regulators"),
    output:
        h5ad="results/{dataset}/data/raw.h5ad",
        network=report(
            "results/{dataset}/data/network.tsv",
            caption="../report/network_published.rst",
            category="{dataset}",
            subcategory="data",
        ),
        key_genes=report(
            "results/{dataset}/data/key_genes.tsv",
            caption="../report/key_genes_published.rst",
            category="{dataset}",
            subcategory="data",
        ),
    log:
        "results/logs/{dataset}/simulate_published_network.log",
    benchmark:
        "results/benchmarks/{dataset}/simulate_published_network.tsv"
    wildcard_constraints:
        dataset=PUBLISHED_PATTERN,
    conda:
        "../envs/data.yaml"
    params:
        simulation=config["sergio"]["simulation"],
        seed=config["seed"],
    script:
        "../scripts/sergio_published.py"
