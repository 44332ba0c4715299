"""rule consensus: consensus importance scores (votes) and the ranked table of one regime."""

import advinterp_path  # noqa: F401  (puts this checkout's src/ on sys.path)

from advinterp.consensus import consensus, read_importances
from advinterp.io import write_tsv
from advinterp.smk import setup_logging

smk = snakemake  # noqa: F821
setup_logging(smk)
votes, ranked = consensus(read_importances(smk.params.methods, smk.input), smk.params.top_n)
write_tsv(votes, smk.output.votes, index=True)
write_tsv(ranked, smk.output.ranked)
