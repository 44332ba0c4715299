"""The regulatory-code arm (Koo et al. 2019): generator, models, training regimes, attribution scores, Table 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from advinterp.regcode_attribution import (
    PAPER_HEADLINES,
    TABLE1_COLUMNS,
    RegcodeAttributionSpec,
    attribute_regcode,
    attribution_maps,
    position_scores,
    sequence_scores,
    table1,
    table1_markdown,
)
from advinterp.regcode_data import (
    CORE_MOTIFS,
    RegcodeDataSpec,
    generate_dataset,
    load_core_motifs,
    load_dataset,
    make_dataset,
    motif_positions,
    save_dataset,
)
from advinterp.regcode_model import (
    RegcodeTrainSpec,
    build_model,
    load_regcode_model,
    pgd_attack,
    save_regcode_model,
    train_regcode,
)

CPU = torch.device("cpu")
SMALL = RegcodeDataSpec(n_sequences=400)


@pytest.fixture(scope="module")
def small():
    return generate_dataset(SMALL, seed=3)


@pytest.fixture(scope="module")
def easy():
    """An easy set: five core motifs in every positive, only non-core motifs in the negatives' pool
    would be easiest, but the negatives' pool keeps the core motifs (as the paper); many motifs per
    sequence make the two classes separable enough for a short training."""
    return generate_dataset(RegcodeDataSpec(n_sequences=1500, min_motifs=5, max_motifs=5), seed=1)


def test_core_motifs_from_jaspar2016():
    motifs = load_core_motifs(RegcodeDataSpec())
    assert len(motifs) == 10
    assert [m.matrix_id for m in motifs[::2]] == [m for m, _ in CORE_MOTIFS]
    assert [m.name for m in motifs[::2]] == [n for _, n in CORE_MOTIFS]
    for fwd, rev in zip(motifs[::2], motifs[1::2], strict=True):
        assert (fwd.strand, rev.strand) == ("+", "-") and rev.matrix_id == fwd.matrix_id
        np.testing.assert_allclose(fwd.pfm.sum(axis=0), 1.0)
        # reverse complement: A<->T, C<->G, positions reversed
        np.testing.assert_allclose(rev.pfm, fwd.pfm[[3, 2, 1, 0], ::-1])
        assert not np.allclose(rev.pfm, fwd.pfm)
    consensus = ["".join("ACGT"[i] for i in m.pfm.argmax(axis=0)) for m in motifs[:2]]
    assert consensus == ["GCCCCGCCCCC", "GGGGGCGGGGC"]  # SP1's GC box, both strands


def test_sequences_are_one_hot_with_split_sizes(small):
    assert {s: len(d["y"]) for s, d in small.splits.items()} == {"train": 280, "valid": 40, "test": 80}
    for d in small.splits.values():
        assert d["x"].shape == (len(d["y"]), 4, 200) and d["x"].dtype == np.uint8
        assert (d["x"].sum(axis=1) == 1).all()
        assert d["truth"].shape == d["x"].shape
        np.testing.assert_allclose(d["truth"].sum(axis=1), 1.0, atol=1e-5)
    y = np.concatenate([d["y"] for d in small.splits.values()])
    assert y.sum() == 200


def test_planted_motifs_match_truth(small):
    from advinterp.regcode_data import load_background_motifs

    core = load_core_motifs(SMALL)
    pool = core + load_background_motifs(SMALL, core, np.random.default_rng(
        np.random.SeedSequence(3).spawn(5)[0]))
    assert [m.label for m in pool] == small.pool
    for d in small.splits.values():
        n_motifs = (d["motifs"] >= 0).sum(axis=1)
        assert n_motifs.min() >= 3 and n_motifs.max() <= 5
        # every sampled nucleotide has positive probability under its sequence model (PFMs have zeros)
        assert ((d["x"] * d["truth"]).sum(axis=1) > 0).all()
        for s in range(len(d["y"])):
            expected = np.zeros(200, bool)
            for idx, start in zip(d["motifs"][s], d["starts"][s], strict=True):
                if idx < 0:
                    continue
                w = pool[idx].width
                np.testing.assert_allclose(d["truth"][s][:, start:start + w], pool[idx].pfm, rtol=1e-6)
                expected[start:start + w] |= motif_positions(pool[idx].pfm[None])[0]
            assert (motif_positions(d["truth"][s][None])[0] == expected).all()
            assert np.allclose(d["truth"][s][:, ~expected], 0.25) or not (~expected).any()


def test_positives_draw_core_motifs_negatives_mostly_not(small):
    y = np.concatenate([d["y"] for d in small.splits.values()])
    motifs = np.concatenate([d["motifs"] for d in small.splits.values()])
    pos, neg = motifs[y == 1], motifs[y == 0]
    assert (pos[pos >= 0] < small.n_core).all()
    assert len(small.pool) == 10 + 2 * 50
    core_only = np.array([(row[row >= 0] < small.n_core).all() for row in neg])
    # P(all 3..5 motifs core) = (10/110)^k: a negative made of core motifs only is rare
    assert core_only.mean() < 0.05
    assert (neg >= small.n_core).any()


def test_generator_is_deterministic_and_downsamples(tmp_path, small):
    again = generate_dataset(SMALL, seed=3)
    other = generate_dataset(SMALL, seed=4)
    for s in small.splits:
        for k in small[s]:
            np.testing.assert_array_equal(small[s][k], again[s][k])
    assert not np.array_equal(small["train"]["x"], other["train"]["x"])
    sub = make_dataset(SMALL, 100, seed=3)
    assert {s: len(d["y"]) for s, d in sub.splits.items()} == {"train": 70, "valid": 10, "test": 20}
    full_rows = {r.tobytes() for r in small["test"]["x"]}
    assert all(r.tobytes() in full_rows for r in sub["test"]["x"])  # a down-sample of the same set
    path = tmp_path / "d.npz"
    save_dataset(sub, path)
    back = load_dataset(path)
    assert back.pool == sub.pool and back.n_core == sub.n_core and back.meta["size"] == 100
    np.testing.assert_array_equal(back["valid"]["truth"], sub["valid"]["truth"])
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("kwargs, match", [
    ({"seq_length": 40}, "do not fit"),
    ({"min_motifs": 4, "max_motifs": 3}, "min_motifs"),
    ({"split": (0.5, 0.1, 0.1)}, "split"),
    ({"n_background_motifs": 100000}, "n_background_motifs"),
])
def test_generator_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_dataset(RegcodeDataSpec(n_sequences=100, **kwargs), seed=0)


def test_specs_from_config():
    spec = RegcodeDataSpec.from_config({"split": [0.8, 0.1, 0.1], "n_background_motifs": 10})
    assert spec.split == (0.8, 0.1, 0.1) and spec.seq_length == 200
    with pytest.raises(ValueError, match="regulatory_code.training"):
        RegcodeTrainSpec.from_config({"epochs": 3})
    assert RegcodeTrainSpec.from_config({"dist_dropout": [0.1, 0.2, 0.3, 0.4, 0.5]}).dist_dropout[0] == 0.1
    assert RegcodeAttributionSpec.from_config({"methods": ["saliency"]}).methods == ("saliency",)
    assert RegcodeTrainSpec.SECTION == ("regulatory_code", "training")


@pytest.mark.parametrize("arch", ["local_net", "dist_net"])
@pytest.mark.parametrize("regularised", [False, True])
def test_model_shapes(arch, regularised):
    model = build_model(arch, regularised, RegcodeTrainSpec()).eval()
    assert model(torch.rand(7, 4, 200)).shape == (7, 1)
    kinds = {type(m).__name__ for m in model}
    assert ("BatchNorm1d" in kinds) == regularised and ("Dropout" in kinds) == regularised
    convs = [m for m in model if isinstance(m, nn.Conv1d)]
    assert [c.kernel_size[0] for c in convs] == ([19] if arch == "local_net" else [7, 6, 6, 4])
    assert [c.out_channels for c in convs] == ([24] if arch == "local_net" else [24, 32, 48, 64])
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [96, 1]


def test_dist_net_kernel_is_a_parameter():
    model = build_model("dist_net", False, RegcodeTrainSpec(dist_kernel2=9)).eval()
    assert model(torch.rand(2, 4, 200)).shape == (2, 1)
    assert [m for m in model if isinstance(m, nn.Conv1d)][1].kernel_size == (9,)


def test_training_learns_an_easy_set_and_saves(tmp_path, easy):
    spec = RegcodeTrainSpec(max_epochs=12, patience=4)
    result = train_regcode(easy, "local_net", True, "standard", spec, seed=0, device=CPU)
    assert result.metrics["test_auc"] > 0.8
    assert result.history["valid_loss"].min() < result.history["valid_loss"].iloc[0]
    path = tmp_path / "m.pt"
    save_regcode_model(path, result)
    model, record = load_regcode_model(path)
    x = torch.as_tensor(easy["test"]["x"][:20].astype(np.float32))
    result.model.eval()
    torch.testing.assert_close(model(x), result.model(x))
    assert record["spec"] == spec and record["regime"] == "standard"


def test_training_is_repeatable_and_noise_differs(small):
    spec = RegcodeTrainSpec(max_epochs=2)
    a = train_regcode(small, "local_net", False, "standard", spec, seed=5, device=CPU)
    b = train_regcode(small, "local_net", False, "standard", spec, seed=5, device=CPU)
    c = train_regcode(small, "local_net", False, "noise", spec, seed=5, device=CPU)
    pd.testing.assert_frame_equal(a.history, b.history)
    assert not np.allclose(a.history["train_loss"], c.history["train_loss"])
    wa, wc = a.model[0].weight.detach(), c.model[0].weight.detach()
    assert not torch.allclose(wa, wc)


def test_adversarial_regime_runs_clean_then_attacked_epochs(small):
    spec = RegcodeTrainSpec(clean_epochs=1, adversarial_epochs=1, pgd_steps=2)
    r = train_regcode(small, "local_net", False, "adversarial", spec, seed=0, device=CPU)
    assert list(r.history["phase"]) == ["clean", "adversarial"]
    assert r.metrics["kept"] == "last"


def test_pgd_stays_in_ball_and_raises_loss(easy):
    torch.manual_seed(0)
    model = build_model("local_net", False, RegcodeTrainSpec())
    x = torch.as_tensor(easy["train"]["x"][:64].astype(np.float32))
    y = torch.as_tensor(easy["train"]["y"][:64].astype(np.float32))
    adv = pgd_attack(model, x, y, epsilon=0.2, steps=20, step_size=0.01)
    assert (adv - x).abs().max() <= 0.2 + 1e-6
    assert (adv - x).abs().max() > 0.05
    assert adv.min() >= 0 and adv.max() <= 1
    loss = nn.BCEWithLogitsLoss()
    with torch.no_grad():
        assert loss(model(adv)[:, 0], y) > loss(model(x)[:, 0], y) + 1e-3


def _linear_model(weights: np.ndarray, bias: float = 0.3) -> nn.Module:
    lin = nn.Linear(weights.size, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weights.reshape(1, -1), dtype=torch.float32))
        lin.bias.fill_(bias)
    return nn.Sequential(nn.Flatten(), lin).eval()


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "integrated_gradients"])
def test_linear_model_position_scores(method):
    """logit = sum_ij W_ij x_ij + b: gradient W everywhere, so C_j = W[base_j, j]."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 30))
    x = np.zeros((3, 4, 30), np.float32)
    bases = rng.integers(4, size=(3, 30))
    np.put_along_axis(x, bases[:, None, :], 1.0, axis=1)
    spec = RegcodeAttributionSpec(smoothgrad_samples=4, ig_steps=20)
    attr = attribution_maps(_linear_model(w), torch.as_tensor(x), method, spec)
    scores = position_scores(attr, x)
    expected = np.take_along_axis(w[None].repeat(3, 0), bases[:, None, :], axis=1)[:, 0]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)


def test_linear_model_deepshap_is_relative_to_background():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 10))
    x = np.eye(4, dtype=np.float32)[rng.integers(4, size=(2, 10))].transpose(0, 2, 1)
    bg = np.eye(4, dtype=np.float32)[rng.integers(4, size=(8, 10))].transpose(0, 2, 1)
    attr = attribution_maps(_linear_model(w), torch.as_tensor(x), "deepshap", RegcodeAttributionSpec(),
                            background=torch.as_tensor(bg))
    np.testing.assert_allclose(attr, w[None] * (x - bg.mean(axis=0)), rtol=1e-4, atol=1e-5)


def test_sequence_scores_perfect_inverted_and_hand_computed():
    labels = np.array([[0, 0, 1, 1, 0, 1, 0, 0]], bool)
    perfect = sequence_scores(labels.astype(float) + 0.01 * np.arange(8), labels)
    assert perfect.loc[0, "auroc"] == 1.0 and perfect.loc[0, "auprc"] == 1.0
    inverted = sequence_scores(-labels.astype(float), labels)
    assert inverted.loc[0, "auroc"] == 0.0
    # scores 0..7 with positives at 2, 3, 5: 15 positive-negative pairs, ranks of positives 2, 3, 5
    # pairs won: (2 > 0,1) 2 + (3 > 0,1) 2 + (5 > 0,1,4) 3 = 7 -> 7/15
    ramp = sequence_scores(np.arange(8.0)[None], labels)
    assert ramp.loc[0, "auroc"] == pytest.approx(7 / 15)


def _fake_scores():
    rows = []
    for trial, clf in ((0, 0.9), (1, 0.8)):
        for seq, (roc, pr) in enumerate([(0.6, 0.4), (0.8, 0.5)]):
            rows.append({"dataset_size": 1000, "model": "local_net", "regularised": True, "regime": "noise",
                         "trial": trial, "method": "saliency", "sequence": seq, "auroc": roc + 0.1 * trial,
                         "auprc": pr, "classification_auc": clf})
    return pd.DataFrame(rows)


def test_table1_columns_and_statistics():
    table = table1(_fake_scores())
    assert list(table.columns) == TABLE1_COLUMNS
    assert list(table.columns) == ["dataset_size", "model", "regularised", "regime", "method", "classification_auc",
                                   "auroc_mean", "auroc_sd", "auprc_mean", "auprc_sd", "n_trials"]
    row = table.iloc[0]
    aurocs = np.array([0.6, 0.8, 0.7, 0.9])
    assert row["auroc_mean"] == pytest.approx(0.75)
    assert row["auroc_sd"] == pytest.approx(np.sqrt(((aurocs - 0.75) ** 2).mean()))
    assert row["auprc_mean"] == pytest.approx(0.45) and row["auprc_sd"] == pytest.approx(0.05)
    assert row["classification_auc"] == pytest.approx(0.85) and row["n_trials"] == 2
    md = table1_markdown(table)
    assert "0.750 ± 0.112" in md
    for ref in PAPER_HEADLINES:
        assert f"{ref['what']} (paper)" in md and ref["auroc"] in md and ref["auprc"] in md
    assert "0.967" in md and "0.964" in md


def test_attribute_regcode_tidy_rows(small):
    torch.manual_seed(0)
    model = build_model("dist_net", True, RegcodeTrainSpec()).eval()
    spec = RegcodeAttributionSpec(max_sequences=5, smoothgrad_samples=3, ig_steps=4, shap_background=5)
    df = attribute_regcode(model, {"arch": "dist_net", "regularised": True, "regime": "standard"}, small, spec, 0,
                           {"dataset_size": 400, "trial": 0})
    assert len(df) == 5 * 4 and set(df["method"]) == set(spec.methods)
    assert df[["auroc", "auprc"]].notna().all().all()
    assert (df["model"] == "dist_net").all() and df["classification_auc"].nunique() == 1
    assert (small["test"]["y"][df["sequence"]] == 1).all()
    assert list(table1(df).columns) == TABLE1_COLUMNS
