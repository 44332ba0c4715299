"""rule select_epsilon: the ε per attack for the adv_* models, with the rule and the numbers behind it."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.io import write_json
from advinterp.robustness_tables import select_epsilon
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
log = setup_logging(smk)
rob = smk.params.robustness
table = pd.read_csv(smk.input[0], sep="\t")
selected = {
    attack: select_epsilon(table, attack, rob["min_neighbour_preservation"], rob["min_accuracy_drop"],
                           (rob.get("epsilon") or {}).get(attack))
    for attack in rob["attacks"]
}
for attack, choice in selected.items():
    log.info("%s: epsilon %g (%s)", attack, choice["epsilon"], choice["rule"])
write_json(selected, smk.output[0])
