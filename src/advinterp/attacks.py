"""FGSM and PGD under the L∞ norm, in the model's input space (z-scored expression).

Untargeted: each cell is pushed to increase the cross-entropy of its true label, as in
the paper (PGD can use the Carlini–Wagner margin instead, and random restarts). These
craft the training data and give the paper's ``whitebox`` numbers; robust accuracy itself
is measured with :mod:`advinterp.autoattack`. The model is attacked in eval mode (dropout
off) and batched on its device; no clipping to a data range is applied (z-scored expression
has none). FGSM and PGD agree with ``captum.robust.FGSM``/``PGD`` (tested).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advinterp.device import model_device
from advinterp.model import as_float_tensor, predict_logits
from advinterp.specs import ATTACKS, AttackSpec


def _loss_gradient_sign(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    logits = model(x)
    # Summed loss: each cell's gradient is that of its own loss.
    if loss == "margin":
        from advinterp.autoattack import margin_loss

        loss = margin_loss(logits, y).sum()
    else:
        loss = F.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def _batched(fn, model: nn.Module, x, y, batch_size: int, **kwargs) -> torch.Tensor:
    """Run ``fn`` over batches on the model's device, in eval mode.

    The result is on ``x``'s device when ``x`` is a tensor (so training loops on a GPU
    keep their batches there), else on the CPU.
    """
    device = model_device(model)
    out_device = x.device if torch.is_tensor(x) else torch.device("cpu")
    was_training = model.training
    model.eval()
    x = as_float_tensor(x)
    y = y.long() if torch.is_tensor(y) else torch.as_tensor(np.asarray(y), dtype=torch.long)
    try:
        out = [
            fn(model, x[i:i + batch_size].to(device), y[i:i + batch_size].to(device), **kwargs).detach().to(out_device)
            for i in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else x.clone()


def _fgsm(model, x, y, epsilon: float) -> torch.Tensor:
    return x + epsilon * _loss_gradient_sign(model, x, y)


def _pgd_run(model, x, y, epsilon, steps, step_size, random_start, generator, loss) -> torch.Tensor:
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device="cpu").to(x.device)
        x_adv = x + (2 * noise - 1) * epsilon
    for _ in range(steps):
        x_adv = x_adv + step_size * _loss_gradient_sign(model, x_adv, y, loss)
        x_adv = x + torch.clamp(x_adv - x, -epsilon, epsilon)
    return x_adv.detach()


def fgsm(model: nn.Module, x, y, epsilon: float, batch_size: int = 4096) -> torch.Tensor:
    """x + ε · sign(∇ₓ CE(model(x), y)) — the fast gradient sign method."""
    if epsilon == 0:
        return as_float_tensor(x).clone()
    return _batched(_fgsm, model, x, y, batch_size, epsilon=epsilon)


def pgd(model: nn.Module, x, y, epsilon: float, steps: int = 10, step_size: float | None = None,
        random_start: bool = False, seed: int = 0, batch_size: int = 4096, loss: str = "ce",
        restarts: int = 1) -> torch.Tensor:
    """Projected gradient descent in the L∞ ball of radius ε around ``x``.

    ``steps`` signed-gradient steps of ``step_size`` (default ε/4), each followed by a
    projection back into the ball; with ``random_start`` the walk starts at a uniform
    point of the ball drawn from ``seed``. ``loss``: ``ce`` (the paper's) or ``margin``
    (Carlini–Wagner); ``restarts`` > 1 reruns from random points on the cells still standing.
    """
    if epsilon == 0:
        return as_float_tensor(x).clone()
    step = epsilon / 4 if step_size is None else step_size
    gen = torch.Generator().manual_seed(seed) if (random_start or restarts > 1) else None
    kwargs = {"epsilon": epsilon, "steps": steps, "step_size": step, "generator": gen, "loss": loss}
    x_adv = _batched(_pgd_run, model, x, y, batch_size, random_start=random_start, **kwargs)
    # restarts from random points on the cells still standing, all cells of one restart before the
    # next (so the random draws, and the result, do not depend on batch_size)
    y_t = y if torch.is_tensor(y) else torch.as_tensor(np.asarray(y), dtype=torch.long)
    for _ in range(restarts - 1):
        left = torch.as_tensor(predict_logits(model, x_adv, model_device(model), batch_size).argmax(1)
                               == y_t.cpu()).to(x_adv.device)
        if not left.any():
            break
        x_left = x[left] if torch.is_tensor(x) else as_float_tensor(x)[left.cpu()]
        x_adv[left] = _batched(_pgd_run, model, x_left, y_t[left.to(y_t.device)], batch_size, random_start=True,
                               **kwargs).to(x_adv.device)
    return x_adv


def attack(name: str, model: nn.Module, x, y, epsilon: float, spec: AttackSpec | None = None,
           seed: int = 0) -> torch.Tensor:
    """Dispatch by name (``fgsm``, ``pgd`` or ``apgd``) with the parameters in ``spec``.

    The result is on ``x``'s device when ``x`` is a tensor (training loops on a GPU), else on the CPU.
    """
    spec = spec or AttackSpec()
    if name == "apgd":
        from advinterp.autoattack import apgd

        out = apgd(model, x, y, epsilon, n_iter=spec.pgd_steps, loss=spec.pgd_loss, n_restarts=spec.pgd_restarts,
                   seed=seed, batch_size=spec.batch_size)[0]
        return out.to(x.device) if torch.is_tensor(x) else out
    if name == "fgsm":
        return fgsm(model, x, y, epsilon, batch_size=spec.batch_size)
    if name == "pgd":
        return pgd(model, x, y, epsilon, steps=spec.pgd_steps, step_size=spec.pgd_step_size,
                   random_start=spec.pgd_random_start, seed=seed, batch_size=spec.batch_size, loss=spec.pgd_loss,
                   restarts=spec.pgd_restarts)
    raise ValueError(f"unknown attack {name!r}; use one of {list(ATTACKS)}")


def random_sign_noise(x, epsilon: float, seed: int) -> torch.Tensor:
    """x ± ε per entry with random signs: the non-adversarial reference perturbation."""
    x = as_float_tensor(x)
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, x.shape, generator=gen, dtype=torch.int64) * 2 - 1
    return x + epsilon * signs.to(x.dtype)
