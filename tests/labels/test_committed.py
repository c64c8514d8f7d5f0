"""The committed label sets: each one reads with the schema, has a data card, and every record is
complete (scores and ranks for all candidates, the teacher and pre-ranker named)."""

from pathlib import Path

import pytest

from training.labels.schema import read_labels

LABELS = Path(__file__).resolve().parents[2] / "data" / "labels"
COMMITTED = sorted(LABELS.glob("*.jsonl.gz"))


def test_there_are_committed_label_sets():
    assert COMMITTED, f"no *.jsonl.gz under {LABELS}"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_label_set_is_complete_and_documented(path):
    card = (LABELS / "README.md").read_text()
    assert f"`{path.name}`" in card, f"{path.name} has no section in data/labels/README.md"
    records = read_labels(path)
    assert records
    assert len({r.qid for r in records}) == len(records), "a query is labelled twice"
    for r in records:
        assert r.query and r.teacher.get("name") and r.pre_ranker.get("spec")
        assert r.candidates
        for c in r.candidates:
            assert c.text and c.teacher_score is not None and c.teacher_rank is not None
        ranks = sorted(c.teacher_rank for c in r.candidates)
        assert ranks == list(range(1, len(ranks) + 1)), f"{r.qid}: teacher ranks are not 1..n"
