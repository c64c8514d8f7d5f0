"""The untrained baseline as a teacher: SmolLM2's zero-shot yes/no logit (``llm-pointwise``)."""

from __future__ import annotations

import threading
from typing import Sequence

from training.data.hits import Candidate
from training.teacher.base import Ranking, TeacherInfo, ranking_from_scores


class ZeroShotTeacher:
    def __init__(self, model_dir: str | None = None, batch_size: int = 8):
        from training.evaluate.scorers.llm_pointwise import LLMPointwiseScorer

        self.scorer = LLMPointwiseScorer(model_dir, batch_size=batch_size)
        self.tokenizer = self.scorer.tokenizer
        self.info = TeacherInfo(name="zero-shot", version=f"yes-no:{model_dir or 'SmolLM2-135M-Instruct'}",
                                kind="pointwise")
        self._lock = threading.Lock()
        self.calls = 0
        self.pairs = 0

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        cands = [Candidate(docid=str(i), text=d, rank=i + 1, score=0.0) for i, d in enumerate(docs)]
        with self._lock:
            self.calls += 1
            self.pairs += len(cands)
            return self.scorer.score(query, cands)

    def stats(self) -> dict:
        return {"score_calls": self.calls, "pairs_scored": self.pairs}

    def rank(self, query: str, docs: Sequence[str]) -> Ranking:
        return ranking_from_scores(self.score(query, docs))

    def generate(self, messages: list[dict], max_new_tokens: int = 128, temperature: float = 0.0):
        from training.teacher.dense import generate_chat

        return generate_chat(self.scorer.model, self.tokenizer, messages, max_new_tokens, temperature, self._lock)
