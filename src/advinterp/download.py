"""Verified downloads of registry datasets (issue #5).

A file is streamed to a temporary name next to its destination (``io.atomic_path``), hashed on the way,
checked against the expected SHA-256 — from the registry, or recorded in a checksum
table by the first successful download — and only then renamed into place, so an
interrupted or corrupted download never leaves a file that a rerun would trust.
Connection failures and truncated transfers are retried with exponential back-off;
HTTP client errors (404, ...) are not.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import http.client
import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path

from advinterp.io import atomic_path, retry

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
    """Add (or replace) the row of ``url`` in the checksum table, atomically.

    Downloads run in parallel (sergio_ds3's two files, say): the read-modify-write holds an
    exclusive lock on a sibling lock file, so no row is lost.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = {}
        if path.exists():
            with path.open(newline="") as fh:
                rows = {row["url"]: row for row in csv.DictReader(fh, delimiter="\t")}
        rows[url] = {"name": name, "url": url, "sha256": sha256}
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["name", "url", "sha256"], delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(sorted(rows.values(), key=lambda r: r["name"]))


# a dropped connection, a truncated transfer, a timeout or a server error: worth another try
RETRIABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


def _fetch(url: str, path: str, timeout: float, chunk: int) -> str:
    """One attempt: stream ``url`` into ``path`` (overwritten); its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        expected = response.headers.get("Content-Length")
        received = 0
        while block := response.read(chunk):
            out.write(block)
            digest.update(block)
            received += len(block)
        if expected is not None and received != int(expected):
            raise http.client.IncompleteRead(b"", int(expected) - received)
    return digest.hexdigest()


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    return str(getattr(err, "reason", None) or err) or type(err).__name__


def download(name: str, url: str, dest: str | Path, sha256: str | None = None,
             checksums: str | Path | None = None, retries: int = 3, backoff: float = 2.0,
             timeout: float = 60.0, chunk: int = 1 << 20) -> str:
    """Download ``url`` to ``dest`` for dataset ``name``; returns the file's SHA-256.

    The expected checksum is ``sha256`` or, failing that, the one recorded for ``url`` in the
    ``checksums`` table; with neither, the download's checksum is recorded there. A
    mismatch is an error and leaves nothing behind.
    """
    dest = Path(dest)
    expected = sha256 or (read_checksums(checksums).get(url) if checksums else None)

    def attempt(tmp: str) -> str:
        try:
            return _fetch(url, tmp, timeout, chunk)
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500:  # the request itself is wrong: no retry
                raise DownloadError(f"dataset {name}: {url} answered HTTP {err.code} ({err.reason}); check the "
                                    f"URL in workflow/resources/datasets.yaml, or put the file at {dest}") from None
            raise

    with atomic_path(dest) as tmp:  # renamed onto dest only if the block succeeds
        try:
            digest = retry(lambda: attempt(tmp), retries=retries, backoff=backoff, retriable=RETRIABLE, what=name)
        except RETRIABLE as err:
            raise DownloadError(f"dataset {name} needs a download from {url}; put the file at {dest} to run "
                                f"offline (failed {retries} times, last: {_describe(err)})") from None
        if expected and digest != expected:
            raise DownloadError(f"dataset {name}: {url} has SHA-256 {digest}, expected {expected}; the file "
                                f"changed upstream or the transfer was corrupted — nothing was kept. If the new "
                                f"file is right, remove its row from {checksums or 'the registry'}")
    if not expected and checksums:
        record_checksum(checksums, name, url, digest)
        log.info("%s: recorded SHA-256 %s in %s", name, digest, checksums)
    return digest
