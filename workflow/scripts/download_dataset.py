"""rule download_dataset: stream a dataset's URL to a temp file, verify its SHA-256, rename into place."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.download import download
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
download(smk.wildcards.dataset, smk.params.url, smk.output[0], sha256=smk.params.sha256,
         checksums=smk.params.checksums)
