"""Steady-state scRNA-seq simulation with SERGIO (the ``sergio-rs`` implementation).

The result is an AnnData with integer counts and the ground truth every key-gene
metric uses: ``var['is_key_gene']`` (master regulators), ``var['layer']`` (network
depth), ``varm['mr_level']`` (each MR's mean noise-free expression per cell type) and
``varm['class_key_gene']`` (MRs whose level in that type lies in the top tertile
across types).
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd

from advinterp.grn import EDGE_COLUMNS, gene_layers
from advinterp.specs import NOISE_PRESETS, SimulationSpec

log = logging.getLogger(__name__)




def _build_grn(edges: pd.DataFrame, decay: float):
    import sergio_rs

    genes = {g: sergio_rs.Gene(g, decay) for g in sorted(set(edges["regulator"]) | set(edges["target"]))}
    grn = sergio_rs.GRN()
    for reg, tar, k, n in edges[["regulator", "target", "K", "n"]].itertuples(index=False):
        grn.add_interaction(genes[reg], genes[tar], float(k), None, int(n))
    grn.set_mrs()
    return grn


def simulate_expression(edges: pd.DataFrame, spec: SimulationSpec, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Noise-free steady-state expression, genes x cells, rows in sorted gene order.

    Returns ``(expr, cell_type)`` where ``expr`` is a DataFrame indexed by gene and
    ``cell_type`` gives each column's type label (``type_0`` ...).
    """
    import sergio_rs

    grn = _build_grn(edges, spec.decay)
    profile = sergio_rs.MrProfile.from_random(
        grn, spec.n_cell_types, tuple(spec.mr_low_range), tuple(spec.mr_high_range), seed
    )
    sim = sergio_rs.Sim(
        grn, spec.cells_per_type, spec.safety_iter, spec.scale_iter, spec.dt, spec.noise_s, seed
    )
    frame = sim.simulate(profile)
    # sergio-rs returns genes sorted as text (g1, g10, g2, ...): index by its Genes column.
    genes = frame["Genes"].to_list()
    values = frame.drop("Genes").to_numpy()
    columns = frame.columns[1:]
    expr = pd.DataFrame(values, index=pd.Index(genes, name="gene"), columns=columns).sort_index()
    cell_type = np.array(["_".join(c.split("_")[:2]) for c in columns])
    return expr, cell_type


def add_technical_noise(expr: np.ndarray, preset: str, seed: int) -> np.ndarray:
    """DS-style technical noise (outlier genes, library size, dropout) → integer counts.

    ``expr`` is genes x cells, as in SERGIO. ``preset`` names one of sergio-rs's
    noise settings; ``none`` rounds the noise-free expression to counts instead.
    """
    import sergio_rs

    if preset == "none":
        return np.rint(expr).astype(np.int64)
    if preset not in NOISE_PRESETS:
        raise ValueError(f"sergio.simulation.technical_noise={preset!r} is not one of {['none', *NOISE_PRESETS]}")
    noisy = sergio_rs.add_technical_noise(np.ascontiguousarray(expr, dtype=np.float64),
                                          getattr(sergio_rs.NoiseSetting, preset), seed)
    return np.rint(noisy).astype(np.int64)


def class_key_genes(mr_level: pd.DataFrame) -> pd.DataFrame:
    """Per-type key genes: an MR is key for the types where its level is in its top tertile.

    ``mr_level`` is MRs x types. With T types an MR is key for its ceil(T/3) highest
    types (ties broken by type order, so the count per MR is always the same).
    """
    n_top = int(np.ceil(mr_level.shape[1] / 3))
    ranks = mr_level.rank(axis=1, ascending=False, method="first")
    return ranks <= n_top


def simulate_dataset(edges: pd.DataFrame, spec: SimulationSpec, seed: int) -> ad.AnnData:
    """Simulate counts from a network and attach the key-gene ground truth."""
    expr, cell_type = simulate_expression(edges, spec, seed)
    return assemble_dataset(edges, expr, cell_type, spec, seed)


def assemble_dataset(edges: pd.DataFrame, expr: pd.DataFrame, cell_type: np.ndarray, spec: SimulationSpec,
                     seed: int) -> ad.AnnData:
    """Noise-free expression (genes x cells, sorted genes) → counts AnnData with the ground truth."""
    layers = gene_layers(edges).set_index("gene")
    if list(expr.index) != list(layers.index):
        raise RuntimeError("the simulation returned a gene set different from the network's genes")
    counts = add_technical_noise(expr.to_numpy(), spec.technical_noise, seed)

    types = sorted(set(cell_type), key=lambda t: int(t.split("_")[1]))
    is_mr = layers["is_master_regulator"].to_numpy()
    clean = expr.to_numpy()
    level = pd.DataFrame(
        {t: clean[:, cell_type == t].mean(axis=1) for t in types}, index=expr.index
    )
    level.loc[~is_mr, :] = np.nan
    key = pd.DataFrame(False, index=expr.index, columns=types)
    key.loc[is_mr, :] = class_key_genes(level.loc[is_mr])

    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(cell_type, categories=types)},
        index=pd.Index([f"cell{i:05d}" for i in range(counts.shape[1])], name="cell"),
    )
    var = pd.DataFrame(
        {"is_key_gene": is_mr, "layer": layers["layer"].to_numpy()}, index=expr.index.copy()
    )
    var.index.name = None
    adata = ad.AnnData(X=counts.T.astype(np.int32), obs=obs, var=var)
    adata.varm["mr_level"] = level.set_axis(adata.var_names, axis=0)
    adata.varm["class_key_gene"] = key.set_axis(adata.var_names, axis=0)
    adata.uns["simulation"] = {
        "seed": int(seed),
        "technical_noise": spec.technical_noise,
        "n_master_regulators": int(is_mr.sum()),
        "zero_fraction": float((counts == 0).mean()),
    }
    log.info(
        "simulated %d cells x %d genes (%d MRs), zero fraction %.3f",
        adata.n_obs, adata.n_vars, int(is_mr.sum()), adata.uns["simulation"]["zero_fraction"],
    )
    return adata


def key_gene_table(adata: ad.AnnData) -> pd.DataFrame:
    """Long table of the per-type key genes: cell_type, gene, mr_level."""
    level = adata.varm["mr_level"]
    key = adata.varm["class_key_gene"]
    rows = [
        (t, g, float(level.loc[g, t]))
        for t in key.columns
        for g in key.index[key[t].to_numpy(dtype=bool)]
    ]
    return pd.DataFrame(rows, columns=["cell_type", "gene", "mr_level"])


def _published_gene(token: str, path) -> str:
    try:
        number = float(token)
    except ValueError:
        raise ValueError(f"{path}: gene id {token!r} is not a number (SERGIO's files number their genes)") from None
    if number != int(number) or number < 0:
        raise ValueError(f"{path}: gene id {token!r} is not a non-negative integer")
    return f"G{int(number):04d}"


def read_published_network(interactions, regulators) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SERGIO's published network files (its data_sets/, e.g. DS3) → ``(edges, mr_rates)``.

    ``interactions`` (``Interaction_cID_*.txt``): one line per non-master gene: its id, the
    number r of its regulators, r regulator ids, r Hill coefficients K (< 0: repression) and r
    Hill exponents n. ``regulators`` (``Regs_cID_*.txt``): one line per master regulator: its id
    and its production rate in each cell type. Ids (written as floats, 665.0) become ``G0665``.
    ``edges`` has this package's network columns (regulator, target, K, n); ``mr_rates`` is
    master regulators x cell types (``type_0`` ...). Malformed files are errors naming the file.
    """
    rows = []
    for number, line in enumerate(open(interactions).read().splitlines(), start=1):
        fields = [f.strip() for f in line.split(",") if f.strip()]
        if not fields:
            continue
        try:
            r = int(float(fields[1]))
            regs, ks, ns = fields[2:2 + r], fields[2 + r:2 + 2 * r], fields[2 + 2 * r:2 + 3 * r]
            if r < 1 or len(fields) != 2 + 3 * r:
                raise ValueError
            target = _published_gene(fields[0], interactions)
            rows += [(_published_gene(g, interactions), target, float(k), float(n))
                     for g, k, n in zip(regs, ks, ns, strict=True)]
        except (ValueError, IndexError) as err:
            detail = f" ({err})" if str(err) else ""
            raise ValueError(f"{interactions}: line {number} is not 'target, r, r regulators, r K, r n'"
                             f"{detail}") from None
    if not rows:
        raise ValueError(f"{interactions}: no interactions")
    edges = pd.DataFrame(rows, columns=EDGE_COLUMNS)

    try:
        rates = pd.read_csv(regulators, header=None, dtype=float)
    except ValueError as err:
        raise ValueError(f"{regulators}: expected numbers only ({err})") from None
    if rates.shape[1] < 2:
        raise ValueError(f"{regulators}: expected 'master regulator id, one rate per cell type' per line")
    mrs = [_published_gene(str(v), regulators) for v in rates.iloc[:, 0]]
    mr_rates = pd.DataFrame(rates.iloc[:, 1:].to_numpy(), index=pd.Index(mrs, name="gene"),
                            columns=[f"type_{i}" for i in range(rates.shape[1] - 1)])
    if (mr_rates.to_numpy() < 0).any() or mr_rates.isna().any().any():
        raise ValueError(f"{regulators}: production rates must be non-negative numbers")
    roots = set(edges["regulator"]) - set(edges["target"])
    if extra := sorted(set(mrs) - roots):
        raise ValueError(f"{regulators} lists {extra[:5]} as master regulators, but {interactions} regulates them")
    if missing := sorted(roots - set(mrs)):
        raise ValueError(f"{interactions}: {missing[:5]} regulate other genes without being regulated, but "
                         f"{regulators} gives them no production rates")
    try:
        gene_layers(edges)  # a cycle is an error here, before any simulation
    except ValueError as err:
        raise ValueError(f"{interactions}: {err}") from None
    return edges, mr_rates.sort_index()


def simulate_published_expression(edges: pd.DataFrame, mr_rates: pd.DataFrame, spec: SimulationSpec,
                                  seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Noise-free steady-state expression with the given master-regulator rates (genes x cells).

    sergio-rs draws its master-regulator rates itself; SERGIO's reference implementation
    (``sergio-scsim``) takes them, as the published datasets need. Same model and parameters
    (decay, dt, noise_s, safety_iter, scale_iter, cells_per_type) as :func:`simulate_expression`;
    the number of cell types is the rate table's. SERGIO draws from numpy's global generator,
    which is seeded here.
    """
    from SERGIO import sergio
    from SERGIO.GRN import GRN, Gene, SingleInteraction
    from SERGIO.MR import mrProfile

    grn = GRN()
    for reg, tar, k, n in edges[["regulator", "target", "K", "n"]].itertuples(index=False):
        grn.add_interaction(SingleInteraction(reg=[Gene(name=reg, decay=spec.decay)],
                                              tar=Gene(name=tar, decay=spec.decay), k=float(k), h=None, n=float(n)))
    grn.setMRs()
    profile = mrProfile(MR_names=list(mr_rates.index), n_types=mr_rates.shape[1])
    for mr, rates in mr_rates.iterrows():
        profile.profile[mr] = rates.to_numpy(dtype=float)
    profile.init_ = True
    np.random.seed(seed)
    grn.init(profile, update_half_resp=True)
    sim = sergio(grn)
    sim.simulate(nCells=spec.cells_per_type, noise_s=spec.noise_s, safety_iter=spec.safety_iter,
                 scale_iter=spec.scale_iter, dt=spec.dt)
    frame = sim.getSimExpr().sort_index()
    frame.index.name = "gene"
    cell_type = np.array(["_".join(c.split("_")[:2]) for c in frame.columns])
    return frame, cell_type


def simulate_published(interactions, regulators, spec: SimulationSpec, seed: int) -> tuple[ad.AnnData, pd.DataFrame]:
    """A published SERGIO network simulated with its own master-regulator rates → (counts, edges)."""
    edges, mr_rates = read_published_network(interactions, regulators)
    expr, cell_type = simulate_published_expression(edges, mr_rates, spec, seed)
    adata = assemble_dataset(edges, expr, cell_type, spec, seed)
    adata.uns["simulation"]["mr_rates"] = "given (published network)"
    return adata, edges
