"""The shadow teacher path over real HTTP: the service (uvicorn, the token-overlap ONNX student),
real teacher servers on their own ports (the project's ``rerank teacher serve`` app, an
OpenAI-protocol app that omits passages), a real SQLite relabel store; and ``rerank serve`` in a
subprocess killed with SIGKILL in the middle of shadow work."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from service.triton_server import free_port
from service.shadow.agreement import agreement
from service.shadow.store import RelabelStore, row_to_record, sha256_text
from tests.helpers.tiny_llm import serve_app
from tests.service.server import start_server
from tests.service.teachers import Controlled, omitting_chat_app, overlap_scores, teacher_server_app
from training.paths import PROJECT_ROOT

QUERY = "what do cats eat"
DOCS = ["Cats eat meat and fish every day.", "The stock market fell on Tuesday.", "what cats like",
        "Dogs eat almost anything.", "A recipe for sourdough bread."]


def samples(url) -> dict:
    out = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric(url, name, **labels) -> float:
    return samples(url).get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(condition, what: str, timeout_s: float = 60.0):
    """Poll until ``condition()`` is truthy (a guard against hanging, not a latency assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def rows(path) -> list:
    store = RelabelStore(path, readonly=True)
    try:
        return list(store.records())
    finally:
        store.close()


def shadow_settings(repo, store, teacher, **kw) -> Settings:
    base = dict(model_repository=repo, teacher=teacher, shadow_store_path=store, teacher_retry_backoff_s=0.01,
                shadow_drain_timeout_s=10)
    return Settings(**(base | kw))


@pytest.fixture(scope="module")
def teacher_url():
    """The project's teacher server (OpenAI chat + /v1/score) around the overlap teacher."""
    with serve_app(teacher_server_app()) as url:
        yield url


def test_shadowed_requests_become_rows_with_teacher_scores(overlap_model_repository, teacher_url, tmp_path):
    store = tmp_path / "shadow.sqlite"
    settings = shadow_settings(overlap_model_repository, store, f"score:{teacher_url}", shadow_rate=1.0)
    with start_server(settings) as url:
        a = httpx.post(url + "/rerank", json={"query": QUERY, "documents": DOCS, "top_n": 1},
                       headers={"X-Request-Id": "req-a"})
        b = httpx.post(url + "/rerank", json={"query": "bread recipe", "texts": DOCS})
        assert a.status_code == b.status_code == 200
        wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 2, "2 completed")
        assert metric(url, "rerank_shadow_enqueued_total", variant="default") == 2
        assert metric(url, "rerank_shadow_agreement_ndcg10_count", variant="default") == 2
        assert metric(url, "rerank_shadow_agreement_kendall_tau_count", variant="default") == 2
        assert metric(url, "rerank_shadow_teacher_duration_seconds_count", outcome="ok") == 2
        info = httpx.get(url + "/info").json()["shadow"]
        assert info["teacher"] == {"name": "overlap-teacher", "version": "ov-1", "kind": "pointwise"}
    got = {r.request_id: r for r in rows(store)}
    assert set(got) == {"req-a", b.headers["x-request-id"]}
    for rid, query in (("req-a", QUERY), (b.headers["x-request-id"], "bread recipe")):
        r = got[rid]
        assert (r.status, r.attempts, r.error, r.variant) == ("completed", 1, None, "default")
        assert (r.model_name, r.model_version, r.model_folder) == ("rerank-student", "token-overlap-test", "1")
        assert (r.teacher_name, r.teacher_version, r.teacher_kind) == ("overlap-teacher", "ov-1", "pointwise")
        assert r.query == query and r.texts() == DOCS and r.query_sha256 == sha256_text(query)
        assert r.documents[0]["sha256"] == sha256_text(DOCS[0])
        assert len(r.student_scores) == len(DOCS)  # every document, though the answer had top_n=1
        assert r.teacher_scores == pytest.approx(overlap_scores(query, DOCS))
        assert r.teacher_order == sorted(range(len(DOCS)), key=lambda i: -r.teacher_scores[i])
        assert r.teacher_omitted == []
        ndcg, tau = agreement(r.student_scores, r.teacher_order, r.teacher_omitted, r.teacher_scores)
        assert (r.ndcg10, r.kendall_tau) == (pytest.approx(ndcg), pytest.approx(tau))
        assert r.created_at <= r.judged_at and r.teacher_seconds >= 0
    # the stored student scores are the live answer's logits: sigmoid(logit) is what /rerank returned
    (top,) = a.json()["results"]
    stored = got["req-a"].student_scores
    assert top["relevance_score"] == pytest.approx(1 / (1 + math.exp(-max(stored))))
    assert stored.index(max(stored)) == top["index"]


def test_listwise_teacher_over_the_chat_api(overlap_model_repository, teacher_url, tmp_path):
    """openai:MODEL@URL against the project's chat route: rankings, no scores."""
    store = tmp_path / "shadow.sqlite"
    settings = shadow_settings(overlap_model_repository, store, f"openai:overlap-teacher@{teacher_url}/v1",
                               shadow_rate=1.0, teacher_window=3, teacher_step=2)
    with start_server(settings) as url:
        assert httpx.post(url + "/rerank", json={"query": QUERY, "documents": DOCS}).status_code == 200
        wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 1, "1 completed")
    (r,) = rows(store)
    assert (r.teacher_name, r.teacher_version, r.teacher_kind) == ("openai:overlap-teacher", "rankgpt-v1", "listwise")
    assert r.teacher_scores is None and r.teacher_omitted == []
    # windows (2,5) then (0,3), each ordered exactly: the true best (window - step) ends on top
    best = sorted(range(len(DOCS)), key=lambda i: -overlap_scores(QUERY, DOCS)[i])
    assert sorted(r.teacher_order) == list(range(len(DOCS))) and r.teacher_order[0] == best[0]


def test_omitted_passages_and_unparseable_answers(overlap_model_repository, tmp_path):
    """A list-wise LLM that leaves passages out (hard negatives) and one that answers no ids at all
    (retried, then stored as failed)."""
    store = tmp_path / "shadow.sqlite"
    with serve_app(omitting_chat_app()) as teacher:
        settings = shadow_settings(overlap_model_repository, store, f"openai:fake@{teacher}", teacher_max_retries=1,
                                   shadow_workers=1)
        with start_server(settings) as url:
            forced = {"X-Rerank-Shadow": "1"}
            httpx.post(url + "/rerank", json={"query": QUERY, "documents": DOCS}, headers=forced)
            httpx.post(url + "/rerank", json={"query": "zebra quantum", "documents": DOCS}, headers=forced)
            httpx.post(url + "/rerank", json={"query": QUERY, "documents": DOCS})  # rate 0: not shadowed
            wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default")
                     + metric(url, "rerank_shadow_failed_total", variant="default") == 2, "2 judged")
            assert metric(url, "rerank_shadow_enqueued_total", variant="default") == 2
    ok, failed = rows(store)
    scores = overlap_scores(QUERY, DOCS)
    assert ok.status == "completed"
    assert set(ok.teacher_omitted) == {i for i, s in enumerate(scores) if s < 0.5}  # no shared word
    assert ok.teacher_order[: len(DOCS) - len(ok.teacher_omitted)] == [
        i for i in sorted(range(len(DOCS)), key=lambda i: -scores[i]) if scores[i] >= 0.5]
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert "no passage identifier" in failed.error and failed.teacher_order is None


def test_hashes_only_when_text_is_not_stored(overlap_model_repository, teacher_url, tmp_path):
    store = tmp_path / "shadow.sqlite"
    secret = "Xylophonist Quagmire confidential memo"
    settings = shadow_settings(overlap_model_repository, store, f"score:{teacher_url}", shadow_rate=1.0,
                               shadow_store_text=False)
    with start_server(settings) as url:
        httpx.post(url + "/rerank", json={"query": "confidential memo", "documents": [secret, DOCS[1]]})
        wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 1, "1 completed")
    (r,) = rows(store)
    assert r.query is None and r.text_stored is False and r.texts() is None
    assert r.documents == [{"sha256": sha256_text(secret)}, {"sha256": sha256_text(DOCS[1])}]
    assert r.teacher_scores is not None and r.query_sha256 == sha256_text("confidential memo")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("shadow.sqlite"))
    assert b"Xylophonist" not in raw and b"confidential" not in raw


def test_a_slow_teacher_never_holds_the_live_path(overlap_model_repository, teacher_url, tmp_path):
    """The teacher holds every call until the test opens it. /rerank keeps answering; with one
    worker and a queue of 1, a burst queues one copy, drops the rest and counts them."""
    store = tmp_path / "shadow.sqlite"
    gate = Controlled(teacher_server_app(), gated=True)
    with serve_app(gate) as teacher:
        settings = shadow_settings(overlap_model_repository, store, f"score:{teacher}", shadow_rate=1.0,
                                   shadow_queue_size=1, shadow_workers=1)
        with start_server(settings) as url, httpx.Client(timeout=60) as client:
            def counted():
                return (metric(url, "rerank_shadow_enqueued_total", variant="default")
                        + metric(url, "rerank_shadow_dropped_total", variant="default", reason="queue_full"))

            burst = 8
            for i in range(burst):
                r = client.post(url + "/rerank", json={"query": f"{QUERY} {i}", "documents": DOCS})
                assert r.status_code == 200 and len(r.json()["results"]) == len(DOCS)
                wait_for(lambda: counted() == i + 1, f"copy {i} offered")
                if i == 0:
                    gate.wait_seen(1)  # the worker holds copy 0 inside the teacher
            # every live answer came back while the teacher had answered nothing
            assert gate.answered == 0 and gate.seen == 1 and rows(store) == []
            assert metric(url, "rerank_shadow_enqueued_total", variant="default") == 2
            assert metric(url, "rerank_shadow_dropped_total", variant="default", reason="queue_full") == burst - 2
            assert metric(url, "rerank_shadow_queue_depth") == 1
            # still serving, still not waiting
            assert client.post(url + "/rerank", json={"query": QUERY, "documents": DOCS}).status_code == 200
            gate.open()
            wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 2, "2 completed")
            assert metric(url, "rerank_shadow_queue_depth") == 0
    assert sorted(r.query for r in rows(store)) == [f"{QUERY} 0", f"{QUERY} 1"]


def test_queued_text_is_bounded_in_characters(overlap_model_repository, tmp_path):
    gate = Controlled(teacher_server_app(), gated=True)
    with serve_app(gate) as teacher:
        settings = shadow_settings(overlap_model_repository, tmp_path / "s.sqlite", f"score:{teacher}",
                                   shadow_rate=1.0, shadow_workers=1, shadow_queue_size=100,
                                   shadow_queue_max_chars=300, shadow_max_documents=3)
        with start_server(settings) as url, httpx.Client(timeout=60) as client:
            def offered():
                return (metric(url, "rerank_shadow_enqueued_total", variant="default")
                        + sum(metric(url, "rerank_shadow_dropped_total", variant="default", reason=r)
                              for r in ("queue_full", "too_many_documents")))

            small = {"query": "q", "documents": ["a short one", "another"]}
            for i, body in enumerate([small, small, {"query": "q", "documents": ["x" * 400]}, small,
                                      {"query": "q", "documents": ["a", "b", "c", "d"]}]):
                assert client.post(url + "/rerank", json=body).status_code == 200
                wait_for(lambda: offered() == i + 1, f"copy {i} offered")
                if i == 0:
                    gate.wait_seen(1)  # taken by the worker: no longer counts against the queue
            assert metric(url, "rerank_shadow_enqueued_total", variant="default") == 3
            assert metric(url, "rerank_shadow_dropped_total", variant="default", reason="queue_full") == 1
            assert metric(url, "rerank_shadow_dropped_total", variant="default", reason="too_many_documents") == 1
            gate.open()
            wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 3, "3 completed")


def test_teacher_errors_are_retried_then_recorded_as_failed(overlap_model_repository, tmp_path):
    store = tmp_path / "shadow.sqlite"
    flaky = Controlled(teacher_server_app(), fail_first=4)
    with serve_app(flaky) as teacher:
        settings = shadow_settings(overlap_model_repository, store, f"score:{teacher}", teacher_max_retries=2,
                                   shadow_workers=1)
        with start_server(settings) as url:
            shadow = {"X-Rerank-Shadow": "1"}
            httpx.post(url + "/rerank", json={"query": "first", "documents": DOCS}, headers=shadow)
            wait_for(lambda: metric(url, "rerank_shadow_failed_total", variant="default") == 1, "1 failed")
            httpx.post(url + "/rerank", json={"query": "second", "documents": DOCS}, headers=shadow)
            wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 1, "1 completed")
            assert metric(url, "rerank_shadow_teacher_duration_seconds_count", outcome="error") == 4
            assert metric(url, "rerank_shadow_teacher_duration_seconds_count", outcome="ok") == 1
    first, second = rows(store)
    assert (first.query, first.status, first.attempts) == ("first", "failed", 3)
    assert "HTTP 503" in first.error and first.teacher_order is None and first.ndcg10 is None
    assert (second.query, second.status, second.attempts) == ("second", "completed", 2)  # 4th call failed, 5th ok


def test_shadow_follows_the_variant(overlap_model_repository, teacher_url, tmp_path):
    store = tmp_path / "shadow.sqlite"
    settings = shadow_settings(overlap_model_repository, store, f"score:{teacher_url}",
                               variants={"a": {"share": 50}, "b": {"share": 50}})
    with start_server(settings) as url:
        for arm in ("a", "b"):
            httpx.post(url + "/rerank", json={"query": QUERY, "documents": DOCS},
                       headers={"X-Rerank-Variant": arm, "X-Rerank-Shadow": "true"})
        wait_for(lambda: sum(metric(url, "rerank_shadow_completed_total", variant=v) for v in "ab") == 2, "2")
        assert metric(url, "rerank_shadow_agreement_ndcg10_count", variant="a") == 1
        assert metric(url, "rerank_shadow_agreement_ndcg10_count", variant="b") == 1
    assert sorted(r.variant for r in rows(store)) == ["a", "b"]


def test_teacher_route_is_404_when_off_and_speaks_the_rerank_schema_when_on(
        overlap_model_repository, teacher_url, tmp_path):
    body = {"query": QUERY, "documents": DOCS, "top_n": 3, "return_documents": True}
    with start_server(Settings(model_repository=overlap_model_repository)) as url:
        r = httpx.post(url + "/teacher/rerank", json=body)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    settings = shadow_settings(overlap_model_repository, tmp_path / "s.sqlite", f"score:{teacher_url}",
                               teacher_route=True)
    with start_server(settings) as url:
        r = httpx.post(url + "/teacher/rerank", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        scores = overlap_scores(QUERY, DOCS)
        best = sorted(range(len(DOCS)), key=lambda i: -scores[i])[:3]
        assert [x["index"] for x in out["results"]] == best
        assert [x["relevance_score"] for x in out["results"]] == pytest.approx([scores[i] for i in best])
        assert [x["document"]["text"] for x in out["results"]] == [DOCS[i] for i in best]
        assert out["model"] == "overlap-teacher" and out["meta"]["variant"] == "teacher"
        assert r.headers["x-rerank-variant"] == "teacher" and r.headers["x-model-version"] == "ov-1"
        tei = httpx.post(url + "/teacher/rerank", json={"query": QUERY, "texts": DOCS}).json()
        assert [x["index"] for x in tei][:3] == best
        assert "/teacher/rerank" in httpx.get(url + "/openapi.json").json()["paths"]
        assert metric(url, "rerank_request_duration_seconds_count", route="/teacher/rerank", variant="default",
                      status="200") == 2
        assert rows(tmp_path / "s.sqlite") == []  # the route itself is not shadowed
    # a list-wise teacher: rank-derived scores, left-out passages score 0
    with serve_app(omitting_chat_app()) as chat:
        settings = shadow_settings(overlap_model_repository, tmp_path / "t.sqlite", f"openai:fake@{chat}",
                                   teacher_route=True, teacher_max_retries=0)
        with start_server(settings) as url:
            out = httpx.post(url + "/teacher/rerank", json={"query": QUERY, "documents": DOCS}).json()
            kept = [i for i in sorted(range(len(DOCS)), key=lambda i: -scores[i]) if scores[i] >= 0.5]
            m = len(kept)
            assert [x["index"] for x in out["results"]][:m] == kept
            assert [x["relevance_score"] for x in out["results"]] == pytest.approx(
                [(m - r) / m for r in range(m)] + [0.0] * (len(DOCS) - m))
            r = httpx.post(url + "/teacher/rerank", json={"query": "zebra", "documents": DOCS})
            assert r.status_code == 503 and r.json()["error"]["type"] == "teacher_unavailable"


def test_local_teacher_in_process(overlap_model_repository, tmp_path):
    """zero-shot:DIR loads the LLM into the service process (the one option that imports torch)."""
    from tests.helpers.tiny_llm import build_tiny_llm

    llm = build_tiny_llm(tmp_path / "tiny-llm")
    store = tmp_path / "shadow.sqlite"
    settings = shadow_settings(overlap_model_repository, store, f"zero-shot:{llm}", shadow_rate=1.0)
    with start_server(settings) as url:
        httpx.post(url + "/rerank", json={"query": QUERY, "documents": DOCS[:3]})
        wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == 1, "1 completed")
    (r,) = rows(store)
    assert r.teacher_name == "zero-shot" and r.teacher_kind == "pointwise" and len(r.teacher_scores) == 3


# ---- SIGKILL in the middle of shadow work --------------------------------------------------------

def _committed_ids(store) -> set[str]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return {r[0] for r in conn.execute("SELECT request_id FROM shadow_records")}
    finally:
        conn.close()


def test_sigkill_loses_no_committed_row_and_leaves_no_partial_one(overlap_model_repository, tmp_path):
    store = tmp_path / "shadow.sqlite"
    slow = Controlled(teacher_server_app(), delay_s=0.2)  # slower than the live traffic: work piles up
    with serve_app(slow) as teacher:
        port = free_port()
        env = os.environ | {
            "RERANK_TEACHER": f"score:{teacher}", "RERANK_SHADOW_RATE": "1.0", "RERANK_SHADOW_STORE_PATH": str(store),
            "RERANK_SHADOW_WORKERS": "2", "RERANK_SHADOW_QUEUE_SIZE": "10000",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "training.cli", "serve", "--model-repository", str(overlap_model_repository),
             "--port", str(port), "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        answered: list[str] = []
        stop = threading.Event()

        def load():
            with httpx.Client(timeout=30) as client:
                i = 0
                while not stop.is_set():
                    try:
                        r = client.post(url + "/rerank", json={"query": f"{QUERY} {i}", "documents": DOCS})
                    except httpx.TransportError:
                        return  # killed
                    if r.status_code == 200:
                        answered.append(r.headers["x-request-id"])
                    i += 1

        try:
            def ready():
                try:
                    return httpx.get(url + "/ready").status_code == 200
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
                    return False

            wait_for(ready, "rerank serve ready", timeout_s=120)
            thread = threading.Thread(target=load, daemon=True)
            thread.start()
            wait_for(lambda: store.exists() and len(_committed_ids(store)) >= 10, "10 committed rows")
            wait_for(lambda: metric(url, "rerank_shadow_queue_depth") > 0, "queued shadow work")
            committed = _committed_ids(store)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(store)  # opening recovers the WAL as SQLite does after any crash
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.row_factory = sqlite3.Row
        records = [row_to_record(row) for row in conn.execute("SELECT * FROM shadow_records")]
    finally:
        conn.close()
    assert committed <= {r.request_id for r in records}  # nothing committed was lost
    assert len(records) < len(answered)  # the copies still in memory died with the process
    assert set(r.request_id for r in records) <= set(answered)
    for r in records:  # and every row is whole
        n = len(DOCS)
        assert r.status == "completed" and r.attempts == 1 and r.error is None
        assert r.texts() == DOCS and r.query.startswith(QUERY)
        assert len(r.student_scores) == len(r.teacher_scores) == r.n_documents == n
        assert sorted(r.teacher_order) == list(range(n)) and r.teacher_omitted == []
        assert r.teacher_scores == pytest.approx(overlap_scores(r.query, DOCS))
        assert r.ndcg10 is not None and r.kendall_tau is not None and r.judged_at >= r.created_at


NO_TORCH_SCRIPT = """
import json, os, sys, time
import httpx
from tests.helpers.serve_thread import serve_in_thread

repo, port, teacher, store = sys.argv[1:5]
url = serve_in_thread(["--model-repository", repo, "--log-level", "warning", "--teacher", teacher,
                       "--shadow-store", store, "--teacher-route"], int(port))
deadline = time.monotonic() + 60
body = {"query": "cats", "documents": ["cats purr", "stocks fell"]}
live = httpx.post(url + "/rerank", json=body, headers={"X-Rerank-Shadow": "1"}).status_code
route = httpx.post(url + "/teacher/rerank", json=body).status_code
while "rerank_shadow_completed_total{variant=\\"default\\"} 1.0" not in httpx.get(url + "/metrics").text:
    if time.monotonic() > deadline + 60:
        raise SystemExit("shadow copy not completed")
    time.sleep(0.05)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "optimum"))
print(json.dumps({"live": live, "route": route, "heavy": heavy}))
sys.stdout.flush()
os._exit(0)
"""


def test_remote_teacher_keeps_the_service_torch_free(overlap_model_repository, teacher_url, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH_SCRIPT, str(overlap_model_repository), str(free_port()),
         f"openai:overlap-teacher@{teacher_url}/v1", str(tmp_path / "s.sqlite")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"live": 200, "route": 200, "heavy": []}
