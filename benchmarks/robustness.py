"""Benchmark of the robustness arm, in one run on the default-size SERGIO dataset.

Prints
- attack throughput (cells/second) of advinterp's FGSM and PGD against captum's
  ``captum.robust.FGSM``/``PGD`` (the reference implementation) on the same model and
  cells, with their ratio;
- training time per epoch: clean, dynamic (Madry) FGSM and PGD, and static training,
  with the ratio to clean training.

Usage: python benchmarks/robustness.py [--threads N] [--device auto|cpu|cuda] [--repeats R]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from captum.robust import FGSM, PGD

from advinterp.adversarial import adversarial_train
from advinterp.attacks import fgsm, pgd
from advinterp.device import seed_everything, select_device
from advinterp.grn import generate_network
from advinterp.model import split_data, train_classifier
from advinterp.preprocess import preprocess
from advinterp.simulate import simulate_dataset
from advinterp.specs import (
    AdversarialTrainingSpec,
    Architecture,
    AttackSpec,
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


if __name__ == "__main__":
    main()
