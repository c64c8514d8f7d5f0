"""A list-wise teacher behind any OpenAI-compatible chat API (RankGPT permutation prompts).

An answer from which no identifier can be read is a *parse failure*: the window keeps its input
order and nothing in it is marked omitted (a failed answer says nothing about the passages).
"""

from __future__ import annotations

import threading
from typing import Sequence

from training.teacher.base import Ranking, TeacherInfo
from training.teacher.listwise import Parsed, build_messages, parse_permutation, sliding_window_rank
from training.teacher.openai_client import ChatClient

PROMPT_VERSION = "rankgpt-v1"


class ListwiseAPITeacher:
    def __init__(self, client: ChatClient, window: int = 20, step: int = 10, max_words: int = 300):
        self.client, self.window, self.step, self.max_words = client, window, step, max_words
        self.info = TeacherInfo(name=f"openai:{client.model}", version=PROMPT_VERSION, kind="listwise")
        self.parse_failures = 0
        self.windows_ranked = 0
        self._lock = threading.Lock()

    def _rank_window(self, query: str, docs: Sequence[str], ids: list[int]) -> Parsed:
        answer = self.client.chat(build_messages(query, [docs[i] for i in ids], self.max_words))
        parsed = parse_permutation(answer, len(ids))
        with self._lock:
            self.windows_ranked += 1
            if not parsed.ranked:
                self.parse_failures += 1
        return parsed if parsed.ranked else Parsed(list(range(len(ids))), [])

    def rank(self, query: str, docs: Sequence[str]) -> Ranking:
        order, omitted = sliding_window_rank(len(docs), lambda ids: self._rank_window(query, docs, ids),
                                             self.window, self.step)
        return Ranking(order=order, omitted=sorted(omitted))

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        raise NotImplementedError("a list-wise API teacher ranks; pair it with a point-wise teacher for scores")

    def stats(self) -> dict:
        return {**self.client.counters.as_dict(), "windows": self.windows_ranked, "parse_failures": self.parse_failures}
