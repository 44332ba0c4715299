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
        "../../envs/data.yaml"
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
        "../../envs/data.yaml"
    params:
        simulation=config["sergio"]["simulation"],
        seed=config["seed"],
    script:
        "../scripts/sergio_simulate.py"
