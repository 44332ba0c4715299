"""Output helpers: every file is written to a temporary sibling and renamed into place,
so an interrupted step never leaves a partial file that a rerun would trust."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # annotation only: the library's light modules import without anndata
    import anndata as ad

log = logging.getLogger(__name__)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The file gets the mode a plain ``open`` would give it (0666 less the umask), not the
    temporary file's 0600: on a shared cluster, results stay readable by the group."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def write_json(obj, path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False)
        fh.write("\n")


def write_tsv(df: pd.DataFrame, path: str | Path, index: bool = False) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index)


def write_h5ad(adata: ad.AnnData, path: str | Path, compression: str | None = "gzip") -> None:
    """``compression=None`` for files whose rows are read at random (the preprocessed store)."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp, compression=compression)


def retry(call, *, retries: int, backoff: float, retriable: tuple[type[BaseException], ...], what: str):
    """``call()``, tried up to ``retries`` times.

    A ``retriable`` exception waits ``backoff · 2^(attempt-1)`` seconds and tries again; the
    last one is re-raised for the caller to turn into its own message. Other exceptions
    propagate at once.
    """
    for attempt in range(1, retries + 1):
        try:
            return call()
        except retriable as err:
            if attempt == retries:
                raise
            wait = backoff * 2 ** (attempt - 1)
            log.warning("%s: attempt %d of %d failed (%s); retrying in %.1f s", what, attempt, retries,
                        f"{type(err).__name__}: {err}", wait)
            time.sleep(wait)
    raise ValueError(f"retries must be at least 1, got {retries}")



def read_tables(paths, columns: list[str]) -> pd.DataFrame:
    """Concatenate TSV tables that must all have exactly ``columns`` (else ValueError naming the file)."""
    parts = []
    for path in paths:
        part = pd.read_csv(path, sep="\t")
        if list(part.columns) != columns:
            raise ValueError(f"{path}: columns {list(part.columns)}, expected {columns}")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
