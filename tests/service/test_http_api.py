"""The rerank API over real HTTP: uvicorn on a free port, the embedded ONNX Runtime backend, real
tiny ONNX models (random tiny BERT; token-overlap model whose scores are predictable)."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import socket
from urllib.parse import urlparse

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import STAGES
from service.settings import Settings
from tests.helpers.tiny_model import MODEL_NAME
from tests.service.server import start_server

DOCS = [
    "Cats are small domesticated carnivorous mammals.",
    "The stock market fell sharply on Tuesday after the announcement.",
    "Dogs and cats often live together peacefully.",
    "A recipe for sourdough bread needs flour, water and salt, and a lot of patience while it rises.",
    "cat",
    "Quantum computers use qubits.",
]
QUERY = "what do cats eat"


@pytest.fixture(scope="module")
def tiny_url(tiny_model_repository):
    # small batches so even a handful of documents spans several length-sorted micro-batches
    settings = Settings(model_repository=tiny_model_repository, max_batch_size=2, max_body_bytes=1 << 20,
                        body_read_timeout_s=1.0)
    with start_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def overlap_url(overlap_model_repository):
    settings = Settings(model_repository=overlap_model_repository, max_batch_size=3, chunk_overlap_tokens=8,
                        max_chunks_per_document=200, max_query_tokens=50)
    with start_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=60) as c:
        yield c


def rerank(client, url, body, path="/rerank"):
    r = client.post(url + path, json=body)
    assert r.status_code == 200, r.text
    return r


def scores_by_index(results, key="relevance_score"):
    return {r["index"]: r[key] for r in results}


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def assert_error(r, status, type_=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert body["error"]["message"]
    if type_:
        assert body["error"]["type"] == type_, body
    assert r.headers["x-request-id"]
    return body["error"]


# ---- Cohere / Jina shape ------------------------------------------------------------------------

def test_cohere_shape_and_order(client, tiny_url):
    r = rerank(client, tiny_url, {"model": "anything", "query": QUERY, "documents": DOCS})
    body = r.json()
    assert set(body) == {"id", "model", "results", "usage", "meta"}
    assert body["id"] == r.headers["x-request-id"]
    assert body["model"] == MODEL_NAME
    results = body["results"]
    assert sorted(x["index"] for x in results) == list(range(len(DOCS)))
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s < 1 for s in scores)
    assert all("document" not in x for x in results)
    assert body["usage"]["total_tokens"] > len(DOCS) * 5
    assert body["meta"] == {"model_version": "tiny-test", "variant": "default", "backend": "embedded",
                            "long_document_strategy": "truncate", "truncated_documents": 0, "chunked_documents": 0}
    for h in ("x-tokenization-time", "x-queue-time", "x-inference-time", "x-postprocess-time", "x-total-time"):
        assert float(r.headers[h]) >= 0


def test_aliases_give_the_same_answer(client, tiny_url):
    body = {"query": QUERY, "documents": DOCS}
    answers = [rerank(client, tiny_url, body, path).json()["results"] for path in ("/rerank", "/v1/rerank", "/v2/rerank")]
    assert answers[0] == answers[1] == answers[2]


def test_top_n_and_return_documents(client, tiny_url):
    docs = [DOCS[0], {"text": DOCS[1], "title": "ignored"}, DOCS[2]]
    full = rerank(client, tiny_url, {"query": QUERY, "documents": docs, "return_documents": True}).json()["results"]
    top = rerank(client, tiny_url, {"query": QUERY, "documents": docs, "top_n": 2}).json()["results"]
    assert [x["index"] for x in top] == [x["index"] for x in full[:2]]
    texts = [DOCS[0], DOCS[1], DOCS[2]]
    for x in full:
        assert x["document"] == {"text": texts[x["index"]]}
    # top_n larger than the documents: all of them
    assert len(rerank(client, tiny_url, {"query": QUERY, "documents": docs, "top_n": 50}).json()["results"]) == 3


def test_raw_scores_are_logits_of_the_default_scores(client, tiny_url):
    body = {"query": QUERY, "documents": DOCS}
    probs = scores_by_index(rerank(client, tiny_url, body).json()["results"])
    logits = scores_by_index(rerank(client, tiny_url, body | {"raw_scores": True}).json()["results"])
    assert any(v < 0 or v > 1 for v in logits.values()) or len(set(logits.values())) > 1
    for i in range(len(DOCS)):
        assert probs[i] == pytest.approx(sigmoid(logits[i]), abs=1e-6)


def test_index_mapping_after_length_sorted_batching(client, tiny_url):
    """Several micro-batches (max_batch_size=2) of length-sorted rows: every score must land on its
    own document, i.e. equal the score of that document sent alone."""
    docs = DOCS + [DOCS[3] * 3, "x", DOCS[1] + " " + DOCS[0]]
    response = rerank(client, tiny_url, {"query": QUERY, "documents": docs, "raw_scores": True})
    together = scores_by_index(response.json()["results"])
    # the stage headers are wall time, not sums over the four micro-batches (0.01 ms: rounding)
    stages = sum(float(response.headers[f"x-{stage}-time"]) for stage in STAGES)
    assert stages <= float(response.headers["x-total-time"]) + 0.01
    for i, doc in enumerate(docs):
        alone = rerank(client, tiny_url, {"query": QUERY, "documents": [doc], "raw_scores": True}).json()["results"]
        assert alone[0]["index"] == 0
        assert together[i] == pytest.approx(alone[0]["relevance_score"], abs=1e-4), i


def test_concurrent_requests_do_not_mix(tiny_url):
    bodies = [{"query": f"{QUERY} {k}", "documents": DOCS[k % 3:] + [f"doc {k}"], "raw_scores": True}
              for k in range(12)]

    async def run():
        async with httpx.AsyncClient(timeout=60) as c:
            return await asyncio.gather(*[c.post(tiny_url + "/rerank", json=b) for b in bodies])

    concurrent = asyncio.run(run())
    with httpx.Client(timeout=60) as c:
        for body, r in zip(bodies, concurrent):
            assert r.status_code == 200
            sequential = rerank(c, tiny_url, body).json()["results"]
            got, want = scores_by_index(r.json()["results"]), scores_by_index(sequential)
            assert got.keys() == want.keys()
            assert all(got[i] == pytest.approx(want[i], abs=1e-4) for i in want)


def test_request_id_is_echoed(client, tiny_url):
    r = client.post(tiny_url + "/rerank", json={"query": QUERY, "documents": DOCS[:2]},
                    headers={"X-Request-Id": "trace-123.abc"})
    assert r.headers["x-request-id"] == "trace-123.abc"
    assert r.json()["id"] == "trace-123.abc"
    # an unusable id (too long) is replaced, not echoed
    r = client.post(tiny_url + "/rerank", json={"query": QUERY, "documents": DOCS[:2]},
                    headers={"X-Request-Id": "x" * 500})
    assert r.headers["x-request-id"] != "x" * 500 and len(r.headers["x-request-id"]) == 32


# ---- TEI shape ----------------------------------------------------------------------------------

def test_tei_shape_matches_cohere_scores(client, tiny_url):
    cohere = scores_by_index(rerank(client, tiny_url, {"query": QUERY, "documents": DOCS}).json()["results"])
    tei = rerank(client, tiny_url, {"query": QUERY, "texts": DOCS}).json()
    assert isinstance(tei, list) and len(tei) == len(DOCS)
    assert all(set(x) == {"index", "score"} for x in tei)
    assert [x["score"] for x in tei] == sorted((x["score"] for x in tei), reverse=True)
    for x in tei:
        assert x["score"] == pytest.approx(cohere[x["index"]], abs=1e-6)


def test_tei_raw_scores_and_return_text(client, tiny_url):
    tei = rerank(client, tiny_url, {"query": QUERY, "texts": DOCS, "raw_scores": True, "return_text": True}).json()
    raw = rerank(client, tiny_url, {"query": QUERY, "documents": DOCS, "raw_scores": True}).json()["results"]
    want = scores_by_index(raw)
    for x in tei:
        assert x["text"] == DOCS[x["index"]]
        assert x["score"] == pytest.approx(want[x["index"]], abs=1e-6)


def test_tei_truncate_false_refuses_long_input(client, tiny_url):
    long_text = "lorem ipsum dolor " * 200
    err = assert_error(client.post(tiny_url + "/rerank", json={"query": QUERY, "texts": ["ok", long_text],
                                                               "truncate": False}), 413, "input_too_long")
    assert "texts[1]" in err["message"]
    # default (auto_truncate) and truncate=true: the document is cut, no error
    rerank(client, tiny_url, {"query": QUERY, "texts": ["ok", long_text]})
    rerank(client, tiny_url, {"query": QUERY, "texts": ["ok", long_text], "truncate": True})


# ---- long documents ------------------------------------------------------------------------------

def test_huge_document_is_truncated_not_refused(client, tiny_url):
    huge = "alpha beta gamma " * 10_000  # ~170 kB, 30,000 tokens
    prefix = "alpha beta gamma " * 100  # also longer than the model takes
    r = rerank(client, tiny_url, {"query": QUERY, "documents": [huge, prefix, "short"], "raw_scores": True}).json()
    assert r["meta"]["truncated_documents"] == 2
    s = scores_by_index(r["results"])
    # only the first tokens of the document count: the huge one scores like its prefix
    assert s[0] == pytest.approx(s[1], abs=1e-5)
    assert r["usage"]["total_tokens"] <= 3 * 128


def test_query_is_kept_whole(client, overlap_url):
    """A 45-token query with the 128-token budget split evenly (longest_first) would lose its last
    word; only_second keeps it and cuts the document instead."""
    query = " ".join(f"term{i}" for i in range(15)) + " zebra"
    filler = " lorem" * 500
    r = rerank(client, overlap_url, {"query": query, "documents": ["zebra" + filler, "horse" + filler],
                                     "raw_scores": True}).json()
    s = scores_by_index(r["results"])
    assert s[0] == 0.0 and s[1] == -1.0  # zebra (+ [SEP]) matched; horse only [SEP]
    assert r["meta"]["truncated_documents"] == 2


def test_overlong_query_is_refused(client, overlap_url):
    assert_error(client.post(overlap_url + "/rerank", json={"query": "word " * 60, "documents": ["a"]}),
                 422, "query_too_long")


def test_chunking_finds_a_passage_at_the_end(client, overlap_url):
    filler = " ".join(["alpha beta gamma delta epsilon"] * 80)  # 400 tokens, none in the query
    doc = filler + " penguins live in antarctica"
    body = {"query": "where do penguins live", "documents": ["short unrelated text", doc], "raw_scores": True}
    truncated = rerank(client, overlap_url, body | {"long_document_strategy": "truncate"}).json()
    chunked = rerank(client, overlap_url, body | {"long_document_strategy": "chunk"}).json()
    t, c = scores_by_index(truncated["results"]), scores_by_index(chunked["results"])
    assert t[1] == -1.0  # the passage was cut away
    assert c[1] == 1.0  # "penguins", "live" and [SEP] matched in the last window
    assert c[1] > t[1]
    assert chunked["results"][0]["index"] == 1
    assert chunked["meta"]["chunked_documents"] == 1 and chunked["meta"]["truncated_documents"] == 0
    assert chunked["usage"]["total_tokens"] > truncated["usage"]["total_tokens"]
    assert c[0] == t[0]  # short documents are not affected
    # TEI bodies take the same option
    tei = rerank(client, overlap_url, {"query": body["query"], "texts": body["documents"], "raw_scores": True,
                                       "long_document_strategy": "chunk"}).json()
    assert scores_by_index(tei, "score") == c


def test_ranking_follows_relevance(client, overlap_url):
    docs = ["cat", "red cat and green dog", "nothing here", "cat and dog", "dog"]
    r = rerank(client, overlap_url, {"query": "red cat dog", "documents": docs, "raw_scores": True}).json()
    # overlaps: 1, 3, 0, 2, 1 (+1 for [SEP], -2): ties keep input order
    assert [x["index"] for x in r["results"]] == [1, 3, 0, 4, 2]
    assert [x["relevance_score"] for x in r["results"]] == [2.0, 1.0, 0.0, 0.0, -1.0]


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, fragment", [
    ({"query": "", "documents": ["a"]}, "query"),
    ({"query": "   ", "documents": ["a"]}, "query"),
    ({"documents": ["a"]}, "query"),
    ({"query": 5, "documents": ["a"]}, "query"),
    ({"query": "q", "documents": []}, "documents"),
    ({"query": "q"}, "documents"),
    ({"query": "q", "documents": "just a string"}, "documents"),
    ({"query": "q", "documents": ["ok", 1]}, "documents[1]"),
    ({"query": "q", "documents": [{"title": "no text"}]}, "documents[0]"),
    ({"query": "q", "documents": [None]}, "documents[0]"),
    ({"query": "q", "documents": [["nested"]]}, "documents[0]"),
    ({"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
    ({"query": "q", "documents": ["a"], "top_n": -3}, "top_n"),
    ({"query": "q", "documents": ["a"], "max_tokens_per_doc": 0}, "max_tokens_per_doc"),
    ({"query": "q", "documents": ["a"], "long_document_strategy": "summarize"}, "long_document_strategy"),
    ({"query": "q", "texts": []}, "texts"),
    ({"query": "q", "texts": ["a", {"text": "objects are not TEI"}]}, "texts[1]"),
    ({"query": "", "texts": ["a"]}, "query"),
    ([{"query": "q", "documents": ["a"]}], "dictionary"),
])
def test_invalid_bodies_are_422(client, tiny_url, body, fragment):
    err = assert_error(client.post(tiny_url + "/rerank", json=body), 422, "validation_error")
    assert fragment in err["message"]


def test_too_many_documents(client, tiny_url):
    err = assert_error(client.post(tiny_url + "/rerank", json={"query": "q", "documents": ["d"] * 1001}),
                       413, "too_many_documents")
    assert "1000" in err["message"]
    rerank(client, tiny_url, {"query": "q", "documents": ["d"] * 1000, "top_n": 1})


@pytest.mark.parametrize("content", [b'{"query": "q", "documents": ["a"]', b"not json", b"\xff\xfe\x00garbage",
                                     b"[" * 100_000 + b"]" * 100_000])
def test_malformed_json_is_400(client, tiny_url, content):
    assert_error(client.post(tiny_url + "/rerank", content=content, headers={"content-type": "application/json"}), 400)


def test_bad_json_error_type(client, tiny_url):
    r = client.post(tiny_url + "/rerank", content=b'{"query": ', headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_json")


@pytest.mark.parametrize("headers", [{"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}])
def test_non_json_content_type_is_415(client, tiny_url, headers):
    content = json.dumps({"query": "q", "documents": ["a"]}).encode()
    assert_error(client.post(tiny_url + "/rerank", content=content, headers=headers), 415, "unsupported_media_type")


def test_body_too_large_with_content_length(client, tiny_url):
    body = {"query": "q", "documents": ["x" * 1000] * 1100}  # > 1 MiB limit of this server
    assert_error(client.post(tiny_url + "/rerank", json=body), 413, "payload_too_large")


def test_rejected_bodies_are_counted_on_their_route(client, tiny_url):
    before = _samples(client, tiny_url)
    assert_error(client.post(tiny_url + "/v1/rerank", json={"query": "q", "documents": ["x" * (1 << 20)]}), 413)
    after = _samples(client, tiny_url)
    labels = dict(route="/v1/rerank", variant="default", status="413")
    assert _get(after, "rerank_request_duration_seconds_count", **labels) == _get(
        before, "rerank_request_duration_seconds_count", **labels) + 1
    assert _get(after, "rerank_errors_total", type="payload_too_large", variant="default") == _get(
        before, "rerank_errors_total", type="payload_too_large", variant="default") + 1


def test_body_too_large_chunked_upload(client, tiny_url):
    def stream():  # no Content-Length: the server must count while it reads
        yield b'{"query": "q", "documents": ['
        for _ in range(2000):
            yield b'"' + b"y" * 1000 + b'",'
        yield b'"end"]}'

    r = client.post(tiny_url + "/rerank", content=stream(), headers={"content-type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_stalled_body_gets_408(tiny_url):
    host, port = urlparse(tiny_url).hostname, urlparse(tiny_url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"query\": ")
        reply = b""
        while chunk := sock.recv(65536):  # the server answers after body_read_timeout_s (1 s), then closes
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 408"), reply
    assert '"request_timeout"' in reply


def test_unknown_route_and_wrong_method(client, tiny_url):
    assert_error(client.get(tiny_url + "/nope"), 404, "not_found")
    assert_error(client.get(tiny_url + "/rerank"), 405, "method_not_allowed")


# ---- ops endpoints and metrics ------------------------------------------------------------------

def test_health_ready_info(client, tiny_url):
    assert client.get(tiny_url + "/health").json() == {"status": "ok"}
    assert client.get(tiny_url + "/ready").json() == {"status": "ready"}
    info = client.get(tiny_url + "/info").json()
    assert info["ready"] is True
    assert info["model"] == MODEL_NAME and info["version"] == "1" and info["model_version"] == "tiny-test"
    assert info["max_length"] == 128 and info["max_query_tokens"] == 64
    assert info["backend"]["backend"] == "embedded" and "CPUExecutionProvider" in info["backend"]["providers"]
    assert info["limits"]["max_documents"] == 1000 and info["limits"]["max_body_bytes"] == 1 << 20
    # the backend's resolved batching defaults, not None
    assert info["limits"]["max_batch_tokens"] == 1024 and info["limits"]["max_concurrent_batches"] == 1


def test_docs_and_openapi(client, tiny_url):
    r = client.get(tiny_url + "/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    spec = client.get(tiny_url + "/openapi.json").json()
    for path in ("/rerank", "/v1/rerank", "/v2/rerank", "/health", "/ready", "/info", "/metrics"):
        assert path in spec["paths"], path
    assert {"RerankRequest", "TeiRerankRequest", "RerankResponse", "TeiRank", "ErrorResponse"} <= set(
        spec["components"]["schemas"])


def _samples(client, url) -> dict:
    text = client.get(url + "/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _get(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move(client, tiny_url):
    before = _samples(client, tiny_url)
    rerank(client, tiny_url, {"query": QUERY, "documents": DOCS})
    client.post(tiny_url + "/rerank", json={"query": "", "documents": ["a"]})
    after = _samples(client, tiny_url)

    def moved(name, **labels):
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert moved("rerank_request_duration_seconds_count", route="/rerank", variant="default", status="200") == 1
    assert moved("rerank_request_duration_seconds_count", route="/rerank", variant="default", status="422") == 1
    assert moved("rerank_request_duration_seconds_bucket", route="/rerank", variant="default", status="200",
                 le="10.0") == 1
    for stage in STAGES:
        assert moved("rerank_stage_duration_seconds_count", stage=stage, variant="default") == 1
    assert moved("rerank_request_documents_sum", variant="default") == len(DOCS)
    assert moved("rerank_request_tokens_sum", variant="default") > 0
    assert moved("rerank_batch_size_count", variant="default") == math.ceil(len(DOCS) / 2)
    # several micro-batches, yet the stages are wall time: together they fit inside the request
    stages = sum(moved("rerank_stage_duration_seconds_sum", stage=stage, variant="default") for stage in STAGES)
    assert 0 < stages <= moved("rerank_request_duration_seconds_sum", route="/rerank", variant="default", status="200")
    assert moved("rerank_errors_total", type="validation_error", variant="default") == 1
    assert _get(after, "rerank_requests_in_flight", variant="default") == 0
    assert _get(after, "rerank_backend_info", model=MODEL_NAME, version="1", model_version="tiny-test",
                backend="embedded", variant="default") == 1


# ---- readiness while the backend is down -------------------------------------------------------

def test_missing_model_is_503_until_it_appears(client, tmp_path, tiny_model_repository):
    settings = Settings(model_repository=tmp_path, load_retry_interval_s=0.2)
    with start_server(settings) as url:
        assert client.get(url + "/health").status_code == 200
        err = assert_error(client.get(url + "/ready"), 503, "not_ready")
        assert MODEL_NAME in err["message"]
        assert_error(client.post(url + "/rerank", json={"query": "q", "documents": ["a"]}), 503, "model_not_ready")
        info = client.get(url + "/info").json()
        assert info["ready"] is False and info["load_error"]
        _ = client.get(url + "/metrics").text  # still served
        # the model volume shows up: the service turns ready without a restart
        shutil.copytree(tiny_model_repository / MODEL_NAME, tmp_path / MODEL_NAME)
        for _ in range(100):
            if client.get(url + "/ready").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        assert client.get(url + "/ready").status_code == 200
        rerank(client, url, {"query": "q", "documents": ["a"]})


def test_backend_start_failure_is_503(client, tmp_path, tiny_model_repository):
    version = tmp_path / MODEL_NAME / "1"
    shutil.copytree(tiny_model_repository / MODEL_NAME / "1", version)
    (version / "model.onnx").write_bytes(b"this is not an onnx graph")
    with start_server(Settings(model_repository=tmp_path)) as url:
        assert client.get(url + "/health").status_code == 200
        err = assert_error(client.get(url + "/ready"), 503, "not_ready")
        assert "embedded" in err["message"]
        assert_error(client.post(url + "/rerank", json={"query": "q", "documents": ["a"]}), 503,
                     "backend_unavailable")
        assert client.get(url + "/info").json()["backend"]["error"]
