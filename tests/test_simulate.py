import numpy as np
import pandas as pd
import pytest

from advinterp.grn import NetworkSpec, generate_network
from advinterp.simulate import SimulationSpec, class_key_genes, key_gene_table, simulate_dataset

# Names whose text order (g1, g10, g11, g2, ...) differs from their numeric order, the
# order sergio-rs returns rows in; MRs are g1, g2 and g10.
EDGES = pd.DataFrame(
    [("g1", "g3", 3.0), ("g2", "g3", -2.0), ("g10", "g4", 4.0), ("g1", "g5", 2.5), ("g3", "g6", 2.0),
     ("g4", "g7", -3.0), ("g5", "g8", 2.0), ("g6", "g9", 1.5), ("g2", "g11", 4.0), ("g11", "g12", 2.0)],
    columns=["regulator", "target", "K"],
).assign(n=2)
SPEC = SimulationSpec(n_cell_types=3, cells_per_type=40, technical_noise="none")


@pytest.fixture(scope="module")
def clean():
    return simulate_dataset(EDGES, SPEC, seed=3)


def test_gene_order_and_key_flags(clean):
    assert list(clean.var_names) == sorted(set(EDGES["regulator"]) | set(EDGES["target"]))
    mrs = sorted(set(EDGES["regulator"]) - set(EDGES["target"]))
    assert clean.var_names[clean.var["is_key_gene"]].tolist() == mrs
    layer = clean.var["layer"]
    assert layer["g1"] == 0 and layer["g3"] == 1 and layer["g6"] == 2 and layer["g9"] == 3 and layer["g12"] == 2


def test_mr_level_matches_counts_of_the_same_gene(clean):
    # Without technical noise the counts are the rounded clean expression, so each MR's
    # per-type level must equal the mean of *its own* column per type: a reordering bug
    # between sergio-rs's text-sorted rows and our genes would break this.
    x = np.asarray(clean.X, dtype=float)
    for gene in clean.var_names[clean.var["is_key_gene"]]:
        j = clean.var_names.get_loc(gene)
        for t in clean.obs["cell_type"].cat.categories:
            mean_counts = x[(clean.obs["cell_type"] == t).to_numpy(), j].mean()
            assert abs(mean_counts - clean.varm["mr_level"].loc[gene, t]) <= 0.5
    assert clean.varm["mr_level"].loc[~clean.var["is_key_gene"]].isna().all().all()


def test_counts_and_labels(clean):
    assert np.issubdtype(clean.X.dtype, np.integer) and (clean.X >= 0).all()
    assert clean.obs["cell_type"].value_counts().to_dict() == {"type_0": 40, "type_1": 40, "type_2": 40}


def test_technical_noise_gives_sparse_integer_counts():
    edges, _ = generate_network(NetworkSpec(n_genes=60, n_master_regulators=6, n_edges=120, n_layers=2,
                                            max_regulators=5), seed=1)
    noisy = simulate_dataset(edges, SimulationSpec(n_cell_types=2, cells_per_type=30), seed=1)
    assert np.issubdtype(noisy.X.dtype, np.integer)
    assert 0.2 < noisy.uns["simulation"]["zero_fraction"] < 0.99
    again = simulate_dataset(edges, SimulationSpec(n_cell_types=2, cells_per_type=30), seed=1)
    np.testing.assert_array_equal(noisy.X, again.X)


def test_class_key_genes_top_tertile():
    level = pd.DataFrame([[1, 5, 3, 2, 9, 0], [4, 4, 4, 1, 1, 1]], index=["a", "b"],
                         columns=[f"type_{i}" for i in range(6)])
    key = class_key_genes(level)
    assert key.loc["a"].tolist() == [False, True, False, False, True, False]
    assert key.loc["b"].tolist() == [True, True, False, False, False, False]  # ties: first types


def test_key_gene_table(clean):
    table = key_gene_table(clean)
    assert list(table.columns) == ["cell_type", "gene", "mr_level"]
    # 3 MRs x ceil(3/3)=1 type each
    assert len(table) == 3 and set(table["gene"]) == {"g1", "g2", "g10"}
    assert clean.varm["class_key_gene"].sum(axis=1)[clean.var["is_key_gene"]].eq(1).all()


def test_unknown_noise_preset():
    with pytest.raises(ValueError, match="technical_noise"):
        simulate_dataset(EDGES, SimulationSpec(n_cell_types=2, cells_per_type=5, technical_noise="DS99"), seed=0)
