"""Explainers behind one interface (paper section 2.1), like captum's ``attribute(inputs, target)``.

Every method answers

    explainer.attribute(model, inputs, target, background, seed) -> cells x genes array

for a classifier ``model`` (logits out), scaled ``inputs`` (cells x genes), the class
to explain for each cell (``target``), background cells (for methods that need a
reference distribution) and a seed. The registry maps the config names to classes;
adding a method is one class with a ``name`` and an ``attribute``. An unknown name is
an error — the original notebook silently reused the gradient explainer for one.

Reference packages do the work: captum (saliency, DeepLIFT, integrated gradients,
SmoothGrad), shap (gradient, deep and kernel explainers) and lime. Activation
maximisation has no library implementation for tabular inputs and is written here.

:func:`explain_model` runs the configured methods on one trained model (rule ``explain``):
up to ``cells_per_class`` test cells per class (:func:`explained_cells`), each explained for
its true class, reduced to the per-class importance of a gene, its mean |attribution| over the
explained cells of that class (:func:`class_importance`; for activation maximisation every
cell carries its class prototype, so this is |prototype|). The votes over these importances
are :mod:`advinterp.consensus`'s.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from advinterp.device import model_device
from advinterp.model import as_float_tensor, predict_proba

REGISTRY: dict[str, type[Explainer]] = {}


def register(cls):
    REGISTRY[cls.name] = cls
    return cls


def make_explainer(name: str, params: dict | None = None) -> Explainer:
    """The explainer registered as ``name``, built with ``params``; unknown names are errors."""
    if name not in REGISTRY:
        raise ValueError(f"unknown explanation method {name!r}; known methods: {sorted(REGISTRY)}")
    return REGISTRY[name](**(params or {}))


def _select_target(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(cells, genes, classes) → (cells, genes) at each cell's target class."""
    return values[np.arange(len(target)), :, target]


class Explainer:
    """Base class: subclasses set ``name`` and implement :meth:`attribute`."""

    name: ClassVar[str] = ""

    def attribute(self, model: nn.Module, inputs, target, background, seed: int = 0) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, model, inputs, target, background, seed: int = 0) -> np.ndarray:
        model.eval()
        torch.manual_seed(seed)
        out = self.attribute(model, as_float_tensor(inputs), torch.as_tensor(np.asarray(target), dtype=torch.long),
                             as_float_tensor(background), seed)
        out = np.asarray(out, dtype=np.float64)
        if out.shape != tuple(np.shape(inputs)):
            raise RuntimeError(f"{self.name} returned shape {out.shape}, expected {np.shape(inputs)}")
        return out


def _probabilities(model: nn.Module):
    """numpy → numpy class probabilities, for the model-agnostic reference packages."""
    return lambda a: predict_proba(model, a).numpy()


@register
class Saliency(Explainer):
    """|∂ logit_target / ∂x| (Simonyan et al. 2013), via captum ``Saliency``."""

    name = "saliency"

    def attribute(self, model, inputs, target, background, seed=0):
        from captum.attr import Saliency as CaptumSaliency

        device = model_device(model)
        return CaptumSaliency(model).attribute(inputs.to(device), target=target.to(device), abs=True).cpu().numpy()


@register
class ActivationMaximization(Explainer):
    """Class prototype by gradient ascent on the target logit (Erhan et al. 2009).

    Starts from zeros (the mean cell in z-space) and maximises
    ``logit_c(x) - l2 * ||x||²`` with ``steps`` Adam steps of size ``learning_rate``.
    Every cell of class c gets the prototype of c as its attribution; genes are ranked
    by |prototype|.
    """

    name = "activation_maximization"

    def __init__(self, steps: int = 200, learning_rate: float = 0.05, l2: float = 0.01):
        self.steps, self.learning_rate, self.l2 = steps, learning_rate, l2

    def prototypes(self, model: nn.Module, n_inputs: int, classes) -> dict[int, np.ndarray]:
        device = model_device(model)
        out = {}
        for c in classes:
            x = torch.zeros(1, n_inputs, device=device, requires_grad=True)
            opt = torch.optim.Adam([x], lr=self.learning_rate)
            for _ in range(self.steps):
                opt.zero_grad()
                objective = model(x)[0, int(c)] - self.l2 * (x ** 2).sum()
                (-objective).backward()
                opt.step()
            out[int(c)] = x.detach().cpu().numpy()[0]
        return out

    def attribute(self, model, inputs, target, background, seed=0):
        protos = self.prototypes(model, inputs.shape[1], np.unique(target.numpy()))
        return np.stack([protos[int(t)] for t in target.numpy()])


IMPLEMENTATIONS = ("batched", "reference")


def _check_implementation(method: str, implementation: str) -> str:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"{method}: implementation={implementation!r}; use one of {list(IMPLEMENTATIONS)}")
    return implementation


@register
class Lime(Explainer):
    """LIME (Ribeiro et al. 2016) with ``LimeTabularExplainer``'s defaults, all genes as features.

    ``implementation: reference`` runs the ``lime`` package cell by cell; ``batched`` (the
    default) is the same estimator in torch, every cell with its own perturbations, on the
    model's device (:func:`advinterp.batched.lime_batched`). ``batch_size``: perturbed cells
    per model call; ``chunk_elements``: cells explained at once are capped so that
    samples x genes x cells stays under it (device memory). Neither changes the result; raise
    both on a large GPU.
    """

    name = "lime"

    def __init__(self, num_samples: int = 5000, implementation: str = "batched", batch_size: int = 8192,
                 chunk_elements: int = 20_000_000):
        self.num_samples = num_samples
        self.implementation = _check_implementation(self.name, implementation)
        self.batch_size, self.chunk_elements = batch_size, chunk_elements

    def attribute(self, model, inputs, target, background, seed=0):
        if self.implementation == "batched":
            from advinterp.batched import lime_batched

            return lime_batched(model, inputs.numpy(), target.numpy(), background.numpy(), self.num_samples, seed,
                                eval_batch=self.batch_size, chunk_elements=self.chunk_elements)

        from lime.lime_tabular import LimeTabularExplainer

        explainer = LimeTabularExplainer(background.numpy(), mode="classification", random_state=seed)
        predict = _probabilities(model)
        n_genes = inputs.shape[1]
        out = np.zeros(tuple(inputs.shape))
        for i, (x, t) in enumerate(zip(inputs.numpy(), target.numpy(), strict=True)):
            exp = explainer.explain_instance(x, predict, labels=(int(t),), num_features=n_genes,
                                             num_samples=self.num_samples)
            for gene, weight in exp.as_map()[int(t)]:
                out[i, gene] = weight
        return out


@register
class ShapGradient(Explainer):
    """SHAP ``GradientExplainer`` (expected gradients) on the logits."""

    name = "shap_gradient"

    def __init__(self, nsamples: int = 200):
        self.nsamples = nsamples

    def attribute(self, model, inputs, target, background, seed=0):
        import shap

        device = model_device(model)
        values = shap.GradientExplainer(model, background.to(device)).shap_values(
            inputs.to(device), nsamples=self.nsamples, rseed=seed)
        return _select_target(np.asarray(values), target.numpy())


@register
class ShapDeep(Explainer):
    """SHAP ``DeepExplainer`` (DeepLIFT with a background distribution) on the logits.

    Equal to captum's ``DeepLiftShap`` on this MLP (tested).
    """

    name = "shap_deep"

    def attribute(self, model, inputs, target, background, seed=0):
        import shap

        device = model_device(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            values = shap.DeepExplainer(model, background.to(device)).shap_values(inputs.to(device),
                                                                                   check_additivity=False)
        return _select_target(np.asarray(values), target.numpy())


@register
class ShapKernel(Explainer):
    """Kernel SHAP on the class probabilities with a k-means background (``kmeans`` points).

    ``implementation: reference`` runs ``shap.KernelExplainer`` (``l1_reg=False``: shap's
    default keeps only 10 non-zero genes per cell, which would make every ranking past
    the 10th gene arbitrary); ``batched`` (the default) is the same estimator in torch
    (:func:`advinterp.batched.kernel_shap_batched`). ``nsamples``: coalitions per cell
    ("auto" = shap's 2·M + 2048, M = genes whose value differs from the background's).
    ``batch_size``: model inputs per call of the batched version (device memory; the result
    does not depend on it).
    """

    name = "shap_kernel"

    def __init__(self, kmeans: int = 10, nsamples: int | str = "auto", implementation: str = "batched",
                 batch_size: int = 8192):
        self.kmeans, self.nsamples = kmeans, nsamples
        self.implementation = _check_implementation(self.name, implementation)
        self.batch_size = batch_size

    def attribute(self, model, inputs, target, background, seed=0):
        import shap

        np.random.seed(seed)  # shap.kmeans and the coalition sampling use numpy's global RNG
        summary = shap.kmeans(background.numpy(), min(self.kmeans, len(background)))
        nsamples = self.nsamples if self.nsamples == "auto" else int(self.nsamples)
        if self.implementation == "batched":
            from advinterp.batched import kernel_shap_batched

            return kernel_shap_batched(model, inputs.numpy(), target.numpy(), summary.data, summary.weights,
                                       nsamples, seed, eval_batch=self.batch_size)
        explainer = shap.KernelExplainer(_probabilities(model), summary)
        values = explainer.shap_values(inputs.numpy(), nsamples=nsamples, l1_reg=False, silent=True)
        return _select_target(np.asarray(values), target.numpy())


@register
class DeepLift(Explainer):
    """DeepLIFT (captum) against the mean cell (zeros in z-space). Not in the paper; off by default."""

    name = "deeplift"

    def attribute(self, model, inputs, target, background, seed=0):
        from captum.attr import DeepLift as CaptumDeepLift

        device = model_device(model)
        x = inputs.to(device)
        return CaptumDeepLift(model).attribute(x, baselines=torch.zeros_like(x), target=target.to(device)) \
            .detach().cpu().numpy()


@register
class IntegratedGradients(Explainer):
    """Integrated gradients (captum) from the mean cell. Not in the paper; off by default."""

    name = "integrated_gradients"

    def __init__(self, n_steps: int = 50):
        self.n_steps = n_steps

    def attribute(self, model, inputs, target, background, seed=0):
        from captum.attr import IntegratedGradients as CaptumIG

        device = model_device(model)
        x = inputs.to(device)
        return CaptumIG(model).attribute(x, baselines=torch.zeros_like(x), target=target.to(device),
                                         n_steps=self.n_steps).detach().cpu().numpy()


@register
class SmoothGrad(Explainer):
    """SmoothGrad as in Koo & Ploenzke 2019: saliency averaged over N(0, ``stdev``) noise, 50 samples."""

    name = "smoothgrad"

    def __init__(self, samples: int = 50, stdev: float = 0.1):
        self.samples, self.stdev = samples, stdev

    def attribute(self, model, inputs, target, background, seed=0):
        from captum.attr import NoiseTunnel
        from captum.attr import Saliency as CaptumSaliency

        device = model_device(model)
        tunnel = NoiseTunnel(CaptumSaliency(model))
        return tunnel.attribute(inputs.to(device), nt_type="smoothgrad", nt_samples=self.samples,
                                stdevs=self.stdev, target=target.to(device), abs=True).cpu().numpy()


# ------------------------------------------------------- running the explainers on one model
def select_cells(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of up to ``per_class`` cells of every class, drawn reproducibly, sorted."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        chosen.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(chosen))


def explained_cells(data, cells_per_class: int, background_cells: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells, their true classes, background) that :func:`explain_model` explains: up to
    ``cells_per_class`` test cells per class (:func:`select_cells`) and ``background_cells``
    training cells, both drawn with ``seed``."""
    cells = select_cells(data.y_test, cells_per_class, seed)
    rng = np.random.default_rng(seed)
    n_bg = min(background_cells, len(data.x_train))
    background = data.x_train[np.sort(rng.choice(len(data.x_train), size=n_bg, replace=False))]
    return data.x_test[cells], data.y_test[cells], background


def class_importance(attributions: np.ndarray, labels: np.ndarray, class_names: list[str],
                     gene_names: list[str]) -> pd.DataFrame:
    """Genes x classes: mean |attribution| over the explained cells of each class (NaN if none)."""
    out = {}
    for c, name in enumerate(class_names):
        rows = np.abs(attributions[labels == c])
        out[name] = rows.mean(axis=0) if len(rows) else np.full(len(gene_names), np.nan)
    return pd.DataFrame(out, index=pd.Index(gene_names, name="gene"))


def explain_model(model, data, methods: list[str], params: dict, cells_per_class: int, background_cells: int,
                  seed: int) -> dict[str, pd.DataFrame]:
    """Per-class importance (genes x classes) of every method for one trained model.

    Explains up to ``cells_per_class`` test cells of each class (drawn with ``seed``),
    targeting their true class, against ``background_cells`` training cells. A method that cannot
    explain this model (:func:`advinterp.tabnet.check_model_methods`) is an error before any work.
    """
    from advinterp.tabnet import check_model_methods

    check_model_methods(model, methods)
    x, t, background = explained_cells(data, cells_per_class, background_cells, seed)
    out = {}
    for name in methods:
        attributions = make_explainer(name, params.get(name))(model, x, t, background, seed=seed)
        out[name] = class_importance(attributions, t, data.class_names, data.gene_names)
    return out


# TabNet's own explanation (tabnet_mask) registers itself; advinterp.tabnet imports this module's
# Explainer and register, defined above.
import advinterp.tabnet  # noqa: E402,F401
