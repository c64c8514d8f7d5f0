"""The first stage's own order: score = -rank, so no ties and exactly the candidate file's ranking."""

from __future__ import annotations

from typing import Sequence

from training.data.hits import Candidate


class CandidateOrderScorer:
    name = "bm25"

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        return [-float(c.rank) for c in candidates]


def make(arg: str | None, batch_size: int) -> CandidateOrderScorer:
    return CandidateOrderScorer()
