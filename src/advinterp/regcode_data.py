"""Synthetic regulatory-code sequences of Koo et al. 2019 (ICML CompBio workshop, Table 1).

Positive sequences embed ``min_motifs``..``max_motifs`` *core* motifs (SP1, GABPA, CEBPB, MAX, YY1 of
JASPAR2016 and their reverse complements: 10 PFMs) drawn with replacement, separated by random gaps, on
a uniform background; negative sequences follow the same steps but draw from a pool of the 10 core
PFMs plus ``n_background_motifs`` other JASPAR vertebrate motifs in both orientations. Each sequence is
sampled from its *sequence model* (a 4 x L probability matrix), which is kept as the ground truth.

Choices, and where Koo's notebook (``code/0_Generate_Synthetic_Dataset.ipynb``) and the paper differ:

* Motifs per sequence: the paper says 3 to 5; the notebook draws 3..7 (probabilities 0.5, 0.25, 0.17,
  0.05, 0.03) for both classes. We follow the paper (and the issue): uniform on
  ``[min_motifs, max_motifs]`` = [3, 5]; both ends are parameters.
* Background pool: the paper speaks of 100 "non-overlapping background motifs"; the notebook draws 50
  JASPAR motifs at random, drops hand-picked duplicates, and adds each in both orientations (= 100
  PFMs) next to the 10 core PFMs. We draw ``n_background_motifs`` = 50 JASPAR2016 CORE vertebrate
  motifs (seeded) whose TF name shares no component with a core TF (e.g. ``MAX::MYC`` is left out) and
  use both orientations: 10 + 100 PFMs, as the notebook.
* PFMs are counts normalised per column without pseudocounts, as the notebook.
* Gaps: the notebook draws ``U(0, 2)`` weights for the k+1 gaps and scales them to the free length;
  we do the same, rounding by largest remainder (the notebook redraws until rounding adds up).
* Ground truth: the notebook stores the whole sequence model (motif probabilities where a motif was
  placed, 0.25 elsewhere); so do we (``truth``). Positions carrying information
  (``2 + sum_i M_ij log2 M_ij > 0``, Koo's label) are :func:`motif_positions`.
* Sizes: the paper down-samples the 30,000-sequence set to 10,000 (Koo's README regenerates with
  ``num_seq=10000``); we down-sample each split of the full set proportionally, so a smaller set's
  splits are subsets of the full set's.

numpy and pyjaspar only (no torch): runs in any env with those.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from advinterp.io import atomic_path
from advinterp.specs import _build, _floats

ALPHABET = "ACGT"
SPLITS = ("train", "valid", "test")
# (matrix id, TF name) of the paper's core motifs, JASPAR2016
CORE_MOTIFS = (("MA0079.3", "SP1"), ("MA0062.2", "Gabpa"), ("MA0466.2", "CEBPB"), ("MA0058.3", "MAX"),
               ("MA0095.2", "YY1"))


@dataclass(frozen=True)
class RegcodeDataSpec:
    """Generator parameters (``regulatory_code.data``); defaults are the paper's."""

    SECTION: ClassVar[tuple[str, ...]] = ("regulatory_code", "data")

    n_sequences: int = 30000
    seq_length: int = 200
    min_motifs: int = 3
    max_motifs: int = 5
    n_background_motifs: int = 50
    jaspar_release: str = "JASPAR2016"
    core_motifs: tuple[str, ...] = tuple(m for m, _ in CORE_MOTIFS)
    positive_fraction: float = 0.5
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)

    @classmethod
    def from_config(cls, section: dict) -> RegcodeDataSpec:
        """From ``regulatory_code.data``."""
        return _build(cls, section, {"core_motifs": lambda v: tuple(str(m) for m in v), "split": _floats})

    def check(self) -> None:
        """Raise ValueError naming the parameter when the generator cannot run (no data needed)."""
        p = ".".join(self.SECTION)
        if self.seq_length < 1:
            raise ValueError(f"{p}.seq_length={self.seq_length} must be positive")
        if not 1 <= self.min_motifs <= self.max_motifs:
            raise ValueError(f"{p}: need 1 <= min_motifs ({self.min_motifs}) <= max_motifs ({self.max_motifs})")
        if self.n_background_motifs < 0:
            raise ValueError(f"{p}.n_background_motifs={self.n_background_motifs} must be >= 0")
        if not self.core_motifs:
            raise ValueError(f"{p}.core_motifs is empty")
        if not 0.0 < self.positive_fraction < 1.0:
            raise ValueError(f"{p}.positive_fraction={self.positive_fraction} must be in (0, 1)")
        if len(self.split) != 3 or min(self.split) <= 0 or abs(sum(self.split) - 1.0) > 1e-9:
            raise ValueError(f"{p}.split={list(self.split)} must be three positive fractions summing to 1")
        if self.n_sequences < 10:
            raise ValueError(f"{p}.n_sequences={self.n_sequences} must be at least 10")


@dataclass(frozen=True)
class Motif:
    """One PFM as probabilities, shape (4, width), rows A, C, G, T."""

    matrix_id: str
    name: str
    pfm: np.ndarray = field(repr=False)
    strand: str = "+"

    @property
    def label(self) -> str:
        return f"{self.matrix_id}{'' if self.strand == '+' else '(-)'} {self.name}"

    @property
    def width(self) -> int:
        return self.pfm.shape[1]

    def reverse_complement(self) -> Motif:
        return Motif(self.matrix_id, self.name, self.pfm[::-1, ::-1].copy(), "-" if self.strand == "+" else "+")


def _jaspar(release: str):
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    return db


def _to_motif(m) -> Motif:
    counts = np.array([list(m.counts[b]) for b in ALPHABET], dtype=np.float64)
    if counts.shape[0] != 4 or counts.shape[1] == 0 or (counts.sum(axis=0) <= 0).any():
        raise ValueError(f"JASPAR motif {m.matrix_id} has an unusable count matrix")
    return Motif(m.matrix_id, m.name, counts / counts.sum(axis=0, keepdims=True))


def load_core_motifs(spec: RegcodeDataSpec) -> list[Motif]:
    """The core PFMs in the spec's order, each followed by its reverse complement (offline: pyjaspar's
    bundled SQLite)."""
    db = _jaspar(spec.jaspar_release)
    motifs = []
    for matrix_id in spec.core_motifs:
        m = db.fetch_motif_by_id(matrix_id)
        if m is None:
            raise ValueError(f"core motif {matrix_id} is not in {spec.jaspar_release}")
        fwd = _to_motif(m)
        motifs += [fwd, fwd.reverse_complement()]
    return motifs


def _name_parts(name: str) -> set[str]:
    return {p for p in re.split(r"::|[^A-Za-z0-9]+", name.upper()) if p}


def load_background_motifs(spec: RegcodeDataSpec, core: list[Motif], rng: np.random.Generator) -> list[Motif]:
    """``n_background_motifs`` CORE vertebrate motifs of the release (latest versions), none sharing a TF
    name component with a core motif, each followed by its reverse complement."""
    if spec.n_background_motifs == 0:
        return []
    db = _jaspar(spec.jaspar_release)
    core_ids = {m.matrix_id.split(".")[0] for m in core}
    core_names = set().union(*(_name_parts(m.name) for m in core))
    candidates = sorted(
        (m for m in db.fetch_motifs(collection="CORE", tax_group=["vertebrates"])
         if m.matrix_id.split(".")[0] not in core_ids and not (_name_parts(m.name) & core_names)),
        key=lambda m: m.matrix_id,
    )
    if spec.n_background_motifs > len(candidates):
        raise ValueError(f"regulatory_code.data.n_background_motifs={spec.n_background_motifs} but "
                         f"{spec.jaspar_release} has only {len(candidates)} usable vertebrate motifs")
    chosen = rng.choice(len(candidates), size=spec.n_background_motifs, replace=False)
    motifs = []
    for i in sorted(chosen):
        fwd = _to_motif(candidates[i])
        motifs += [fwd, fwd.reverse_complement()]
    return motifs


@dataclass
class RegcodeData:
    """One data set: per split one-hot ``x`` (n, 4, L) uint8, ``y`` (n,) uint8, ``truth`` (n, 4, L)
    float32 sequence models, ``motifs`` (n, max_motifs) pool index (-1: none) and ``starts`` (n,
    max_motifs); ``pool`` labels the pool's PFMs (core first)."""

    splits: dict[str, dict[str, np.ndarray]]
    pool: list[str]
    n_core: int
    meta: dict

    def __getitem__(self, split: str) -> dict[str, np.ndarray]:
        return self.splits[split]

    @property
    def n_sequences(self) -> int:
        return sum(len(s["y"]) for s in self.splits.values())


def _gaps(rng: np.random.Generator, n_gaps: int, free: int) -> np.ndarray:
    """``n_gaps`` non-negative integers summing to ``free``, proportional to U(0, 2) weights."""
    w = rng.uniform(0.0, 2.0, size=n_gaps)
    if w.sum() == 0:
        w = np.ones(n_gaps)
    raw = w / w.sum() * free
    gaps = np.floor(raw).astype(int)
    short = free - gaps.sum()
    gaps[np.argsort(-(raw - gaps), kind="stable")[:short]] += 1
    return gaps


def _sequence_models(rng: np.random.Generator, pool: list[Motif], n: int, spec: RegcodeDataSpec):
    """``n`` sequence models drawing motifs from ``pool``: (models (n,4,L), motifs, starts)."""
    L = spec.seq_length
    models = np.full((n, 4, L), 0.25, dtype=np.float32)
    motifs = np.full((n, spec.max_motifs), -1, dtype=np.int16)
    starts = np.full((n, spec.max_motifs), -1, dtype=np.int16)
    widths = np.array([m.width for m in pool])
    counts = rng.integers(spec.min_motifs, spec.max_motifs + 1, size=n)
    for s in range(n):
        k = counts[s]
        chosen = rng.integers(len(pool), size=k)
        gaps = _gaps(rng, k + 1, L - int(widths[chosen].sum()))
        pos = int(gaps[0])
        for j, idx in enumerate(chosen):
            w = widths[idx]
            models[s, :, pos:pos + w] = pool[idx].pfm
            motifs[s, j], starts[s, j] = idx, pos
            pos += w + int(gaps[j + 1])
    return models, motifs, starts


def sample_sequences(rng: np.random.Generator, models: np.ndarray) -> np.ndarray:
    """One-hot (n, 4, L) uint8 sequences, each position drawn from its column of ``models``."""
    cum = np.cumsum(models, axis=1)
    u = rng.random((models.shape[0], 1, models.shape[2]))
    idx = np.minimum((u > cum).sum(axis=1), 3)
    onehot = np.zeros(models.shape, dtype=np.uint8)
    np.put_along_axis(onehot, idx[:, None, :], 1, axis=1)
    return onehot


def generate_dataset(spec: RegcodeDataSpec, seed: int) -> RegcodeData:
    """The full ``spec.n_sequences`` data set, split train/valid/test. Same seed, same arrays."""
    spec.check()
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    core = load_core_motifs(spec)
    background = core + load_background_motifs(spec, core, rngs[0])
    longest = max(m.width for m in background)
    if spec.max_motifs * longest > spec.seq_length:
        raise ValueError(
            f"regulatory_code.data: {spec.max_motifs} motifs of up to {longest} nt (the longest PFM in the "
            f"pools) do not fit in seq_length={spec.seq_length}; lower max_motifs or raise seq_length")
    n_pos = int(round(spec.n_sequences * spec.positive_fraction))
    n_neg = spec.n_sequences - n_pos
    pos = _sequence_models(rngs[1], core, n_pos, spec)
    neg = _sequence_models(rngs[2], background, n_neg, spec)
    models = np.concatenate([pos[0], neg[0]])
    motifs = np.concatenate([pos[1], neg[1]])
    starts = np.concatenate([pos[2], neg[2]])
    x = sample_sequences(rngs[3], models)
    y = np.concatenate([np.ones(n_pos, np.uint8), np.zeros(n_neg, np.uint8)])
    order = rngs[4].permutation(spec.n_sequences)
    bounds = np.cumsum([0.0, *spec.split]) * spec.n_sequences
    bounds = np.round(bounds).astype(int)
    splits = {}
    for i, name in enumerate(SPLITS):
        idx = order[bounds[i]:bounds[i + 1]]
        splits[name] = {"x": x[idx], "y": y[idx], "truth": models[idx], "motifs": motifs[idx], "starts": starts[idx]}
    meta = {"spec": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(spec).items()}, "seed": int(seed),
            "size": int(spec.n_sequences)}
    return RegcodeData(splits, [m.label for m in background], len(core), meta)


def downsample(data: RegcodeData, size: int, seed: int) -> RegcodeData:
    """``size`` sequences: each split keeps its share (rounded), chosen at random (seeded)."""
    total = data.n_sequences
    if not 0 < size <= total:
        raise ValueError(f"regulatory_code dataset size {size} must be in [1, {total}] (data.n_sequences)")
    if size == total:
        return data
    rng = np.random.default_rng(np.random.SeedSequence([seed, size]))
    lens = np.array([len(data[s]["y"]) for s in SPLITS])
    keep = np.floor(lens / total * size).astype(int)
    keep[np.argmax(lens)] += size - keep.sum()
    splits = {}
    for name, k in zip(SPLITS, keep, strict=True):
        idx = np.sort(rng.choice(len(data[name]["y"]), size=int(k), replace=False))
        splits[name] = {key: arr[idx] for key, arr in data[name].items()}
    return RegcodeData(splits, data.pool, data.n_core, {**data.meta, "size": int(size)})


def make_dataset(spec: RegcodeDataSpec, size: int, seed: int) -> RegcodeData:
    """The data set of ``size`` sequences: the full set, down-sampled when ``size`` is smaller."""
    return downsample(generate_dataset(spec, seed), size, seed)


def save_dataset(data: RegcodeData, path: str | Path) -> None:
    """One compressed .npz, written atomically."""
    arrays = {f"{split}_{key}": arr for split, d in data.splits.items() for key, arr in d.items()}
    arrays["pool"] = np.array(data.pool)
    arrays["meta"] = np.array(json.dumps({**data.meta, "n_core": data.n_core}))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_dataset(path: str | Path) -> RegcodeData:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        splits = {s: {k.split("_", 1)[1]: z[k] for k in z.files if k.startswith(f"{s}_")} for s in SPLITS}
        pool = [str(p) for p in z["pool"]]
    return RegcodeData(splits, pool, int(meta.pop("n_core")), meta)


def information(truth: np.ndarray) -> np.ndarray:
    """Information content (bits) of each column of sequence model(s) ``truth`` (..., 4, L):
    ``2 + sum_i M_ij log2 M_ij`` with 0 log 0 = 0."""
    t = np.asarray(truth, dtype=np.float64)
    plogp = np.where(t > 0, t * np.log2(np.where(t > 0, t, 1.0)), 0.0)
    return 2.0 + plogp.sum(axis=-2)


def motif_positions(truth: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Koo's positive label: positions whose ground-truth column carries information (> ``tol`` bits;
    the uniform background has exactly 0)."""
    return information(truth) > tol
