"""Any registered scorer (``rerank eval --scorer`` SPEC) used as a point-wise teacher.

Why: the label pipeline and the student trainer must run end to end even before the local LLM
teacher is better than the first stage. ``scorer:bi-encoder`` makes all-MiniLM-L6-v2 the interim
teacher; ``scorer:onnx:PATH`` lets the served student label data for the next one. Labels made
this way name the scorer in ``teacher.name`` so nobody mistakes them for LLM labels.
"""

from __future__ import annotations

from typing import Sequence

from training.data.hits import Candidate
from training.evaluate.scorers import make_scorer
from training.teacher.base import Ranking, TeacherInfo, ranking_from_scores


class ScorerTeacher:
    def __init__(self, spec: str, batch_size: int = 32):
        self.scorer = make_scorer(spec, batch_size=batch_size)
        self.info = TeacherInfo(name=f"scorer:{spec}", version="1", kind="pointwise")

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        # rank = input position, so the candidate-order scorer ("bm25") keeps the order it was given
        cands = [Candidate(docid=str(i), text=d, rank=i + 1, score=0.0) for i, d in enumerate(docs)]
        return [float(s) for s in self.scorer.score(query, cands)]

    def rank(self, query: str, docs: Sequence[str]) -> Ranking:
        return ranking_from_scores(self.score(query, docs))
