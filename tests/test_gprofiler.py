"""The g:Profiler backend against a fake g:Profiler on 127.0.0.1 (no network)."""

import http.server
import json
import threading
import time

import numpy as np
import pytest

from advinterp.enrichment import ENRICHMENT_COLUMNS, EnrichmentError, gprofiler_enrichment

RESPONSE = {
    # shaped like g:GOSt's answer: evidence per query gene, in the order of the query's Ensembl ids
    "meta": {"query_metadata": {"organism": "hsapiens", "queries": {"query_1": ["LYZ", "CD14", "S100A8"]}},
             "genes_metadata": {"query": {"query_1": {
                 "ensgs": ["ENSG00000090382", "ENSG00000170458", "ENSG00000143546"],
                 "mapping": {"LYZ": ["ENSG00000090382"], "CD14": ["ENSG00000170458"],
                             "S100A8": ["ENSG00000143546"]}}}},
             "version": "test"},
    "result": [
        {"source": "GO:CC", "native": "GO:0005576", "name": "extracellular region", "p_value": 0.02,
         "significant": True, "description": "", "term_size": 40, "query_size": 3, "intersection_size": 1,
         "effective_domain_size": 700, "precision": 0.33, "recall": 0.03, "query": "query_1", "parents": [],
         "intersections": [[], [], ["IDA"]], "evidences": [[], [], ["IDA"]]},
        {"source": "GO:BP", "native": "GO:0006955", "name": "immune response", "p_value": 0.001,
         "significant": True, "description": "", "term_size": 50, "query_size": 3, "intersection_size": 2,
         "effective_domain_size": 700, "precision": 0.66, "recall": 0.04, "query": "query_1", "parents": [],
         "intersections": [["IEA"], [], ["TAS", "IDA"]], "evidences": [["IEA"], [], ["TAS", "IDA"]]},
    ],
}


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    hits = 0
    bodies: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        type(self).hits += 1
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        if self.mode == "slow":
            time.sleep(1.5)
        if self.mode == "error":
            payload, code = json.dumps({"message": "internal error"}).encode(), 500
        else:
            payload, code = json.dumps(RESPONSE).encode(), 200
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


@pytest.fixture()
def fake_gprofiler():
    _Handler.mode, _Handler.hits, _Handler.bodies = "ok", 0, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_query_and_table(fake_gprofiler):
    table = gprofiler_enrichment(["LYZ", "CD14", "S100A8"], "hsapiens", ["GO:BP", "GO:CC"],
                                 background=["LYZ", "CD14", "S100A8", "NKG7"], base_url=fake_gprofiler)
    body = _Handler.bodies[0]
    assert body["organism"] == "hsapiens" and body["sources"] == ["GO:BP", "GO:CC"]
    assert body["significance_threshold_method"] == "fdr" and body["domain_scope"] == "custom"
    assert body["background"] == ["LYZ", "CD14", "S100A8", "NKG7"] and body["query"] == ["LYZ", "CD14", "S100A8"]
    assert list(table.columns) == ENRICHMENT_COLUMNS
    assert list(table["term_id"]) == ["GO:0006955", "GO:0005576"]  # by adjusted p
    first = table.iloc[0]
    assert first.p_adj == 0.001 and np.isnan(first.p_value)
    assert (first.term_size, first.query_size, first.intersection_size) == (50, 3, 2)
    assert first.intersection == "LYZ,S100A8"  # the query genes with evidence for the term


def test_a_server_that_does_not_answer_times_out_and_is_retried(fake_gprofiler):
    _Handler.mode = "slow"
    start = time.perf_counter()
    with pytest.raises(EnrichmentError, match=f"g:Profiler \\({fake_gprofiler}\\) failed 2 times.*Timeout.*'gmt'"):
        gprofiler_enrichment(["LYZ"], "hsapiens", ["GO:BP"], base_url=fake_gprofiler, timeout=0.3, retries=2,
                             backoff=0)
    assert _Handler.hits == 2 and time.perf_counter() - start < 1.4  # did not wait for the answers


def test_server_error_is_reported(fake_gprofiler):
    _Handler.mode = "error"
    with pytest.raises(EnrichmentError, match="failed 3 times.*internal error"):
        gprofiler_enrichment(["LYZ"], "hsapiens", ["GO:BP"], base_url=fake_gprofiler, backoff=0)
    assert _Handler.hits == 3
