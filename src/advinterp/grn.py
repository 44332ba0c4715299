"""DS3-like gene regulatory networks for SERGIO.

A network is a layered DAG: layer 0 holds the master regulators (MRs, no regulators
of their own), every other gene is a target in layer ``l >= 1`` with one regulator
from layer ``l - 1`` (which fixes its depth) and the rest from any earlier layer.
The defaults reproduce the statistics of SERGIO's published DS3 network: 1200 genes,
~67 MRs, ~2700 edges, 1-11 regulators per target, |K| in [1, 5] with about half of
the interactions repressive, Hill coefficient 2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advinterp.specs import NetworkSpec

EDGE_COLUMNS = ["regulator", "target", "K", "n"]


def _in_degrees(rng: np.random.Generator, n_targets: int, n_edges: int, cap: int) -> np.ndarray:
    """In-degree per target: each at least 1, at most ``cap``, summing to ``n_edges``.

    Extra edges are spread with exponential weights, which gives the skewed
    (few targets with many regulators) in-degree distribution of DS3.
    """
    degree = np.ones(n_targets, dtype=int)
    weights = rng.exponential(size=n_targets) ** 2
    extra = n_edges - n_targets
    while extra > 0:
        open_ = degree < cap
        p = np.where(open_, weights, 0.0)
        p = p / p.sum()
        add = rng.multinomial(extra, p)
        degree = np.minimum(degree + add, cap)
        extra = n_edges - int(degree.sum())
    return degree


def _layer_sizes(n_targets: int, n_layers: int) -> np.ndarray:
    base, rem = divmod(n_targets, n_layers)
    return np.array([base + (i < rem) for i in range(n_layers)], dtype=int)


def generate_network(spec: NetworkSpec, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample a layered regulatory DAG.

    Returns ``(edges, genes)``: ``edges`` has columns regulator, target, K, n (K < 0 is
    repression); ``genes`` has columns gene, layer, is_master_regulator in the
    canonical gene order of the dataset (G0001, G0002, ...). Gene names are assigned
    after a random permutation so that a gene's name reveals nothing about its role.
    """
    spec.check()
    rng = np.random.default_rng(seed)
    n_mr = spec.n_master_regulators
    n_targets = spec.n_genes - n_mr

    sizes = _layer_sizes(n_targets, spec.n_layers)
    layer = np.concatenate([np.zeros(n_mr, dtype=int)] + [np.full(s, i + 1) for i, s in enumerate(sizes)])
    degree = _in_degrees(rng, n_targets, spec.n_edges, spec.max_regulators)
    members = [np.flatnonzero(layer == i) for i in range(spec.n_layers + 1)]

    regulators_of: dict[int, list[int]] = {}
    for t_idx, gene in enumerate(range(n_mr, spec.n_genes)):
        lvl = layer[gene]
        d = int(degree[t_idx])
        earlier = np.flatnonzero(layer < lvl)
        d = min(d, earlier.size)
        first = int(rng.choice(members[lvl - 1]))
        others = rng.choice(earlier[earlier != first], size=d - 1, replace=False) if d > 1 else []
        regulators_of[gene] = [first, *map(int, others)]

    # Every master regulator must drive at least one target, otherwise it is not in the network.
    out_degree = np.bincount([r for regs in regulators_of.values() for r in regs], minlength=spec.n_genes)
    for mr in rng.permutation(n_mr):
        if out_degree[mr] > 0:
            continue
        for target in rng.permutation(list(regulators_of)):
            regs = regulators_of[target]
            # Replace a regulator that can spare an edge; keep the first (depth-defining) one
            # unless it is itself a master regulator (layer-1 targets), where swapping keeps depth.
            start = 0 if layer[target] == 1 else 1
            swap = [i for i in range(start, len(regs)) if out_degree[regs[i]] > 1 and mr not in regs]
            if swap:
                i = swap[0]
                out_degree[regs[i]] -= 1
                regs[i] = int(mr)
                out_degree[mr] += 1
                break
        else:  # pragma: no cover - only reachable for degenerate specs rejected by check()
            raise ValueError("could not connect every master regulator; increase sergio.network.n_edges")

    rows = []
    for target, regs in regulators_of.items():
        for reg in regs:
            magnitude = rng.uniform(spec.k_min, spec.k_max)
            sign = -1.0 if rng.random() < spec.repressive_fraction else 1.0
            rows.append((reg, target, sign * magnitude))

    names = np.array([f"G{i + 1:0{max(4, len(str(spec.n_genes)))}d}" for i in range(spec.n_genes)])
    names = names[np.argsort(rng.permutation(spec.n_genes))]  # internal index -> public name
    order = np.argsort(names)
    edges = pd.DataFrame(
        {
            "regulator": names[[r[0] for r in rows]],
            "target": names[[r[1] for r in rows]],
            "K": np.round([r[2] for r in rows], 6),
            "n": spec.hill_n,
        },
        columns=EDGE_COLUMNS,
    )
    edges = edges.sort_values(["target", "regulator"], kind="stable").reset_index(drop=True)
    genes = pd.DataFrame(
        {"gene": names[order], "layer": layer[order], "is_master_regulator": layer[order] == 0}
    ).reset_index(drop=True)
    return edges, genes


def read_network(path) -> pd.DataFrame:
    """Read a network TSV (regulator, target, K, n) and check its columns."""
    edges = pd.read_csv(path, sep="\t")
    missing = [c for c in EDGE_COLUMNS if c not in edges.columns]
    if missing:
        raise ValueError(f"{path}: network table lacks column(s) {missing}; expected {EDGE_COLUMNS}")
    return edges


def gene_layers(edges: pd.DataFrame) -> pd.DataFrame:
    """Genes of a network with their depth (0 = master regulator), in sorted name order.

    Depth is the length of the longest regulator chain above a gene; raises ValueError
    if the network has a cycle (SERGIO needs a DAG).
    """
    genes = sorted(set(edges["regulator"]) | set(edges["target"]))
    parents: dict[str, list[str]] = {g: [] for g in genes}
    for reg, tar in zip(edges["regulator"], edges["target"], strict=True):
        parents[tar].append(reg)
    depth: dict[str, int] = {}
    state: dict[str, int] = {}
    for root in genes:
        stack = [root]
        while stack:
            g = stack[-1]
            if g in depth:
                stack.pop()
                continue
            if state.get(g) == 1:
                pending = [p for p in parents[g] if p not in depth]
                if pending:
                    raise ValueError(f"network has a cycle through gene {g}; SERGIO needs a DAG")
                depth[g] = 1 + max((depth[p] for p in parents[g]), default=-1)
                stack.pop()
                continue
            state[g] = 1
            for p in parents[g]:
                if p not in depth:
                    if state.get(p) == 1:
                        raise ValueError(f"network has a cycle through gene {p}; SERGIO needs a DAG")
                    stack.append(p)
    return pd.DataFrame(
        {"gene": genes, "layer": [depth[g] for g in genes], "is_master_regulator": [depth[g] == 0 for g in genes]}
    )
