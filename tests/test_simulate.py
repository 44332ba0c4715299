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


# A published-network pair in SERGIO's file format (data_sets/*/Interaction_cID_*.txt, Regs_cID_*.txt):
# genes 0 and 1 are master regulators; 2 <- 0 (activation), 1 (repression); 3 <- 2; 4 <- 0 (repression).
INTERACTIONS = "2.0,2.0,0.0,1.0,3.0,-2.0,2.0,2.0\n3.0,1.0,2.0,2.5,2.0\n4.0,1.0,0.0,-1.5,2.0\n"
REGULATORS = "0.0,1.0,4.0,0.5\n1.0,3.5,0.2,2.0\n"


def published_files(tmp_path, interactions=INTERACTIONS, regulators=REGULATORS):
    (tmp_path / "int.txt").write_text(interactions)
    (tmp_path / "regs.txt").write_text(regulators)
    return tmp_path / "int.txt", tmp_path / "regs.txt"


def test_read_published_network(tmp_path):
    from advinterp.simulate import read_published_network

    edges, rates = read_published_network(*published_files(tmp_path))
    assert edges.to_dict("list") == {"regulator": ["G0000", "G0001", "G0002", "G0000"],
                                     "target": ["G0002", "G0002", "G0003", "G0004"],
                                     "K": [3.0, -2.0, 2.5, -1.5], "n": [2.0, 2.0, 2.0, 2.0]}
    assert list(rates.index) == ["G0000", "G0001"] and list(rates.columns) == ["type_0", "type_1", "type_2"]
    assert rates.loc["G0000"].tolist() == [1.0, 4.0, 0.5]


@pytest.mark.parametrize("interactions, regulators, message", [
    ("2.0,2.0,0.0,1.0,3.0,2.0,2.0\n", REGULATORS, "int.txt: line 1 is not 'target, r, r regulators, r K, r n'"),
    ("2.0,1.0,x,3.0,2.0\n", REGULATORS, "int.txt: gene id 'x' is not a number"),
    (INTERACTIONS, "0.0,1.0,4.0,0.5\n", "int.txt: ['G0001'] regulate other genes without being regulated, but"),
    (INTERACTIONS, REGULATORS + "2.0,1.0,1.0,1.0\n", "regs.txt lists ['G0002'] as master regulators, but"),
    (INTERACTIONS, "0.0,1.0,-4.0,0.5\n1.0,3.5,0.2,2.0\n", "regs.txt: production rates must be non-negative"),
    (INTERACTIONS, "0.0,a,4.0,0.5\n1.0,3.5,0.2,2.0\n", "regs.txt: expected numbers only"),
    # 2 <- 3 and 3 <- 2
    ("2.0,3.0,0.0,1.0,3.0,3.0,-2.0,1.0,2.0,2.0,2.0\n3.0,1.0,2.0,2.5,2.0\n4.0,1.0,0.0,-1.5,2.0\n", REGULATORS, "cycle"),
])
def test_published_network_errors_name_the_file(tmp_path, interactions, regulators, message):
    import re

    from advinterp.simulate import read_published_network

    paths = published_files(tmp_path, interactions, regulators)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        read_published_network(*paths)
    assert str(tmp_path) in str(err.value)


def test_simulate_published_uses_the_given_rates(tmp_path):
    from advinterp.simulate import simulate_published

    spec = SimulationSpec(cells_per_type=300, technical_noise="none")
    adata, edges = simulate_published(*published_files(tmp_path), spec, seed=4)
    assert adata.shape == (900, 5) and len(edges) == 4
    assert adata.var_names[adata.var["is_key_gene"]].tolist() == ["G0000", "G0001"]
    assert adata.obs["cell_type"].value_counts().to_dict() == {"type_0": 300, "type_1": 300, "type_2": 300}
    # a master regulator's steady state is its production rate / decay (0.8); the stochastic
    # trajectory (noise_s 1, clipped at 0) is only roughly there, and above it for small rates
    level = adata.varm["mr_level"].loc[["G0000", "G0001"]].to_numpy()
    rates = np.array([[1.0, 4.0, 0.5], [3.5, 0.2, 2.0]])
    ratio = (level / (rates / 0.8))[rates >= 1]
    assert (ratio > 0.6).all() and (ratio < 1.5).all(), ratio
    # the top-tertile ground truth follows the given rates: G0000 is key in type_1, G0001 in type_0
    assert adata.varm["class_key_gene"].loc["G0000"].tolist() == [False, True, False]
    assert adata.varm["class_key_gene"].loc["G0001"].tolist() == [True, False, False]
    again, _ = simulate_published(*published_files(tmp_path), spec, seed=4)
    np.testing.assert_array_equal(adata.X, again.X)
    other, _ = simulate_published(*published_files(tmp_path), spec, seed=5)
    assert (adata.X != other.X).any()
