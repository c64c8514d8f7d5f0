"""The label format: round trip, torn last line, append + resume bookkeeping."""

import json

from training.labels.pipeline import select_pool
from training.labels.schema import (
    LabeledCandidate, LabeledQuery, LabelWriter, done_qids, read_labels, write_labels,
)


def record(qid: str) -> LabeledQuery:
    return LabeledQuery(
        qid=qid, query=f"query {qid}",
        candidates=[LabeledCandidate("d1", "text one", 1.5, 1, False, 3.0, 1),
                    LabeledCandidate("d2", "text two", -0.5, None, True, 1.0, 2)],
        teacher={"name": "dense:sft", "version": "sft-step60", "kind": "pointwise"},
        pre_ranker={"spec": "bm25", "top_k": 1, "bottom_k": 1, "pool": 2}, source="test",
    )


def test_round_trip_and_documented_keys(tmp_path):
    path = tmp_path / "labels.jsonl"
    assert write_labels(path, [record("a"), record("b")]) == 2
    assert read_labels(path) == [record("a"), record("b")]
    obj = json.loads(path.read_text().splitlines()[0])
    assert set(obj) == {"qid", "query", "candidates", "teacher", "pre_ranker", "source"}
    assert {"docid", "text", "teacher_score", "teacher_rank", "hard_negative"} <= set(obj["candidates"][0])
    assert obj["candidates"][1]["teacher_rank"] is None and obj["candidates"][1]["hard_negative"] is True


def test_torn_last_line_is_skipped_then_cut_before_appending(tmp_path):
    path = tmp_path / "labels.jsonl"
    write_labels(path, [record("a")])
    with path.open("a") as f:
        f.write('{"qid": "b", "query": "interrupt')   # a writer killed mid-line
    assert done_qids(path) == {"a"}
    with LabelWriter(path) as w:
        w.write(record("c"))
    assert [q.qid for q in read_labels(path)] == ["a", "c"]


def test_select_pool_keeps_top_and_bottom():
    scores = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2]
    assert select_pool(scores, 2, 2) == [1, 4, 5, 0]
    assert select_pool(scores, 2, 0) == [1, 4]
    assert select_pool(scores[:3], 2, 2) == [1, 2, 0]   # short lists are kept whole


def test_gzipped_label_files_read_like_plain_ones(tmp_path):
    import gzip

    from training.labels.schema import read_labels

    plain = tmp_path / "labels.jsonl"
    record = {"qid": "q1", "query": "what do fleas eat", "candidates": [
        {"docid": "a", "text": "fleas eat blood", "teacher_score": 1.5, "teacher_rank": 1, "hard_negative": False},
        {"docid": "b", "text": "flea market", "teacher_score": None, "teacher_rank": None, "hard_negative": True}],
        "teacher": {"name": "t", "version": "1", "kind": "pointwise"}, "pre_ranker": {"spec": "bm25"}}
    plain.write_text(json.dumps(record) + "\n")
    packed = tmp_path / "labels.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_labels(packed) == read_labels(plain)
    assert read_labels(packed)[0].candidates[1].hard_negative is True
