from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(DATASETS),
    attack="|".join(ATTACKS),
    seed=r"\d+",
    regime="|".join(REGIMES),


include: "workflow/rules/sergio.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/interpretability.smk"
include: "workflow/rules/biology.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
