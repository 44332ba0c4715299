"""Glue for workflow scripts: route logging (and warnings, and stderr) to the rule's log."""

from __future__ import annotations

import logging
import sys
import warnings


def setup_logging(snakemake) -> logging.Logger:
    """Send everything a script says to ``snakemake.log[0]`` and return its logger."""
    log_file = snakemake.log[0] if len(snakemake.log) else None
    handlers = [logging.FileHandler(log_file, mode="w")] if log_file else [logging.StreamHandler()]
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    if log_file:
        sys.stderr = open(log_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the script
    return logging.getLogger(f"advinterp.rule.{snakemake.rule}")
