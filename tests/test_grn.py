import numpy as np
import pandas as pd
import pytest

from advinterp.grn import EDGE_COLUMNS, NetworkSpec, gene_layers, generate_network


@pytest.fixture(scope="module")
def ds3():
    spec = NetworkSpec()
    edges, genes = generate_network(spec, seed=0)
    return spec, edges, genes


def test_ds3_statistics(ds3):
    spec, edges, genes = ds3
    assert list(edges.columns) == EDGE_COLUMNS
    assert len(genes) == 1200 and genes["gene"].is_unique
    assert len(edges) == 2700
    assert int(genes["is_master_regulator"].sum()) == 67
    indeg = edges.groupby("target").size()
    # every non-MR gene is a target with 1..11 regulators; MRs are never targets
    assert set(indeg.index) == set(genes.loc[~genes["is_master_regulator"], "gene"])
    assert indeg.min() == 1 and indeg.max() <= 11
    assert 2.0 < indeg.mean() < 2.8
    assert not edges.duplicated(["regulator", "target"]).any()
    assert (edges["K"].abs() >= 1).all() and (edges["K"].abs() <= 5).all()
    assert 0.4 < (edges["K"] < 0).mean() < 0.6
    assert (edges["n"] == 2).all()
    # every master regulator drives at least one target
    outdeg = edges.groupby("regulator").size()
    mrs = genes.loc[genes["is_master_regulator"], "gene"]
    assert (outdeg.reindex(mrs).fillna(0) >= 1).all()


def test_layered_dag(ds3):
    spec, edges, genes = ds3
    layer = genes.set_index("gene")["layer"]
    # regulators come from earlier layers, and each target has one in the layer just above
    assert (layer[edges["regulator"]].to_numpy() < layer[edges["target"]].to_numpy()).all()
    deepest = edges.assign(rl=layer[edges["regulator"]].to_numpy()).groupby("target")["rl"].max()
    assert (deepest == layer[deepest.index] - 1).all()
    assert sorted(layer.unique()) == list(range(spec.n_layers + 1))
    # the depth recomputed from the edges alone (what the simulation step does) agrees
    recomputed = gene_layers(edges).set_index("gene")
    pd.testing.assert_series_equal(recomputed["layer"], layer.sort_index(), check_names=False)
    assert (recomputed["is_master_regulator"] == (recomputed["layer"] == 0)).all()


def test_seeded(ds3):
    _, edges, _ = ds3
    again, _ = generate_network(NetworkSpec(), seed=0)
    other, _ = generate_network(NetworkSpec(), seed=1)
    pd.testing.assert_frame_equal(edges, again)
    assert not edges.equals(other)


def test_names_do_not_reveal_roles(ds3):
    _, _, genes = ds3
    mr_positions = np.flatnonzero(genes["is_master_regulator"].to_numpy())
    assert mr_positions.max() > 600  # MRs are spread over the name range, not G0001..G0067


def test_cycle_is_rejected():
    edges = pd.DataFrame({"regulator": ["a", "b", "c", "m"], "target": ["b", "c", "a", "a"], "K": 1.0, "n": 2})
    with pytest.raises(ValueError, match="cycle"):
        gene_layers(edges)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"n_edges": 10}, "n_edges"),
        ({"n_edges": 10**6}, "n_edges"),
        ({"n_master_regulators": 1200}, "n_master_regulators"),
        ({"n_layers": 0}, "n_layers"),
        ({"repressive_fraction": 1.5}, "repressive_fraction"),
    ],
)
def test_unrealisable_spec_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=f"sergio.network.{key}"):
        generate_network(NetworkSpec(**kwargs), seed=0)
