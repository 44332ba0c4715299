"""A SIMS-style TabNet cell-type classifier, usable wherever the paper's MLP is (issue #15).

SIMS (Gonzalez-Ferrer, Lehrer et al.; thesis: Lehrer 2022) classifies cells with pytorch-tabnet's
``TabNet`` (Arik & Pfister 2021): ``n_steps`` decision steps, each selecting genes with a sparse
attentive mask (sparsemax), whose masks double as per-cell explanations. This module wraps
``pytorch_tabnet.tab_network.TabNet`` (pytorch-tabnet 4.1.0; SIMS requires >= 4.1) so that

- :class:`TabNetClassifier`'s ``forward`` returns logits only: :func:`advinterp.model.train_classifier`,
  :mod:`advinterp.attacks` and :mod:`advinterp.explain` work on it unchanged; its
  ``regularisation_loss()`` is pytorch-tabnet's sparsity term, which ``train_classifier`` adds to
  the loss of every update (pytorch-tabnet: ``loss - lambda_sparse * M_loss``);
- :func:`mask_importance` / the ``tabnet_mask`` explainer (:class:`TabNetMask`) give TabNet's own
  explanation (``forward_masks``'s aggregated mask, rows normalised to sum to 1);
- :func:`check_methods` rejects explanation methods that cannot explain a TabNet.

Elsewhere: :func:`advinterp.model.build_classifier` builds either kind of model (``model.kind``:
``mlp`` or ``tabnet``), :func:`advinterp.model.class_weight_vector` gives SIMS's inverse-frequency
class weights, and :class:`advinterp.specs.TabNetSpec` holds the hyperparameters.

Defaults (:class:`~advinterp.specs.TabNetSpec`, config section ``model.tabnet``) against SIMS's source
(github.com/braingeneers/SIMS, ``scsims/model.py`` ``SIMSClassifier``, ``scsims/scvi_api.py``,
``scsims/lightning_train.py``, ``scsims/data.py``) and thesis (section "Training"):

==================  ==========  ===========================================  ==========================
key                 ours        SIMS                                         note
==================  ==========  ===========================================  ==========================
n_d, n_a            64, 64      8, 8 (``SIMSClassifier``); 64, 64 = preset   README's recommended
                                "venti" (``scvi_api._MODEL_SIZE_PRESETS``,   ``setup_model(n_a=64,
                                README ``setup_model(n_a=64, n_d=64)``)      n_d=64)``
n_steps             3           3                                            same
gamma               1.3         1.3                                          same
n_independent       2           2                                            same
n_shared            2           2                                            same
mask_type           sparsemax   sparsemax                                    same
lambda_sparse       1e-3        1e-3                                         same
virtual_batch_size  128         128 (pytorch-tabnet's default too)           same
momentum            0.02        0.02 (pytorch-tabnet's default too)          same
weight_decay        0.01        Adam weight_decay 0.01 (``optim_params``     source default; the thesis
                                default); thesis: 1e-3                       reports 1e-3
class_weights       True        ``weights=None`` in ``SIMSClassifier``, but  as SIMS is documented
                                README ("recommended") and thesis weight     and published
                                the loss by ``compute_class_weight(          (``class_weight_vector``)
                                "balanced")``
l2_normalise        True        ``CollateLoader(normalize=True)``:           same; here inside
                                ``F.normalize`` of each cell in the loader   ``forward`` (see below)
learning_rate       0.01        Adam lr 0.01 (``optim_params`` default)      same
batch_size          32          32 (``lightning_train.DataModule``);         ``DataModule``'s
                                16 (``data.generate_dataloaders``)
==================  ==========  ===========================================  ==========================

``learning_rate``, ``batch_size`` and ``weight_decay`` replace ``training``'s for a TabNet
(:meth:`TabNetClassifier.train_spec`); with the MLP's batch of 500 and learning rate 1e-3 TabNet stayed
at chance on SERGIO after 40 epochs (2,160 training cells: 5 updates per epoch), with SIMS's it does not.
The epochs stay ``training``'s (and ``adversarial_training``'s). Not here: SIMS's
``ReduceLROnPlateau(factor=0.75)`` on the training loss (ours: no scheduler), gradient clipping
(thesis; not in the source's defaults),
early stopping, and a calibration temperature (SIMS's ``forward`` divides the logits by it, initialised to
1.5 and fitted after training by ``set_temperature``; training uses the raw logits; not here).
``epsilon`` (1e-15, the log's guard in the sparsity loss) and ``cat_idxs = cat_dims = []``,
``cat_emb_dim = 1`` (all genes continuous) are fixed.

Differences in the inputs: SIMS L2-normalises raw or log-normalised expression; our inputs are the
preprocessed (z-scored) matrix, so ``l2_normalise`` here makes the classifier invariant to the scale
of each (z-scored) cell. The normalisation is the first operation of :meth:`TabNetClassifier.forward`,
so attacks perturb, and gradient explainers attribute to, the un-normalised input the rest of the
workflow sees. The group attention matrix is the identity (each gene its own group), as
``create_group_matrix([], n_genes)`` gives SIMS; pytorch-tabnet keeps it as a plain tensor attribute
(not moved by ``.to(device)``), so here it is a non-persistent buffer of the encoder.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advinterp.device import model_device
from advinterp.explain import Explainer, register
from advinterp.model import as_float_tensor
from advinterp.specs import TabNetSpec, TrainSpec, check_methods


class TabNetClassifier(nn.Module):
    """pytorch-tabnet's ``TabNet`` on all-continuous inputs, returning logits only.

    ``forward(x)`` → logits (cells × classes); the sparsity term of that forward pass is kept
    (``M_loss`` = mean over cells of Σ_genes M·log M, averaged over steps: minus the masks'
    entropy) and :meth:`regularisation_loss` returns ``-lambda_sparse * M_loss`` (pytorch-tabnet's
    ``TabModel._train_batch``: ``loss = loss - lambda_sparse * M_loss``), which
    :func:`advinterp.model.train_classifier` adds to each update's loss. In eval mode the kept
    term is detached (no graph held between attack or explainer calls).

    With ``spec.l2_normalise`` each cell is divided by its L2 norm (``F.normalize``, as SIMS's
    data loader does) inside ``forward``: attacks and explainers see, perturb and attribute to
    the un-normalised input, and the normalisation is part of the differentiated model.

    Batch norm: the input batch norm and the ghost batch norms (``torch.chunk`` of the batch into
    ceil(cells / ``virtual_batch_size``) chunks) use running statistics in eval mode, so any batch
    size works there, one cell included. In training mode a chunk of one cell cannot be
    normalised: a training batch of one cell is left out of its epoch by ``train_classifier`` (it
    sees the ``BatchNorm1d`` modules), and ``forward`` raises ValueError naming the batch size for
    the rare sizes whose last ghost batch would hold one cell (with ``virtual_batch_size`` 128 none
    below 16257 cells, e.g. 16257 = 127·128 + 1; with 2, every odd size) instead of torch's
    "Expected more than 1 value per channel".

    ``n_inputs``, ``n_classes`` and ``spec`` are kept so that a caller can save and rebuild it
    (``TabNetClassifier(n_inputs, n_classes, spec)`` + ``load_state_dict``).
    """

    def __init__(self, n_inputs: int, n_classes: int, spec: TabNetSpec | None = None):
        super().__init__()
        from pytorch_tabnet.tab_network import TabNet

        spec = spec or TabNetSpec()
        self.n_inputs, self.n_classes, self.spec = int(n_inputs), int(n_classes), spec
        group_matrix = torch.eye(self.n_inputs)  # = pytorch_tabnet.utils.create_group_matrix([], n_inputs)
        self.network = TabNet(
            input_dim=self.n_inputs, output_dim=self.n_classes, n_d=spec.n_d, n_a=spec.n_a, n_steps=spec.n_steps,
            gamma=float(spec.gamma), cat_idxs=[], cat_dims=[], cat_emb_dim=1, n_independent=spec.n_independent,
            n_shared=spec.n_shared, epsilon=1e-15, virtual_batch_size=spec.virtual_batch_size,
            momentum=float(spec.momentum), mask_type=spec.mask_type, group_attention_matrix=group_matrix,
        )
        # pytorch-tabnet stores the group matrix as a plain attribute, which .to(device) would not move
        encoder = self.network.tabnet.encoder
        del encoder.group_attention_matrix
        encoder.register_buffer("group_attention_matrix", group_matrix, persistent=False)
        self.network.embedder.embedding_group_matrix = None  # used only while building
        self._m_loss: torch.Tensor | None = None

    @property
    def class_weights(self) -> bool:
        """Whether :func:`advinterp.model.train_classifier` weights the loss by inverse class frequency."""
        return self.spec.class_weights

    def train_spec(self, spec: TrainSpec) -> TrainSpec:
        """``spec`` with SIMS's optimiser and loader settings from this network's spec (``learning_rate``,
        ``batch_size``, ``weight_decay``); :func:`advinterp.model.train_classifier` trains with it. The
        epochs stay ``spec``'s: the schedule of every regime is the same for the MLP and TabNet."""
        return replace(spec, learning_rate=float(self.spec.learning_rate), batch_size=int(self.spec.batch_size),
                       weight_decay=float(self.spec.weight_decay))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """The input the network sees: ``x`` divided row-wise by its L2 norm if the spec says so."""
        return F.normalize(x, p=2.0, dim=1) if self.spec.l2_normalise else x

    def _check_ghost_batches(self, n: int) -> None:
        vbs = self.spec.virtual_batch_size
        size = math.ceil(n / math.ceil(n / vbs))  # torch.chunk's chunk size
        if n == 1 or n - size * (math.ceil(n / size) - 1) == 1:
            raise ValueError(f"TabNet cannot train on a batch of {n} cells: its last ghost batch (virtual_batch_size "
                             f"{vbs}) would hold one cell, which batch norm cannot normalise; "
                             "change training.batch_size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._check_ghost_batches(len(x))
        logits, m_loss = self.network(self.normalise(x))
        self._m_loss = m_loss if self.training else m_loss.detach()
        return logits

    def regularisation_loss(self) -> torch.Tensor:
        """``-lambda_sparse * M_loss`` of the last forward pass (pytorch-tabnet's sparsity term, >= 0)."""
        if self._m_loss is None:
            raise RuntimeError("regularisation_loss() needs a forward pass first")
        return -self.spec.lambda_sparse * self._m_loss


def _require_tabnet(model: nn.Module) -> TabNetClassifier:
    if not isinstance(model, TabNetClassifier):
        raise ValueError(f"tabnet_mask explains TabNet models (model.kind: tabnet) only; "
                         f"this model is {type(model).__name__}")
    return model


def mask_importance(model: TabNetClassifier, x, batch_size: int = 4096) -> np.ndarray:
    """TabNet's per-cell gene importance (cells × genes, float64), rows normalised to sum to 1.

    pytorch-tabnet's aggregated explanation (``TabNet.forward_masks``): M_explain =
    Σ_steps M_step ⊙ Σ_c ReLU(d_step,c), the step's attention mask weighted by the summed
    (ReLU'd) decision output of that step, on the input after the L2 normalisation if the spec
    has it; then each row divided by its sum as ``TabModel.explain(normalize=True)`` does —
    except that a row of zeros (every step's decision output ReLU'd to 0) stays all zero instead
    of becoming NaN. Eval mode, no gradients, ``batch_size`` cells at a time on the model's device;
    the model's train/eval mode is restored afterwards.
    """
    model = _require_tabnet(model)
    device = model_device(model)
    x = as_float_tensor(x)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                m_explain, _ = model.network.forward_masks(model.normalise(x[i:i + batch_size].to(device)))
                out.append(m_explain.double().cpu())
    finally:
        model.train(was_training)
    m = torch.cat(out).numpy() if out else np.zeros((0, model.n_inputs))
    totals = m.sum(axis=1, keepdims=True)
    return np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)


@register
class TabNetMask(Explainer):
    """TabNet's own explanation, its aggregated attention masks (:func:`mask_importance`).

    The masks are not class-specific: ``target`` (and ``background``, ``seed``) are ignored, and
    a cell gets the same attribution whichever class is asked for. Non-negative, rows sum to 1
    (0 for a cell no step uses). Only for :class:`TabNetClassifier` models.
    """

    name = "tabnet_mask"

    def __init__(self, batch_size: int = 4096):
        self.batch_size = batch_size

    def attribute(self, model, inputs, target, background, seed=0):
        return mask_importance(model, inputs, batch_size=self.batch_size)


def check_model_methods(model: nn.Module, methods) -> None:
    """:func:`check_methods` for a trained model: a :class:`TabNetClassifier` (with its spec) or any other
    network (an MLP, which ``tabnet_mask`` cannot explain)."""
    if isinstance(model, TabNetClassifier):
        check_methods("tabnet", methods, model.spec)
    else:
        check_methods("mlp", methods)
