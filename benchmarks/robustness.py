"""Benchmark of the robustness arm, in one run on the default-size SERGIO dataset.

Prints
- attack throughput (cells/second) of advinterp's FGSM and PGD against captum's
  ``captum.robust.FGSM``/``PGD`` (the reference implementation) on the same model and
  cells, with their ratio;
- the strong evaluation (advinterp.autoattack): APGD with the CE and DLR losses against
  ART 1.20.1's ``AutoProjectedGradientDescent`` (the reference implementation) on the same
  model and test cells — robust accuracy of each (equal strength?) and cells/second with
  their ratio — then the whole evaluation of the default config and of config/paper.yaml
  (cells/second, robust accuracy, cells broken by each attack);
- training time per epoch: clean, dynamic (Madry) FGSM and PGD, and static training,
  with the ratio to clean training.

Usage: python benchmarks/robustness.py [--threads N] [--device auto|cpu|cuda] [--repeats R] [--skip-training]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from captum.robust import FGSM, PGD

from advinterp.adversarial import adversarial_train
from advinterp.attacks import fgsm, pgd
from advinterp.autoattack import apgd, evaluate
from advinterp.device import seed_everything, select_device
from advinterp.grn import generate_network
from advinterp.model import split_data, train_classifier
from advinterp.preprocess import preprocess
from advinterp.simulate import simulate_dataset
from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
    EvaluationSpec,
    NetworkSpec,
    PreprocessSpec,
    SimulationSpec,
    TrainSpec,
)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs timed per training mode")
    parser.add_argument("--skip-training", action="store_true", help="attacks and evaluation only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # captum: 'did not already require gradients'
    seed_everything(0, threads=args.threads)
    device = select_device(args.device)

    edges, _ = generate_network(NetworkSpec(), seed=0)
    adata = preprocess(simulate_dataset(edges, SimulationSpec(), seed=0), PreprocessSpec(), seed=0)
    data = split_data(adata)
    arch, spec = Architecture(), TrainSpec(epochs=20)
    n_classes = len(data.class_names)
    model = train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, n_classes, arch, spec, 0,
                             device).model
    x = torch.as_tensor(data.x_train, device=device)
    y = torch.as_tensor(data.y_train, device=device)
    eps, steps = 0.25, 10
    print(f"device {device.type}, {torch.get_num_threads()} threads, {len(x)} cells x {x.shape[1]} genes, "
          f"eps {eps}, PGD {steps} steps of eps/4")

    model.eval()
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    ref_fgsm, ref_pgd = FGSM(model, loss_func=loss), PGD(model, loss_func=loss)
    rows = [
        ("FGSM", lambda: fgsm(model, x, y, eps), lambda: ref_fgsm.perturb(x, eps, target=y)),
        ("PGD", lambda: pgd(model, x, y, eps, steps=steps),
         lambda: ref_pgd.perturb(x, radius=eps, step_size=eps / 4, step_num=steps, target=y)),
    ]
    print(f"\n{'attack':<8}{'advinterp cells/s':>20}{'captum cells/s':>18}{'ratio':>8}")
    for name, ours, ref in rows:
        t_ours, t_ref = best_of(ours, args.repeats), best_of(ref, args.repeats)
        print(f"{name:<8}{len(x) / t_ours:>20,.0f}{len(x) / t_ref:>18,.0f}{t_ref / t_ours:>8.2f}")

    strong_evaluation(model, data, device, args.repeats)
    if args.skip_training:
        return
    epoch_spec = TrainSpec(epochs=args.epochs)
    clean = best_of(lambda: train_classifier(data.x_train, data.y_train, data.x_test, data.y_test, n_classes,
                                             None, epoch_spec, 0, device, model=model), 1) / args.epochs
    print(f"\n{'training mode':<34}{'s/epoch':>10}{'x clean':>10}")
    print(f"{'clean':<34}{clean:>10.3f}{1.0:>10.2f}")
    for mode, attack_name, pgd_steps in (("dynamic", "fgsm", 3), ("dynamic", "pgd", 3), ("dynamic", "pgd", 10),
                                         ("static", "fgsm", 3), ("static", "pgd", 10)):
        adv_spec = AdversarialTrainingSpec(mode=mode, epochs=args.epochs, pgd_steps=pgd_steps)
        t = best_of(lambda adv_spec=adv_spec, attack_name=attack_name: adversarial_train(
            model, data.x_train, data.y_train, data.x_test, data.y_test, attack_name, eps, adv_spec, AttackSpec(),
            epoch_spec, 0, device), 1) / args.epochs
        label = f"{mode} {attack_name.upper()}" + (f" ({pgd_steps} steps)" if attack_name == "pgd" else "")
        print(f"{label:<34}{t:>10.3f}{t / clean:>10.2f}")


def strong_evaluation(model, data, device, repeats: int) -> None:
    """APGD against ART's, then the whole evaluation, on the test cells."""
    import numpy as np
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    x, y = data.x_test, data.y_test
    n_iter = 100
    clf = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(x.shape[1],),
                            nb_classes=len(data.class_names), device_type="gpu" if device.type == "cuda" else "cpu",
                            clip_values=(float(x.min()) - 100, float(x.max()) + 100))  # a box that never binds

    def timed(fn, repeats: int):
        result = {}
        seconds = best_of(lambda: result.__setitem__("value", fn()), repeats)
        return seconds, result["value"]

    def accuracy(x_adv):
        with torch.no_grad():
            return float((model(torch.as_tensor(np.asarray(x_adv), device=device)).argmax(1).cpu().numpy() == y).mean())

    print(f"\nstrong evaluation: {len(x)} test cells, APGD {n_iter} iterations, 1 restart, vs ART 1.20.1")
    print(f"{'loss':<6}{'eps':>6}{'ours acc':>10}{'ART acc':>9}{'ours cells/s':>14}{'ART cells/s':>13}{'ratio':>8}")
    for loss, art_loss in (("ce", "cross_entropy"), ("dlr", "difference_logits_ratio")):
        for eps in (0.1, 0.25):
            t_ours, ours = timed(lambda eps=eps, loss=loss: apgd(model, x, y, eps, n_iter=n_iter, loss=loss)[0],
                                 repeats)
            np.random.seed(0)
            ref = AutoProjectedGradientDescent(clf, eps=eps, eps_step=2 * eps, max_iter=n_iter, nb_random_init=1,
                                               batch_size=len(x), loss_type=art_loss, verbose=False)
            t_ref, theirs = timed(lambda ref=ref: ref.generate(x, y=y), 1)
            print(f"{loss:<6}{eps:>6g}{accuracy(ours):>10.3f}{accuracy(theirs):>9.3f}"
                  f"{len(x) / t_ours:>14,.0f}{len(x) / t_ref:>13,.0f}{t_ref / t_ours:>8.2f}")
    print(f"\n{'evaluation':<44}{'eps':>6}{'robust acc':>12}{'cells/s':>10}  broken by")
    versions = {
        "default (apgd_ce, apgd_dlr, square; 50 it., 1000 q.)": EvaluationSpec(),
        "paper (apgd_ce, apgd_t x9, square; 100 it., 5000 q.)":
            EvaluationSpec(attacks=("apgd_ce", "apgd_t", "square"), n_iter=100, n_target_classes=9,
                           square_queries=5000),
    }
    for label, spec in versions.items():
        for eps in (0.1, 0.25):
            t, r = timed(lambda spec=spec, eps=eps: evaluate(model, x, y, eps, spec), 1)
            print(f"{label:<44}{eps:>6g}{r.accuracy:>12.3f}{len(x) / t:>10,.0f}  {r.counts()}")


if __name__ == "__main__":
    main()
