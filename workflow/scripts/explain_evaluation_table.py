"""rule explain_evaluation_table: explain/evaluation.tsv of every regime, the randomisation checks and a figure."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.explain_checks import combine_evaluations, randomisation_check
from advinterp.io import write_tsv
from advinterp.plots import explain_evaluation_figure, save_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
table = combine_evaluations(smk.input)
checks = randomisation_check(table, smk.params.threshold)
for row in checks[~checks["passed"]].itertuples():
    log.warning("explanation sanity check failed: %s %s %s: %s", row.regime, row.method, row.check, row.detail)
write_tsv(table, smk.output.table)
write_tsv(checks, smk.output.checks)
save_figure(explain_evaluation_figure(table, f"{smk.wildcards.dataset}: explanation checks"), smk.output.png,
            smk.output.pdf)
