import numpy as np
import pytest
import torch
from torch import nn
from toy import blobs

from advinterp.device import seed_everything, select_device
from advinterp.model import (
    HISTORY_COLUMNS,
    MLP,
    Architecture,
    TrainSpec,
    classification_metrics,
    load_model,
    predict_logits,
    save_model,
    train_classifier,
)

CPU = torch.device("cpu")


def test_paper_architecture():
    model = MLP(2500, 14)
    linear = [m for m in model.net if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linear] == [500, 250, 100, 80, 60, 40, 20, 14]
    assert linear[0].in_features == 2500
    # dropout 0.1 right after the first hidden layer's ReLU, 0.2 after the 60-unit layer's
    mods = list(model.net)
    drops = [(i, m.p) for i, m in enumerate(mods) if isinstance(m, nn.Dropout)]
    assert [p for _, p in drops] == [0.1, 0.2]
    assert mods[drops[0][0] - 2].out_features == 500 and mods[drops[1][0] - 2].out_features == 60
    assert isinstance(mods[-1], nn.Linear)  # logits, no softmax
    assert model(torch.zeros(5, 2500)).shape == (5, 14)


def test_architecture_lengths_must_match():
    with pytest.raises(ValueError, match="model.dropout"):
        Architecture(hidden=(10, 5), dropout=(0.1,))


def test_training_is_deterministic_and_learns():
    xtr, ytr, xte, yte = blobs()
    arch = Architecture(hidden=(32, 16), dropout=(0.1, 0.0))
    spec = TrainSpec(epochs=15, batch_size=32)
    runs = []
    for _ in range(2):
        seed_everything(5, threads=1)
        runs.append(train_classifier(xtr, ytr, xte, yte, 3, arch, spec, seed=5, device=CPU))
    a, b = runs
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert a.history.equals(b.history)
    assert list(a.history.columns) == HISTORY_COLUMNS and len(a.history) == 15
    assert a.history["test_accuracy"].iloc[-1] > 0.9
    assert a.history["loss"].iloc[-1] < a.history["loss"].iloc[0]
    seed_everything(6, threads=1)
    c = train_classifier(xtr, ytr, xte, yte, 3, arch, spec, seed=6, device=CPU)
    assert not torch.equal(c.model.net[0].weight, a.model.net[0].weight)


def test_save_load_roundtrip(tmp_path):
    arch = Architecture(hidden=(8,), dropout=(0.0,))
    model = MLP(4, 2, arch)
    path = tmp_path / "m.pt"
    save_model(path, model, 4, arch, ["x", "y"], ["g1", "g2", "g3", "g4"], regime="standard")
    loaded, payload = load_model(path)
    x = torch.randn(6, 4)
    assert torch.equal(predict_logits(model, x, CPU), predict_logits(loaded, x, CPU))
    assert payload["class_names"] == ["x", "y"] and payload["gene_names"][0] == "g1"
    assert payload["meta"] == {"regime": "standard"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


def test_classification_metrics_by_hand():
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    # F1: a = 2*1/(2*1+1+1)=0.5, b = 2*2/(2*2+1+0)=0.8, c = 0 (never predicted)
    assert m["per_class_f1"] == pytest.approx({"a": 0.5, "b": 0.8, "c": 0.0})
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8) / 3)


def test_device_selection():
    assert select_device("cpu") == CPU
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        select_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised on a machine without CUDA")
def test_cuda_requested_without_gpu_is_an_error():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        select_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda_matches_cpu_accuracy():
    xtr, ytr, xte, yte = blobs()
    arch = Architecture(hidden=(32, 16), dropout=(0.1, 0.0))
    res = train_classifier(xtr, ytr, xte, yte, 3, arch, TrainSpec(epochs=15, batch_size=32), 5,
                           torch.device("cuda"))
    assert next(res.model.parameters()).is_cuda
    assert res.history["test_accuracy"].iloc[-1] > 0.9
