"""``rerank fuse-labels``: teacher and pre-ranker scores fused into a new point-wise teacher."""

import gzip
import math
import subprocess
import sys
from pathlib import Path

import pytest

from training.data.hits import Candidate
from training.evaluate.scorers.fusion import FusionScorer
from training.labels.fuse import fuse_query
from training.labels.schema import LabeledCandidate, LabeledQuery, read_labels, write_labels

ROOT = Path(__file__).resolve().parents[2]


def query(qid="q1", hard_negative=False) -> LabeledQuery:
    # the teacher prefers b over c; BM25 (pre_score = -rank) put c first
    return LabeledQuery(
        qid=qid, query="what is x",
        candidates=[LabeledCandidate("a", "ta", 3.0, 1, False, -1.0, 1),
                    LabeledCandidate("b", "tb", 2.0, 2, False, -43.0, 43),
                    LabeledCandidate("c", "tc", 1.0, None if hard_negative else 3, hard_negative, -2.0, 2)],
        teacher={"name": "scorer:bi-encoder", "version": "1", "kind": "pointwise"},
        pre_ranker={"spec": "bm25", "top_k": 2, "bottom_k": 1, "pool": 50}, source="test")


def test_fused_scores_by_hand_and_the_new_ranking():
    # z(teacher) = [1.2247, 0, -1.2247]; z(pre) over [-1, -43, -2] = [0.7325, -1.4139, 0.6814]
    half = {c.docid: c.teacher_score for c in fuse_query(query(), pre_weight=0.5).candidates}
    assert half["a"] == pytest.approx(1.2247449 + 0.5 * 0.7325054, abs=1e-6)
    assert half["b"] == pytest.approx(0.0 + 0.5 * -1.4139057, abs=1e-6)
    assert half["c"] == pytest.approx(-1.2247449 + 0.5 * 0.6814004, abs=1e-6)
    # at weight 0.5 the teacher's b > c holds (-0.707 vs -0.884); at 1.0 BM25's vote lifts c above b:
    # candidates are stored in the new teacher order, ranks renumbered
    fused = fuse_query(query(), pre_weight=1.0)
    assert [(c.docid, c.teacher_rank) for c in fused.candidates] == [("a", 1), ("c", 2), ("b", 3)]
    assert [c.pre_rank for c in fused.candidates] == [1, 2, 43]   # the pre-ranker's record is kept
    assert fused.teacher["name"] == "fusion:scorer:bi-encoder@1,pre-ranker:bm25@1"
    assert fused.teacher["kind"] == "pointwise" and fused.teacher["fused_from"]["name"] == "scorer:bi-encoder"


def test_same_numbers_as_the_fusion_scorer():
    q = query()

    class Stored:
        def __init__(self, field):
            self.field = field

        def score(self, _query, candidates):
            return [getattr(next(c for c in q.candidates if c.docid == x.docid), self.field) for x in candidates]

    cands = [Candidate(docid=c.docid, text=c.text, rank=i + 1, score=0.0) for i, c in enumerate(q.candidates)]
    expected = FusionScorer([(Stored("teacher_score"), 1.0), (Stored("pre_score"), 0.25)], "f").score(q.query, cands)
    got = {c.docid: c.teacher_score for c in fuse_query(q, pre_weight=0.25).candidates}
    assert [got[c.docid] for c in cands] == pytest.approx(expected)


def test_hard_negatives_stay_left_out():
    fused = fuse_query(query(hard_negative=True), pre_weight=0.5)
    assert [(c.docid, c.teacher_rank, c.hard_negative) for c in fused.candidates] == \
        [("a", 1, False), ("b", 2, False), ("c", None, True)]
    assert all(math.isfinite(c.teacher_score) for c in fused.candidates)


def test_missing_scores_are_refused_by_name():
    q = query()
    q.candidates[1].teacher_score = None
    with pytest.raises(ValueError, match="q1.*lack teacher_score"):
        fuse_query(q, pre_weight=0.5)


def test_cli_reads_gzip_writes_jsonl_and_refuses_overwriting_its_input(tmp_path):
    plain = tmp_path / "a.jsonl"
    write_labels(plain, [query("q1"), query("q2")])
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    packed_bytes = packed.read_bytes()
    out = tmp_path / "fused.jsonl"
    cli = [sys.executable, "-m", "training.cli", "fuse-labels", "--labels", str(packed), "--pre-weight", "1"]
    done = subprocess.run(cli + ["--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    fused = read_labels(out)
    assert [q.qid for q in fused] == ["q1", "q2"]
    assert [c.docid for c in fused[0].candidates] == ["a", "c", "b"]

    refused = subprocess.run(cli + ["--out", str(packed)], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode != 0 and "must not be one of the --labels inputs" in refused.stderr
    assert packed.read_bytes() == packed_bytes
