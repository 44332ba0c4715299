# Koo et al. 2019 (Table 1): LocalNet/DistNet on synthetic regulatory-code sequences, trained standard,
# with Gaussian noise or adversarially, with and without regularisation; interpretability of their
# attribution maps against the embedded motifs. All settings come from config["regulatory_code"].

# wildcard values: the models, plain | reg, the regimes (advinterp.regcode_model); the input
# functions are in common.smk
RC_MODELS = ("local_net", "dist_net")
RC_REGS = {"plain": False, "reg": True}
RC_REGIMES = ("standard", "noise", "adversarial")


rule regcode_data:
    output:
        "results/regulatory_code/data/synthetic_{size}.npz",
    log:
        "results/logs/regulatory_code/regcode_data.{size}.log",
    benchmark:
        "results/benchmarks/regulatory_code/regcode_data.{size}.tsv"
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../envs/torch.yaml"
    params:
        data=config["regulatory_code"]["data"],
        size=lambda wildcards: int(wildcards.size),
        seed=config["seed"],
    script:
        "../scripts/regcode_data.py"


rule regcode_train:
    input:
        "results/regulatory_code/data/synthetic_{size}.npz",
    output:
        "results/regulatory_code/models/{size}/{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.pt",
    log:
        "results/logs/regulatory_code/regcode_train.{size}.{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.log",
    benchmark:
        "results/benchmarks/regulatory_code/regcode_train.{size}.{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.tsv"
    wildcard_constraints:
        size=r"\d+",
        rc_model="|".join(RC_MODELS),
        rc_reg="|".join(RC_REGS),
        rc_regime="|".join(RC_REGIMES),
        trial=r"\d+",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        training=config["regulatory_code"]["training"],
        model="{rc_model}",
        regularised=lambda wildcards: RC_REGS[wildcards.rc_reg],
        regime="{rc_regime}",
        seed=regcode_trial_seed,
        device=config["device"],
    script:
        "../scripts/regcode_train.py"


rule regcode_attribute:
    input:
        data="results/regulatory_code/data/synthetic_{size}.npz",
        model="results/regulatory_code/models/{size}/{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.pt",
    output:
        "results/regulatory_code/attribution/{size}/{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.tsv",
    log:
        "results/logs/regulatory_code/regcode_attribute.{size}.{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.log",
    benchmark:
        "results/benchmarks/regulatory_code/regcode_attribute.{size}.{rc_model}.{rc_reg}.{rc_regime}.trial{trial}.tsv"
    wildcard_constraints:
        size=r"\d+",
        rc_model="|".join(RC_MODELS),
        rc_reg="|".join(RC_REGS),
        rc_regime="|".join(RC_REGIMES),
        trial=r"\d+",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        attribution=config["regulatory_code"]["attribution"],
        size=lambda wildcards: int(wildcards.size),
        trial=lambda wildcards: int(wildcards.trial),
        seed=regcode_trial_seed,
        device=config["device"],
    script:
        "../scripts/regcode_attribute.py"


rule regcode_table:
    input:
        regcode_attribution_parts,
    output:
        tsv=report(
            "results/regulatory_code/table1.tsv",
            caption="../report/regcode_table1.rst",
            category="regulatory_code",
        ),
        md="results/regulatory_code/table1.md",
    log:
        "results/logs/regulatory_code/regcode_table.log",
    benchmark:
        "results/benchmarks/regulatory_code/regcode_table.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/regcode_table.py"


rule regcode_logos:
    input:
        unpack(regcode_logo_inputs),
    output:
        png=report(
            "results/regulatory_code/figures/logos.png",
            caption="../report/regcode_logos.rst",
            category="regulatory_code",
        ),
        pdf="results/regulatory_code/figures/logos.pdf",
    log:
        "results/logs/regulatory_code/regcode_logos.log",
    benchmark:
        "results/benchmarks/regulatory_code/regcode_logos.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU,
    params:
        attribution=config["regulatory_code"]["attribution"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/regcode_logos.py"
