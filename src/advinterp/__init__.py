"""advinterp: adversarial training and interpretability for single-cell classifiers.

The library behind the Snakemake workflow of this repository. Every step of the
workflow calls one function here; the workflow scripts only read the ``snakemake``
object, call that function and write its outputs.
"""

__version__ = "0.1.0"
