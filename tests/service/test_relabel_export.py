"""``rerank relabel export``: relabel store rows -> the label pipeline's JSONL; and the whole loop
live traffic -> shadow teacher -> SQLite -> export -> ``rerank train`` on a tiny student."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone

import httpx
import pytest

from service.settings import Settings
from service.shadow.export import export_labels, parse_time
from service.shadow.store import RelabelStore, ShadowRecord, sha256_text
from tests.helpers.tiny_llm import serve_app
from tests.helpers.tiny_student import TINY_BERT
from tests.service.server import start_server
from tests.service.teachers import teacher_server_app
from tests.service.test_shadow import metric, wait_for
from training.labels.schema import read_labels
from training.paths import PROJECT_ROOT

DOCS = ["alpha beta", "gamma delta", "epsilon"]


def record(rid: str, created_at: float, **kw) -> ShadowRecord:
    query = kw.pop("query", "alpha query")
    docs = kw.pop("docs", DOCS)
    keep = kw.pop("text_stored", True)
    base = dict(
        request_id=rid, created_at=created_at, variant="a", model_name="rerank-student", model_version="v7",
        model_folder="7", query=query if keep else None, query_sha256=sha256_text(query),
        documents=[{"sha256": sha256_text(d), **({"text": d} if keep else {})} for d in docs], text_stored=keep,
        student_scores=[float(len(docs) - i) for i in range(len(docs))][::-1],  # student: last doc best
        teacher_name="t", teacher_version="1", teacher_kind="pointwise", status="completed", attempts=1,
        teacher_order=list(range(len(docs))), teacher_omitted=[], teacher_scores=[3.0, 2.0, 1.0][: len(docs)],
    )
    return ShadowRecord(**(base | kw))


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "shadow.sqlite"
    store = RelabelStore(path)
    store.insert(record("old", 100.0))                                     # before --since
    store.insert(record("p1", 1000.0))                                     # point-wise
    store.insert(record("l1", 1001.0, teacher_kind="listwise", teacher_scores=None, teacher_order=[2, 0, 1],
                        teacher_omitted=[1], query="other query"))         # list-wise, doc 1 left out
    store.insert(record("f1", 1002.0, status="failed", teacher_order=None, teacher_omitted=None,
                        teacher_scores=None, error="boom", attempts=3))
    store.insert(record("h1", 1003.0, text_stored=False, query="hidden"))  # hashes only
    store.insert(record("one", 1004.0, docs=["lonely"], query="single"))   # one document
    store.insert(record("p1", 1005.0, query="retried id"))                 # the same request id again
    store.insert(record("p2", 1006.0))                                     # same content as p1: newer wins
    store.insert(record("b1", 1007.0, variant="b", query="arm b"))
    store.close()
    return path


def test_export_summary_and_label_format(store_path, tmp_path):
    out = tmp_path / "live.jsonl"
    summary = export_labels(store_path, out, since=1000.0)
    assert {k: summary[k] for k in ("records", "exported", "failed", "hashed_only", "too_few_documents",
                                    "duplicates")} == {"records": 8, "exported": 3, "failed": 1, "hashed_only": 1,
                                                       "too_few_documents": 1, "duplicates": 2}
    labels = {q.qid: q for q in read_labels(out)}
    assert list(labels) == ["l1", "p2", "b1"]  # time order of the kept (newest) copies
    p = labels["p2"]
    assert p.query == "alpha query" and p.source == "shadow"
    assert p.teacher == {"name": "t", "version": "1", "kind": "pointwise"}
    assert p.pre_ranker == {"spec": "student:rerank-student@v7", "variant": "a", "model_folder": "7", "pool": 3}
    assert [(c.docid, c.text, c.teacher_score, c.teacher_rank, c.hard_negative) for c in p.candidates] == [
        ("0", "alpha beta", 3.0, 1, False), ("1", "gamma delta", 2.0, 2, False), ("2", "epsilon", 1.0, 3, False)]
    assert [(c.pre_score, c.pre_rank) for c in p.candidates] == [(1.0, 3), (2.0, 2), (3.0, 1)]
    lw = labels["l1"]
    # teacher order, ranked first, then the left-out one as a hard negative with no rank
    assert [(c.docid, c.teacher_score, c.teacher_rank, c.hard_negative) for c in lw.candidates] == [
        ("2", None, 1, False), ("0", None, 2, False), ("1", None, None, True)]
    assert json.loads(out.read_text().splitlines()[0])["qid"] == "l1"


def test_export_filters_and_trainer_reads_it(store_path, tmp_path):
    out = tmp_path / "b.jsonl"
    assert export_labels(store_path, out, variant="b")["exported"] == 1
    assert [q.qid for q in read_labels(out)] == ["b1"]
    assert export_labels(store_path, out, since=1000.0, until=1002.0)["exported"] == 2
    assert export_labels(store_path, out, since=1000.0, dedupe=False)["exported"] == 5
    # the student trainer's own reader and grading take the file as is
    from training.student.data import rank_labels, read_labels as trainer_read

    queries = trainer_read([out])
    l1 = next(q for q in queries if q.qid == "l1")
    assert rank_labels(l1) == {"2": 2.0, "0": 1.0, "1": 0.0}


def test_parse_time():
    assert parse_time("1735689600") == 1735689600.0
    assert parse_time("2025-01-01") == datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    assert parse_time("2025-01-01T02:00:00+02:00") == datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    assert parse_time("2025-01-01T00:00:00Z") == datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    assert parse_time("24h", now=100_000.0) == 100_000.0 - 86_400
    assert parse_time("90m", now=10_000.0) == 10_000.0 - 5_400
    assert parse_time(None) is None
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday")


def test_live_traffic_to_labels_to_rerank_train(overlap_model_repository, tmp_path):
    """Shadowed live requests -> `rerank relabel export` -> `rerank train` (tiny student), no glue."""
    store = tmp_path / "shadow.sqlite"
    queries = [("what do cats eat", ["cats eat fish", "dogs bark", "cat food for cats", "the stock market"]),
               ("bread recipe", ["sourdough bread recipe", "bread", "car engine repair", "a recipe for soup"]),
               ("rain in spain", ["spain gets rain in spring", "snow in norway", "rain", "plain text"]),
               ("python list sort", ["sort a python list", "snakes", "list of lists", "sorting algorithms"])]
    since = time.time() - 1
    with serve_app(teacher_server_app()) as teacher:
        settings = Settings(model_repository=overlap_model_repository, teacher=f"score:{teacher}",
                            shadow_rate=1.0, shadow_store_path=store)
        with start_server(settings) as url:
            for q, docs in queries:
                assert httpx.post(url + "/rerank", json={"query": q, "documents": docs}).status_code == 200
            wait_for(lambda: metric(url, "rerank_shadow_completed_total", variant="default") == len(queries),
                     "all shadowed")
    labels = tmp_path / "live.jsonl"
    cli = [sys.executable, "-m", "training.cli"]
    export = subprocess.run(cli + ["relabel", "export", "--store", str(store), "--since", str(since),
                                   "--out", str(labels)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    summary = json.loads(export.stdout.strip().splitlines()[-1])
    assert summary["exported"] == len(queries) and summary["failed"] == 0
    assert json.loads((tmp_path / "live.jsonl.summary.json").read_text()) == summary
    assert {q.query for q in read_labels(labels)} == {q for q, _ in queries}

    run = tmp_path / "run"
    train = subprocess.run(cli + [
        "train", "--labels", str(labels), "--out", str(run), "--bert-config", json.dumps(TINY_BERT),
        "--eval-sets", "", "--val-fraction", "0", "--epochs", "2", "--batch-size", "2", "--group-size", "4",
        "--max-length", "64", "--threads", "1", "--lr", "1e-3", "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "student: 4 training queries" in train.stdout
    assert "done: 4 steps" in train.stdout  # 4 queries / batch 2 x 2 epochs
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert (run / "best").is_dir()
