"""Gene-set over-representation: the offline ``gmt`` backend (paper section 2.4, Figs 3f,g and 4f,g).

Hypergeometric test of a query gene list against every set of a GMT file, within a
background of measured genes, with Benjamini–Hochberg adjustment across the tested sets.
The output columns are those of the g:Profiler backend, so both write the same table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ENRICHMENT_COLUMNS = ["source", "term_id", "term_name", "p_value", "p_adj", "term_size", "query_size",
                      "intersection_size", "intersection"]


def read_gmt(path: str | Path) -> dict[str, tuple[str, list[str]]]:
    """GMT file → {set name: (description, genes)}. Lines are ``name<TAB>description<TAB>gene...``."""
    sets = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 3:
            raise ValueError(f"{path}, line {number}: a GMT line needs a name, a description and genes, "
                             f"separated by tabs")
        sets[fields[0]] = (fields[1], [g for g in fields[2:] if g])
    if not sets:
        raise ValueError(f"{path}: no gene sets")
    return sets


def overrepresentation(query, gene_sets: dict[str, tuple[str, list[str]]], background, source: str = "gmt",
                       min_size: int = 1) -> pd.DataFrame:
    """One row per gene set with at least ``min_size`` background genes, sorted by p-value.

    Query and sets are restricted to the ``background``; p = P(X ≥ k) for X ~
    Hypergeometric(N = background, K = set ∩ background, n = query ∩ background);
    ``p_adj`` is Benjamini–Hochberg over the rows.
    """
    universe = set(background)
    hits = sorted(set(query) & universe)
    n_universe, n_query = len(universe), len(hits)
    rows = []
    for name, (description, genes) in gene_sets.items():
        members = set(genes) & universe
        if len(members) < min_size:
            continue
        shared = sorted(members.intersection(hits))
        p = stats.hypergeom.sf(len(shared) - 1, n_universe, len(members), n_query) if n_query else 1.0
        term_name = description if description and description.lower() not in {"na", "none"} \
            and not description.startswith("http") else name
        rows.append((source, name, term_name, float(p), len(members), n_query, len(shared), ",".join(shared)))
    table = pd.DataFrame(rows, columns=[c for c in ENRICHMENT_COLUMNS if c != "p_adj"])
    table.insert(4, "p_adj", stats.false_discovery_control(table["p_value"].to_numpy(), method="bh")
                 if len(table) else np.array([]))
    return table.sort_values(["p_value", "term_id"], kind="stable").reset_index(drop=True)
