"""Score fusion: a weighted sum of other scorers' per-query z-normalised scores.

``fusion:SPEC[@W],SPEC[@W],...`` (weights default to 1). Z-normalising each scorer over the
query's candidates first puts a cosine, a logit and a negated rank on one scale, so the weights
say how much each scorer counts. The use here: a first stage plus a dense model as a cheap
ensemble teacher, which is often better than either alone (and than what a student of one of
them can learn).
"""

from __future__ import annotations

import statistics
from typing import Sequence

from training.data.hits import Candidate


def parse_fusion_spec(arg: str) -> list[tuple[str, float]]:
    """'bm25@0.3,bi-encoder@0.7' -> [('bm25', 0.3), ('bi-encoder', 0.7)]."""
    parts = []
    for item in (arg or "").split(","):
        item = item.strip()
        if not item:
            continue
        spec, sep, weight = item.rpartition("@")
        if not sep:
            spec, weight = item, "1"
        try:
            w = float(weight)
        except ValueError:
            raise ValueError(f"fusion weight must be a number, got {weight!r} in {item!r}") from None
        parts.append((spec, w))
    if len(parts) < 2:
        raise ValueError(f"fusion needs at least two scorers, e.g. fusion:bm25@0.3,bi-encoder@0.7; got {arg!r}")
    return parts


def znorm(scores: Sequence[float]) -> list[float]:
    if len(scores) < 2:
        return [0.0 for _ in scores]
    mean, sd = statistics.fmean(scores), statistics.pstdev(scores)
    return [(s - mean) / sd if sd > 0 else 0.0 for s in scores]


class FusionScorer:
    def __init__(self, parts: list[tuple[object, float]], name: str):
        self.parts, self.name = parts, name

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        total = [0.0] * len(candidates)
        for scorer, weight in self.parts:
            for i, z in enumerate(znorm(scorer.score(query, candidates))):
                total[i] += weight * z
        return total


def make(arg: str | None, batch_size: int) -> FusionScorer:
    from training.evaluate.scorers import make_scorer

    parts = parse_fusion_spec(arg or "")
    return FusionScorer([(make_scorer(spec, batch_size), w) for spec, w in parts], name=f"fusion:{arg}")
