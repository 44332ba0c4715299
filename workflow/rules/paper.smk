# The paper's figures and tables by name: snakemake --cores 8 fig2 (or paper = all this config
# can build). Each target builds only what its panels need; results/paper/index.md maps every
# panel to the tables it is drawn from.


rule paper_figure:
    input:
        unpack(paper_panels),
    output:
        png="results/paper/{figure}.png",
        pdf="results/paper/{figure}.pdf",
    log:
        "results/logs/paper/{figure}.log",
    wildcard_constraints:
        figure="|".join(PAPER_FIGURES),
    conda:
        "../envs/data.yaml"
    params:
        title=lambda wildcards: paper_title(wildcards.figure),
    script:
        "../scripts/paper_figure.py"


rule paper_table:
    input:
        tsv=lambda wildcards: paper_table_source(wildcards.table) + ".tsv",
        md=lambda wildcards: paper_table_source(wildcards.table) + ".md",
    output:
        tsv="results/paper/{table}.tsv",
        md="results/paper/{table}.md",
    log:
        "results/logs/paper/{table}.log",
    wildcard_constraints:
        table="|".join(PAPER_TABLES),
    conda:
        "../envs/data.yaml"
    params:
        title=lambda wildcards: paper_title(wildcards.table),
    script:
        "../scripts/paper_table.py"


rule paper_index:
    output:
        "results/paper/index.md",
    log:
        "results/logs/paper/index.log",
    conda:
        "../envs/data.yaml"
    params:
        datasets=PAPER_SOURCES,
        regime=config["biology"]["regime"],
    script:
        "../scripts/paper_index.py"


rule fig1:
    input:
        paper_target("fig1"),


rule fig2:
    input:
        paper_target("fig2"),


rule fig3:
    input:
        paper_target("fig3"),


rule fig4:
    input:
        paper_target("fig4"),


rule fig5:
    input:
        paper_target("fig5"),


rule table1:
    input:
        paper_target("table1"),


rule table2:
    input:
        paper_target("table2"),


rule figS2:
    input:
        paper_target("figS2"),


rule paper:
    input:
        paper_buildable(),
