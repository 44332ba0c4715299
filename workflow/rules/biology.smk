# Real-data arm (paper sections 2.4, 3.3): Wilcoxon DE baseline, consensus vs DE (Venn, Fig. 3d,e),
# top consensus genes (Tables 1-2) and enrichment (Figs. 3f,g, 4f,g). Every dataset but sergio.


rule de_wilcoxon:
    input:
        "results/{dataset}/data/preprocessed.h5ad",
    output:
        report(
            "results/{dataset}/de/wilcoxon.tsv",
            caption="../report/de_table.rst",
            category="{dataset}",
            subcategory="biology",
        ),
    log:
        "results/logs/{dataset}/de_wilcoxon.log",
    benchmark:
        "results/benchmarks/{dataset}/de_wilcoxon.tsv"
    conda:
        "../envs/biology.yaml"
    params:
        alpha=config["biology"]["de_alpha"],
    script:
        "../scripts/de_wilcoxon.py"


rule compare_consensus_de:
    input:
        ranked=biology_regime_ranked,
        de="results/{dataset}/de/wilcoxon.tsv",
    output:
        table=report(
            "results/{dataset}/compare/consensus_vs_de.tsv",
            caption="../report/venn_table.rst",
            category="{dataset}",
            subcategory="biology",
        ),
        png=report(
            "results/{dataset}/figures/venn_consensus_de.png",
            caption="../report/venn.rst",
            category="{dataset}",
            subcategory="biology",
        ),
        pdf="results/{dataset}/figures/venn_consensus_de.pdf",
    log:
        "results/logs/{dataset}/compare_consensus_de.log",
    benchmark:
        "results/benchmarks/{dataset}/compare_consensus_de.tsv"
    conda:
        "../envs/biology.yaml"
    params:
        n=config["biology"]["venn_top_n"],
        regime=config["biology"]["regime"],
    script:
        "../scripts/compare_consensus_de.py"


rule top_genes_table:
    input:
        ranked=biology_regime_ranked,
        de="results/{dataset}/de/wilcoxon.tsv",
    output:
        tsv=report(
            "results/{dataset}/tables/top_genes.tsv",
            caption="../report/top_genes.rst",
            category="{dataset}",
            subcategory="biology",
        ),
        md=report(
            "results/{dataset}/tables/top_genes.md",
            caption="../report/top_genes.rst",
            category="{dataset}",
            subcategory="biology",
        ),
    log:
        "results/logs/{dataset}/top_genes_table.log",
    benchmark:
        "results/benchmarks/{dataset}/top_genes_table.tsv"
    conda:
        "../envs/biology.yaml"
    params:
        k=top_genes_of,
    script:
        "../scripts/top_genes_table.py"


# g:Profiler is a web service: query it from the machine that runs snakemake, not a compute node.
localrules:
    enrichment,


rule enrichment:
    input:
        ranked=biology_regime_ranked,
        data="results/{dataset}/data/preprocessed.h5ad",
        gmt=enrichment_gmt,
    output:
        tables=report(
            directory("results/{dataset}/enrichment"),
            patterns=["{query}.tsv"],
            caption="../report/enrichment_table.rst",
            category="{dataset}",
            subcategory="biology",
        ),
        png=report(
            "results/{dataset}/figures/enrichment_pooled.png",
            caption="../report/enrichment.rst",
            category="{dataset}",
            subcategory="biology",
        ),
        pdf="results/{dataset}/figures/enrichment_pooled.pdf",
    log:
        "results/logs/{dataset}/enrichment.log",
    benchmark:
        "results/benchmarks/{dataset}/enrichment.tsv"
    conda:
        "../envs/biology.yaml"
    params:
        enrichment=enrichment_of,
        organism=dataset_organism,
    script:
        "../scripts/enrichment.py"
