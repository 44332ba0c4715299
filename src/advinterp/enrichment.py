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

from advinterp.io import retry

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


class EnrichmentError(RuntimeError):
    """g:Profiler could not be reached or refused the query; the message says what to do."""


def gprofiler_enrichment(query: list[str], organism: str, sources: list[str], background: list[str] | None = None,
                         base_url: str | None = None, timeout: float = 60.0, retries: int = 3,
                         backoff: float = 2.0, threshold: float = 0.05) -> pd.DataFrame:
    """g:GOSt enrichment (gprofiler-official), FDR-adjusted, optionally against a custom background.

    The client sends its request without a timeout; here every request gets ``timeout``
    seconds (by wrapping the client's ``requests.post``), failures are retried ``retries``
    times with exponential back-off, and the last one becomes an :class:`EnrichmentError`.
    g:Profiler returns adjusted p-values only: they fill ``p_adj`` and ``p_value`` is NaN.
    Returned terms are those g:Profiler calls significant at ``threshold``.
    """
    import functools
    from unittest import mock

    import gprofiler.gprofiler as client_module
    import requests
    from gprofiler import GProfiler

    client = GProfiler(user_agent="advinterp", base_url=base_url, return_dataframe=False)
    timed_post = functools.partial(requests.post, timeout=timeout)

    def query_once():
        with mock.patch.object(client_module.requests, "post", timed_post):
            return client.profile(organism=organism, query=list(query), sources=list(sources),
                                  user_threshold=threshold, significance_threshold_method="fdr",
                                  background=list(background) if background is not None else None,
                                  no_evidences=False)

    # the client raises AssertionError for a non-200 answer, KeyError/ValueError for a malformed one
    retriable = (requests.exceptions.RequestException, AssertionError, ValueError, KeyError)
    try:
        result = retry(query_once, retries=retries, backoff=backoff, retriable=retriable, what="g:Profiler")
    except retriable as err:
        raise EnrichmentError(f"g:Profiler ({client.base_url}) failed {retries} times (last: "
                              f"{type(err).__name__}: {err}); check the connection, or set enrichment backend "
                              f"to 'gmt' to run offline") from None
    rows = []
    for term in result:
        shared = term.get("intersections", [])  # the client maps g:Profiler's evidence back to query genes
        rows.append((term["source"], term["native"], term["name"], np.nan, float(term["p_value"]),
                     int(term["term_size"]), int(term["query_size"]), int(term["intersection_size"]),
                     ",".join(sorted(shared))))
    table = pd.DataFrame(rows, columns=ENRICHMENT_COLUMNS)
    return table.sort_values(["p_adj", "term_id"], kind="stable").reset_index(drop=True)


def query_name(cls: str) -> str:
    """File-safe name of a class's query: ``class_`` + the label with runs of other characters as ``_``."""
    import re

    return "class_" + (re.sub(r"[^A-Za-z0-9]+", "_", str(cls)).strip("_") or "unnamed")


def consensus_queries(ranked: pd.DataFrame, top_n: int) -> dict[str, list[str]]:
    """The paper's queries: the top-``top_n`` consensus genes of every class pooled (``pooled``; the
    paper's 210 genes for 14 types, duplicates once), and each class's own (``class_<label>``)."""
    from advinterp.compare import top_consensus_genes

    per_class = top_consensus_genes(ranked, top_n)
    pooled = sorted({g for genes in per_class.values() for g in genes})
    names = [query_name(c) for c in per_class]
    if len(set(names)) < len(names):
        raise ValueError(f"class labels {sorted(per_class)} give clashing query file names")
    return {"pooled": pooled, **{query_name(c): genes for c, genes in per_class.items()}}


def enrich(queries: dict[str, list[str]], measured: list[str], params: dict, organism: str) -> dict[str, pd.DataFrame]:
    """One enrichment table per query with the configured backend (``biology.enrichment``).

    ``gmt``: over-representation against ``params['gmt']`` within the measured genes.
    ``gprofiler``: g:GOSt with ``sources``, FDR, the measured genes as custom background when
    ``background`` is ``measured``; an unknown organism (``none``) is an error up front.
    """
    if params["backend"] == "gmt":
        sets = read_gmt(params["gmt"])
        source = Path(params["gmt"]).stem
        return {name: overrepresentation(genes, sets, measured, source=source) for name, genes in queries.items()}
    if organism in ("", "none"):
        raise ValueError("g:Profiler enrichment needs the dataset's organism (a g:Profiler id such as hsapiens or "
                         "mmusculus); set it in the dataset's entry, or use the gmt backend")
    background = list(measured) if params["background"] == "measured" else None
    return {name: gprofiler_enrichment(genes, organism, params["sources"], background, timeout=params["timeout"],
                                       retries=params["retries"])
            for name, genes in queries.items()}
