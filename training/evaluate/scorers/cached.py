"""``cached:SPEC``: a point-wise scorer whose scores persist in SQLite, keyed by (SPEC, query, text).

Why: the local LLM scores about 2 pairs/s on these 2 cores, and the same pairs are scored again
and again: alone, inside every ``fusion:`` weighting tried, in the suite, by the label pipeline.
Only the pairs not in the cache reach the wrapped scorer.

Sound only for scorers whose score of a pair does not depend on the other candidates: ``bm25``
(the candidate order) and ``fusion`` (per-query z-scores) are refused. A changed model behind the
same SPEC needs another cache file (``RERANK_SCORE_CACHE``) or a deleted one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from training import paths
from training.data.hits import Candidate
from training.teacher.openai_client import ResponseCache

LIST_DEPENDENT = ("bm25", "fusion", "cached")


def cache_path() -> Path:
    return Path(os.environ.get("RERANK_SCORE_CACHE") or paths.cache_dir() / "scores.sqlite")


def pair_key(query: str, text: str) -> str:
    return hashlib.sha256(f"{query}\x00{text}".encode("utf-8")).hexdigest()


class CachedScorer:
    def __init__(self, spec: str, scorer, cache: ResponseCache):
        self.spec, self.scorer, self.cache = spec, scorer, cache
        self.name = f"cached:{scorer.name}"
        self.hits = 0
        self.misses = 0

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        keys = [pair_key(query, c.text) for c in candidates]
        found = [self.cache.get(self.spec, k) for k in keys]
        missing = [i for i, v in enumerate(found) if v is None]
        self.hits += len(candidates) - len(missing)
        self.misses += len(missing)
        scores = [None if v is None else float(v) for v in found]
        if missing:
            fresh = self.scorer.score(query, [candidates[i] for i in missing])
            self.cache.put_many(self.spec, [(keys[i], repr(float(s))) for i, s in zip(missing, fresh)])
            for i, s in zip(missing, fresh):
                scores[i] = float(s)
        return scores


def make(arg: str | None, batch_size: int) -> CachedScorer:
    from training.evaluate.scorers import make_scorer

    if not arg:
        raise ValueError("cached needs a scorer: cached:SPEC, e.g. cached:llm-qlm")
    kind = arg.partition(":")[0]
    if kind in LIST_DEPENDENT:
        raise ValueError(f"cached:{kind} is not allowed: a {kind} score depends on the other candidates")
    # the scorer is built lazily: an all-hits rerun never loads the model
    return CachedScorer(arg, _Lazy(arg, batch_size, make_scorer), ResponseCache(cache_path()))


class _Lazy:
    def __init__(self, spec: str, batch_size: int, factory):
        self.spec, self.batch_size, self.factory, self._scorer = spec, batch_size, factory, None
        self.name = spec

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        if self._scorer is None:
            self._scorer = self.factory(self.spec, self.batch_size)
        return self._scorer.score(query, candidates)
