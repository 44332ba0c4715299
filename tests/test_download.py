"""Verified downloads against an HTTP server started on 127.0.0.1 by the test (no network)."""

import hashlib
import http.server
import threading

import pytest

from advinterp.download import DownloadError, download, read_checksums

BODY = b"cell,gene\n" * 5000


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/missing":
            self.send_error(404, "Not Found")
            return
        if self.path == "/flaky" and self.hits[self.path] == 1:
            # announce the whole file, send half of it, drop the connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/broken":
            self.send_error(503, "Service Unavailable")
            return
        body = BODY if self.path != "/changed" else BODY + b"x"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.hits = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_download_records_the_checksum_then_verifies_against_it(server, tmp_path):
    dest, table = tmp_path / "data" / "x.h5ad", tmp_path / "checksums.tsv"
    digest = download("x", f"{server}/file", dest, checksums=table, backoff=0)
    assert dest.read_bytes() == BODY and digest == hashlib.sha256(BODY).hexdigest()
    assert read_checksums(table) == {f"{server}/file": digest}
    assert _leftovers(dest.parent) == ["x.h5ad"]
    # a second download of the same URL is checked against the recorded checksum
    dest.unlink()
    assert download("x", f"{server}/file", dest, checksums=table, backoff=0) == digest


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "x.h5ad"
    with pytest.raises(DownloadError, match="has SHA-256 .* expected 0{64}.*nothing was kept"):
        download("x", f"{server}/file", dest, sha256="0" * 64, backoff=0)
    assert _leftovers(tmp_path) == []
    # a recorded checksum catches a file that changed upstream
    table = tmp_path / "checksums.tsv"
    download("x", f"{server}/file", tmp_path / "first", checksums=table, backoff=0)
    table.write_text(table.read_text().replace("/file", "/changed"))
    with pytest.raises(DownloadError, match="remove its row from"):
        download("x", f"{server}/changed", dest, checksums=table, backoff=0)
    assert not dest.exists()


def test_a_dropped_connection_is_retried(server, tmp_path):
    dest = tmp_path / "x.h5ad"
    download("x", f"{server}/flaky", dest, backoff=0)
    assert dest.read_bytes() == BODY
    assert _Handler.hits["/flaky"] == 2
    assert _leftovers(tmp_path) == ["x.h5ad"]


def test_not_found_is_a_clear_error_without_retries(server, tmp_path):
    with pytest.raises(DownloadError, match="dataset x: .*/missing answered HTTP 404.*put the file at"):
        download("x", f"{server}/missing", tmp_path / "x.h5ad", backoff=0)
    assert _Handler.hits["/missing"] == 1 and _leftovers(tmp_path) == []


def test_server_errors_are_retried_then_reported_with_the_offline_hint(server, tmp_path):
    dest = tmp_path / "x.h5ad"
    with pytest.raises(DownloadError, match=f"needs a download from {server}/broken; put the file at {dest}"):
        download("x", f"{server}/broken", dest, retries=3, backoff=0)
    assert _Handler.hits["/broken"] == 3 and _leftovers(tmp_path) == []


def test_unreachable_host_says_how_to_run_offline(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="dataset x needs a download from .*run offline"):
        download("x", f"http://127.0.0.1:{port}/f", tmp_path / "x.h5ad", retries=2, backoff=0, timeout=2)


def test_concurrent_checksum_records_lose_no_row(tmp_path):
    # sergio_ds3's two files download in parallel; each records its checksum in the same table
    from concurrent.futures import ThreadPoolExecutor

    from advinterp.download import read_checksums, record_checksum

    table = tmp_path / "checksums.tsv"
    urls = [f"http://127.0.0.1/file{i}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda u: record_checksum(table, "ds", u, f"{len(u):064x}"), urls))
    assert set(read_checksums(table)) == set(urls)
