"""Real teacher servers for the shadow-path tests, all over real HTTP (``serve_app``: uvicorn on a
free port):

* ``teacher_server_app()``: the project's own ``rerank teacher serve`` app
  (``training.teacher.server.create_app``) around ``OverlapTeacher``, a deterministic pure-Python
  point-wise teacher (query-word overlap), so it starts in milliseconds and its rankings are
  predictable. It answers RankGPT prompts on ``/v1/chat/completions`` and ``/v1/score``.
* ``omitting_chat_app()``: a small FastAPI app speaking the OpenAI chat-completions protocol
  that, like a real LLM, leaves the passages it finds irrelevant out of its permutation.
* ``Controlled``: an ASGI wrapper that fails the first N teacher calls with 503, or holds every
  call until the test opens a gate (a slow teacher), and counts what it saw.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Sequence

from training.teacher.base import Ranking, TeacherInfo, ranking_from_scores

_WORD = re.compile(r"[a-z0-9]+")
TEACHER_PATHS = ("/v1/chat/completions", "/v1/score")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def overlap_scores(query: str, docs: Sequence[str]) -> list[float]:
    q = words(query)
    # overlap count, ties broken towards shorter documents (deterministic, no exact ties in tests)
    return [len(q & words(d)) - 0.001 * len(d) for d in docs]


class OverlapTeacher:
    info = TeacherInfo(name="overlap-teacher", version="ov-1", kind="pointwise")

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        return overlap_scores(query, docs)

    def rank(self, query: str, docs: Sequence[str]) -> Ranking:
        return ranking_from_scores(self.score(query, docs))


def teacher_server_app():
    from training.teacher.server import create_app

    return create_app(OverlapTeacher(), model_name="overlap-teacher")


def omitting_chat_app():
    """RankGPT prompts -> a permutation of the passages sharing a word with the query, best first;
    the others are left out (a list-wise LLM's omissions = RRADistill's hard negatives)."""
    from fastapi import FastAPI

    from training.teacher.listwise import format_permutation, parse_prompt

    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        query, passages = parse_prompt(body["messages"])
        scores = overlap_scores(query, passages)
        keep = [i for i in sorted(range(len(passages)), key=lambda i: -scores[i]) if scores[i] >= 0.5]
        text = format_permutation(keep) if keep else "None of these passages is relevant."
        return {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    return app


class Controlled:
    """Wrap a teacher app: ``fail_first`` calls answer 503; with ``gated=True`` every call waits
    until ``open()``; ``delay_s`` slows every call. ``seen`` counts teacher calls that arrived,
    ``answered`` those let through."""

    def __init__(self, app, fail_first: int = 0, gated: bool = False, delay_s: float = 0.0):
        self.app, self.fail_first, self.delay_s = app, fail_first, delay_s
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.seen = 0
        self.answered = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        self.gate.set()

    def wait_seen(self, n: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.seen < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"teacher saw {self.seen} calls, waited for {n}")
            time.sleep(0.01)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in TEACHER_PATHS:
            return await self.app(scope, receive, send)
        with self._lock:
            self.seen += 1
            n = self.seen
        if n <= self.fail_first:
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"teacher overloaded"})
            return
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            self.answered += 1
        await self.app(scope, receive, send)
