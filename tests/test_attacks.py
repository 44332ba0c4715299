import numpy as np
import pytest
import torch
from captum.robust import FGSM, PGD
from torch.nn import functional as F
from toy import toy

from advinterp.attacks import attack, fgsm, pgd, random_sign_noise
from advinterp.model import predict
from advinterp.specs import AttackSpec


def inputs():
    model, data = toy()
    return model, torch.as_tensor(data.x_test), torch.as_tensor(data.y_test)


def test_fgsm_is_x_plus_eps_sign_grad():
    model, x, y = inputs()
    xg = x.clone().requires_grad_(True)
    grads = []
    for i in range(len(x)):  # per-cell gradient of that cell's own loss
        loss = F.cross_entropy(model(xg[i:i + 1]), y[i:i + 1])
        grads.append(torch.autograd.grad(loss, xg)[0][i])
    expected = x + 0.3 * torch.stack(grads).sign()
    assert torch.equal(fgsm(model, x, y, 0.3, batch_size=7), expected)


def test_pgd_stays_in_the_ball_and_beats_fgsm():
    model, x, y = inputs()
    for random_start in (False, True):
        x_adv = pgd(model, x, y, 0.5, steps=20, step_size=0.2, random_start=random_start, seed=1)
        assert (x_adv - x).abs().max() <= 0.5 + 1e-6
    acc_fgsm = (predict(model, fgsm(model, x, y, 0.5), "cpu") == y.numpy()).mean()
    acc_pgd = (predict(model, pgd(model, x, y, 0.5, steps=20), "cpu") == y.numpy()).mean()
    assert acc_pgd <= acc_fgsm


def test_success_is_monotone_in_eps():
    model, x, y = inputs()
    for name in ("fgsm", "pgd"):
        accs = [(predict(model, attack(name, model, x, y, e), "cpu") == y.numpy()).mean()
                for e in (0, 0.25, 0.5, 1.0, 2.0)]
        assert all(a >= b for a, b in zip(accs, accs[1:], strict=False)), (name, accs)
        assert accs[0] > 0.9 and accs[-1] < 0.5


def test_agrees_with_captum():
    model, x, y = inputs()
    model.eval()
    # captum leaves entries whose |gradient| < zero_thresh (1e-6) unperturbed; sign() does not,
    # so compare with that threshold off.
    ref_fgsm = FGSM(model, loss_func=torch.nn.CrossEntropyLoss(reduction="none"))
    ref_fgsm.zero_thresh = 0.0
    ref = ref_fgsm.perturb(x, 0.4, target=y)
    torch.testing.assert_close(fgsm(model, x, y, 0.4), ref, atol=1e-5, rtol=0)
    ref_pgd = PGD(model, loss_func=torch.nn.CrossEntropyLoss(reduction="none"))
    ref_pgd.fgsm.zero_thresh = 0.0
    ref = ref_pgd.perturb(
        x, radius=0.4, step_size=0.1, step_num=7, target=y, random_start=False, norm="Linf")
    torch.testing.assert_close(pgd(model, x, y, 0.4, steps=7, step_size=0.1), ref, atol=1e-5, rtol=0)


def test_default_step_size_is_eps_over_4():
    model, x, y = inputs()
    one = pgd(model, x, y, 0.8, steps=1)
    torch.testing.assert_close((one - x).abs().max(), torch.tensor(0.2))


def test_zero_eps_and_model_mode_untouched():
    model, x, y = inputs()
    model.train()
    assert torch.equal(attack("pgd", model, x, y, 0.0), x)
    attack("fgsm", model, x, y, 0.1)
    assert model.training  # restored after the attack ran in eval mode
    model.eval()


def test_seeded_random_start_and_noise():
    model, x, y = inputs()
    spec = AttackSpec(pgd_random_start=True, pgd_steps=2)
    assert torch.equal(attack("pgd", model, x, y, 0.3, spec, seed=4), attack("pgd", model, x, y, 0.3, spec, seed=4))
    noise = random_sign_noise(x, 0.3, seed=2)
    assert torch.allclose((noise - x).abs(), torch.full_like(x, 0.3))
    assert torch.equal(noise, random_sign_noise(x, 0.3, seed=2))


def test_unknown_attack():
    model, x, y = inputs()
    with pytest.raises(ValueError, match="unknown attack 'cw'"):
        attack("cw", model, x, y, 0.1)


def test_numpy_inputs_give_cpu_tensors():
    model, data = toy()
    out = attack("pgd", model, data.x_test, data.y_test, 0.2)
    assert isinstance(out, torch.Tensor) and out.device.type == "cpu"
    assert np.allclose(out.numpy().shape, data.x_test.shape)
