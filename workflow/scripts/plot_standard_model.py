"""rule plot_standard_model: confusion matrix on the test cells and the training curve."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

import pandas as pd

from advinterp.model import load_model, predict, split_store
from advinterp.plots import confusion_figure, save_figure, training_curve_figure
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
data = split_store(smk.input.data, smk.config["scale"])
model, _ = load_model(smk.input.model)
y_pred = predict(model, data.x_test, device="cpu")
accuracy = (y_pred == data.y_test).mean()
title = f"{smk.wildcards.dataset}, standard model: test accuracy {accuracy:.3f} (n={len(y_pred)})"
save_figure(confusion_figure(data.y_test, y_pred, data.class_names, title),
            smk.output.confusion_png, smk.output.confusion_pdf)
history = pd.read_csv(smk.input.history, sep="\t")
save_figure(training_curve_figure(history, f"{smk.wildcards.dataset}, standard model"),
            smk.output.curve_png, smk.output.curve_pdf)
