"""``cached:SPEC``: point-wise scores persisted in SQLite; only missing pairs reach the scorer."""

import pytest

from training.data.hits import Candidate
from training.evaluate.scorers import make_scorer
from training.evaluate.scorers.cached import CachedScorer
from training.teacher.openai_client import ResponseCache


class Counting:
    """Scores a text by its length; records what it was asked."""

    name = "counting"

    def __init__(self):
        self.asked = []

    def score(self, query, candidates):
        self.asked.append([c.text for c in candidates])
        return [len(query) + len(c.text) / 10 for c in candidates]


def _cands(texts):
    return [Candidate(docid=str(i), text=t, rank=i + 1, score=0.0) for i, t in enumerate(texts)]


def test_only_missing_pairs_are_scored_and_scores_survive_a_new_connection(tmp_path):
    inner = Counting()
    scorer = CachedScorer("counting", inner, ResponseCache(tmp_path / "s.sqlite"))
    first = scorer.score("q", _cands(["aa", "bbbb"]))
    assert first == [1.2, 1.4] and inner.asked == [["aa", "bbbb"]]
    # one old pair, one new one, in another order: the new one alone is scored, results line up
    assert scorer.score("q", _cands(["ccc", "bbbb"])) == [1.3, 1.4] and inner.asked[-1] == ["ccc"]
    assert (scorer.hits, scorer.misses) == (1, 3)
    # the query is part of the key
    scorer.score("other", _cands(["aa"]))
    assert inner.asked[-1] == ["aa"]

    again = Counting()
    reopened = CachedScorer("counting", again, ResponseCache(tmp_path / "s.sqlite"))
    assert reopened.score("q", _cands(["bbbb", "aa", "ccc"])) == [1.4, 1.2, 1.3] and again.asked == []
    # another spec does not read this spec's scores
    other = CachedScorer("counting-v2", again, ResponseCache(tmp_path / "s.sqlite"))
    other.score("q", _cands(["aa"]))
    assert again.asked == [["aa"]]


def test_registry_wraps_a_real_scorer_and_refuses_list_dependent_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("RERANK_SCORE_CACHE", str(tmp_path / "scores.sqlite"))
    cands = _cands(["Adult fleas feed on blood.", "The flea market opens on Sunday."])
    plain = make_scorer("bi-encoder").score("what do fleas eat", cands)
    cached = make_scorer("cached:bi-encoder")
    assert cached.score("what do fleas eat", cands) == pytest.approx(plain, abs=1e-6)
    assert make_scorer("cached:bi-encoder").score("what do fleas eat", cands) == pytest.approx(plain, abs=1e-6)
    assert (tmp_path / "scores.sqlite").exists()
    for bad in ("bm25", "fusion:bm25,bi-encoder", "cached:bi-encoder"):
        with pytest.raises(ValueError, match="not allowed"):
            make_scorer(f"cached:{bad}")
    with pytest.raises(ValueError, match="needs a scorer"):
        make_scorer("cached")
