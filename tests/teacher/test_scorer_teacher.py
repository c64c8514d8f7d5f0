"""Any scorer SPEC as a point-wise teacher (the interim teacher before the LLM beats BM25)."""

import pytest

from training.teacher import make_teacher


def test_candidate_order_scorer_as_teacher_keeps_the_given_order():
    teacher = make_teacher("scorer:bm25")
    assert teacher.info.name == "scorer:bm25" and teacher.info.kind == "pointwise"
    assert teacher.score("q", ["a", "b", "c"]) == [-1.0, -2.0, -3.0]
    ranking = teacher.rank("q", ["a", "b", "c"])
    assert ranking.order == [0, 1, 2] and ranking.omitted == []


def test_bi_encoder_teacher_prefers_the_relevant_passage():
    teacher = make_teacher("scorer:bi-encoder")
    docs = ["The stock market fell sharply on Tuesday.", "Fleas feed on the blood of cats and dogs."]
    scores = teacher.score("what do fleas eat", docs)
    assert scores[1] > scores[0]
    assert teacher.rank("what do fleas eat", docs).order == [1, 0]


def test_scorer_teacher_needs_a_spec():
    with pytest.raises(ValueError, match="scorer SPEC"):
        make_teacher("scorer:")
