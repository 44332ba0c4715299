"""Verified downloads of registry datasets (issue #5).

A file is streamed to a temporary name next to its destination, hashed on the way,
checked against the expected SHA-256 — from the registry, or recorded in a checksum
table by the first successful download — and only then renamed into place, so an
interrupted or corrupted download never leaves a file that a rerun would trust.
Connection failures and truncated transfers are retried with exponential back-off;
HTTP client errors (404, ...) are not.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import logging
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download that failed for good; the message says what to do."""


def read_checksums(path: str | Path) -> dict[str, str]:
    """Checksum table (columns ``name``, ``url``, ``sha256``) → {url: sha256}; missing file → {}."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        return {row["url"]: row["sha256"] for row in csv.DictReader(fh, delimiter="\t")}


def record_checksum(path: str | Path, name: str, url: str, sha256: str) -> None:
    """Add (or replace) the row of ``url`` in the checksum table, atomically."""
    path = Path(path)
    rows = {}
    if path.exists():
        with path.open(newline="") as fh:
            rows = {row["url"]: row for row in csv.DictReader(fh, delimiter="\t")}
    rows[url] = {"name": name, "url": url, "sha256": sha256}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["name", "url", "sha256"], delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows.values(), key=lambda r: r["name"]))
    os.replace(tmp, path)


def _fetch(url: str, dest_dir: Path, timeout: float, chunk: int) -> tuple[Path, str]:
    """One attempt: stream ``url`` into a temporary file in ``dest_dir``; (path, sha256)."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".download-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            received = 0
            while block := response.read(chunk):
                out.write(block)
                digest.update(block)
                received += len(block)
            if expected is not None and received != int(expected):
                raise http.client.IncompleteRead(b"", int(expected) - received)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


def download(name: str, url: str, dest: str | Path, sha256: str | None = None,
             checksums: str | Path | None = None, retries: int = 3, backoff: float = 2.0,
             timeout: float = 60.0, chunk: int = 1 << 20) -> str:
    """Download ``url`` to ``dest`` for dataset ``name``; returns the file's SHA-256.

    The expected checksum is ``sha256`` or, failing that, the one recorded for ``url`` in the
    ``checksums`` table; with neither, the download's checksum is recorded there. A
    mismatch is an error and leaves nothing behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256 or (read_checksums(checksums).get(url) if checksums else None)
    offline_hint = f"dataset {name} needs a download from {url}; put the file at {dest} to run offline"
    for attempt in range(1, retries + 1):
        try:
            tmp, digest = _fetch(url, dest.parent, timeout, chunk)
            break
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500:
                raise DownloadError(f"dataset {name}: {url} answered HTTP {err.code} ({err.reason}); check the "
                                    f"URL in resources/datasets.yaml, or put the file at {dest}") from None
            problem = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
                TimeoutError) as err:
            problem = str(getattr(err, "reason", None) or err) or type(err).__name__
        if attempt == retries:
            raise DownloadError(f"{offline_hint} (failed {retries} times, last: {problem})")
        wait = backoff * 2 ** (attempt - 1)
        log.warning("%s: attempt %d of %d failed (%s); retrying in %.1f s", name, attempt, retries, problem, wait)
        time.sleep(wait)
    if expected and digest != expected:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"dataset {name}: {url} has SHA-256 {digest}, expected {expected}; the file changed "
                            f"upstream or the transfer was corrupted — nothing was kept. If the new file is "
                            f"right, remove its row from {checksums or 'the registry'}")
    os.replace(tmp, dest)
    if not expected and checksums:
        record_checksum(checksums, name, url, digest)
        log.info("%s: recorded SHA-256 %s in %s", name, digest, checksums)
    return digest
