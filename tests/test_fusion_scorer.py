"""``fusion:`` scorer: weighted sum of per-query z-normalised scores."""

import math

import pytest

from training.data.hits import Candidate
from training.evaluate.scorers import make_scorer
from training.evaluate.scorers.fusion import FusionScorer, parse_fusion_spec, znorm

CANDS = [Candidate(docid=d, text=t, rank=r, score=s) for d, t, r, s in
         [("a", "x", 1, 9.0), ("b", "y", 2, 5.0), ("c", "z", 3, 4.0)]]


class Fixed:
    def __init__(self, scores):
        self.scores, self.name = scores, "fixed"

    def score(self, query, candidates):
        return list(self.scores)


def test_parse_fusion_spec_weights_default_to_one():
    assert parse_fusion_spec("bm25@0.3,student:/m/run@0.7") == [("bm25", 0.3), ("student:/m/run", 0.7)]
    assert parse_fusion_spec("bm25, bi-encoder") == [("bm25", 1.0), ("bi-encoder", 1.0)]
    with pytest.raises(ValueError, match="at least two"):
        parse_fusion_spec("bm25")
    with pytest.raises(ValueError, match="must be a number"):
        parse_fusion_spec("bm25@x,bi-encoder")


def test_znorm_by_hand():
    assert znorm([1.0, 3.0]) == [-1.0, 1.0]
    assert znorm([2.0, 2.0, 2.0]) == [0.0, 0.0, 0.0] and znorm([5.0]) == [0.0]


def test_fusion_weights_decide_between_disagreeing_scorers():
    # the two scorers disagree on a vs c; the heavier one wins
    first, second = Fixed([3.0, 2.0, 1.0]), Fixed([0.0, 0.5, 10.0])
    mostly_first = FusionScorer([(first, 1.0), (second, 0.1)], "f").score("q", CANDS)
    assert mostly_first[0] == max(mostly_first)
    fused = FusionScorer([(first, 0.2), (second, 1.0)], "f").score("q", CANDS)
    assert fused[2] == max(fused)
    z1, z2 = znorm(first.scores), znorm(second.scores)
    assert fused == pytest.approx([0.2 * a + b for a, b in zip(z1, z2)])


def test_fusion_spec_through_the_registry():
    scorer = make_scorer("fusion:bm25@1,bm25@2")
    got = scorer.score("q", CANDS)
    want = [3 * z for z in znorm([-1.0, -2.0, -3.0])]
    assert all(math.isclose(g, w) for g, w in zip(got, want)) and scorer.name == "fusion:bm25@1,bm25@2"
    with pytest.raises(ValueError, match="unknown scorer"):
        make_scorer("fusion:bm25,nope")
