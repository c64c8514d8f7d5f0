"""The LLM teacher as the service sees it: ``await judge(query, docs) -> TeacherAnswer``.

``make_service_teacher(settings)`` reads the ``teacher`` setting:

- ``openai:MODEL@URL``: list-wise RankGPT prompts over any OpenAI-compatible chat API (vLLM,
  ``rerank teacher serve``, a hosted model). Reuses the project's torch-free pieces:
  ``training.teacher.openai_client.ChatClient`` (HTTP) and ``training.teacher.listwise`` (prompt,
  parser, sliding window). Unlike the offline labeler, an answer with no readable identifier is an
  error here (retried, then the record is ``failed``), never silently the input order.
  Ranking only: ``scores`` is None.
- ``score:URL``: the project's teacher server's point-wise ``POST /v1/score`` (``rerank teacher
  serve``): scores for every document, ranking = scores sorted.
- ``dense:PATH`` / ``zero-shot[:DIR]``: the local teacher in this process via
  ``training.teacher.make_teacher``. Only this option imports torch (lazily, at startup).

Retries are not done here: ``service.shadow.pipeline`` retries any teacher error a bounded
number of times (the chat client itself is built with ``max_retries=0``).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence


class TeacherError(RuntimeError):
    pass


@dataclass
class TeacherAnswer:
    order: list[int]                      # every document index, best first
    omitted: list[int] = field(default_factory=list)  # left out by a list-wise teacher (hard negatives)
    scores: list[float] | None = None     # point-wise teachers only

    def validate(self, n: int) -> "TeacherAnswer":
        if sorted(self.order) != list(range(n)) or not set(self.omitted) <= set(self.order):
            raise TeacherError(f"teacher answer is not a permutation of {n} documents")
        if self.scores is not None and len(self.scores) != n:
            raise TeacherError(f"teacher gave {len(self.scores)} scores for {n} documents")
        return self

    def ranks(self) -> dict[int, int]:
        """Document index -> 1-based rank among the documents the teacher ranked itself."""
        left_out = set(self.omitted)
        return {d: r for r, d in enumerate((d for d in self.order if d not in left_out), 1)}


class ServiceTeacher:
    info: dict  # {name, version, kind}

    async def start(self) -> None:
        pass

    async def judge(self, query: str, docs: Sequence[str]) -> TeacherAnswer:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class _ThreadedTeacher(ServiceTeacher):
    """Runs a blocking teacher call on its own small thread pool, off the event loop."""

    def __init__(self, threads: int):
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="teacher")

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ListwiseChatTeacher(_ThreadedTeacher):
    def __init__(self, base_url: str, model: str, *, api_key: str | None, timeout_s: float, window: int,
                 step: int, max_tokens: int, threads: int, max_words: int = 300):
        from training.teacher.api import PROMPT_VERSION
        from training.teacher.openai_client import ChatClient

        super().__init__(threads)
        self.client = ChatClient(base_url, model, api_key=api_key, max_concurrency=threads, max_retries=0,
                                 timeout_s=timeout_s, max_tokens=max_tokens)
        self.window, self.step, self.max_words = window, step, max_words
        self.info = {"name": f"openai:{model}", "version": PROMPT_VERSION, "kind": "listwise"}

    def _rank(self, query: str, docs: Sequence[str]) -> TeacherAnswer:
        from training.teacher.listwise import build_messages, parse_permutation, sliding_window_rank

        def rank_window(ids: list[int]):
            answer = self.client.chat(build_messages(query, [docs[i] for i in ids], self.max_words))
            parsed = parse_permutation(answer, len(ids))
            if not parsed.ranked:
                raise TeacherError(f"no passage identifier in the teacher's answer: {answer[:200]!r}")
            return parsed

        order, omitted = sliding_window_rank(len(docs), rank_window, self.window, self.step)
        return TeacherAnswer(order=order, omitted=sorted(omitted))

    async def judge(self, query: str, docs: Sequence[str]) -> TeacherAnswer:
        return (await self._run(self._rank, query, list(docs))).validate(len(docs))

    async def close(self) -> None:
        await super().close()
        self.client.close()


class ScoreEndpointTeacher(ServiceTeacher):
    """``POST {url}/v1/score`` of ``rerank teacher serve`` (async httpx; cancellable)."""

    def __init__(self, base_url: str, *, api_key: str | None, timeout_s: float):
        import httpx

        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(timeout=timeout_s, headers=headers)
        self.info = {"name": f"score:{self.base_url}", "version": "unknown", "kind": "pointwise"}
        self._named = False

    async def _name(self) -> None:
        # the project's server says which teacher it runs on /health
        try:
            r = await self._http.get(self.base_url + "/health")
            teacher = r.json().get("teacher") if r.status_code == 200 else None
            if isinstance(teacher, dict) and teacher.get("name"):
                self.info = {"name": str(teacher["name"]), "version": str(teacher.get("version", "unknown")),
                             "kind": str(teacher.get("kind", "pointwise"))}
        except Exception:
            pass
        self._named = True

    async def judge(self, query: str, docs: Sequence[str]) -> TeacherAnswer:
        import httpx

        if not self._named:
            await self._name()
        try:
            r = await self._http.post(self.base_url + "/v1/score", json={"query": query, "documents": list(docs)})
        except httpx.HTTPError as exc:
            raise TeacherError(f"{type(exc).__name__}: {exc}") from None
        if r.status_code != 200:
            raise TeacherError(f"HTTP {r.status_code}: {r.text[:200]}")
        try:
            scores = [float(s) for s in r.json()["scores"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise TeacherError(f"malformed /v1/score answer: {r.text[:200]}") from exc
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return TeacherAnswer(order=order, scores=scores).validate(len(docs))

    async def close(self) -> None:
        await self._http.aclose()


class InProcessTeacher(_ThreadedTeacher):
    """A point-wise teacher of ``training.teacher`` loaded into this process (imports torch)."""

    def __init__(self, spec: str, threads: int = 1):
        super().__init__(threads)
        self.spec = spec
        self.teacher = None
        self.info = {"name": spec, "version": "unknown", "kind": "pointwise"}

    def _load(self):
        from training.teacher import make_teacher

        return make_teacher(self.spec)

    async def start(self) -> None:
        self.teacher = await self._run(self._load)
        self.info = self.teacher.info.as_dict()

    async def judge(self, query: str, docs: Sequence[str]) -> TeacherAnswer:
        if self.teacher is None:
            raise TeacherError(f"teacher {self.spec} is not loaded")
        scores = [float(s) for s in await self._run(self.teacher.score, query, list(docs))]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return TeacherAnswer(order=order, scores=scores).validate(len(docs))


def make_service_teacher(settings) -> ServiceTeacher:
    spec = settings.teacher or ""
    kind, _, arg = spec.partition(":")
    key = settings.teacher_api_key.get_secret_value() if settings.teacher_api_key else None
    threads = settings.shadow_workers + 1  # the workers plus POST /teacher/rerank
    if kind == "openai":
        model, _, url = arg.partition("@")
        url = url or os.environ.get("OPENAI_BASE_URL", "")
        if not model or not url:
            raise ValueError("teacher openai:MODEL@URL needs a model and a base URL")
        return ListwiseChatTeacher(url, model, api_key=key, timeout_s=settings.teacher_timeout_s,
                                   window=settings.teacher_window, step=settings.teacher_step,
                                   max_tokens=settings.teacher_max_tokens, threads=threads)
    if kind == "score":
        if not arg:
            raise ValueError("teacher score:URL needs the teacher server's URL")
        return ScoreEndpointTeacher(arg, api_key=key, timeout_s=settings.teacher_timeout_s)
    if kind in ("dense", "zero-shot"):
        return InProcessTeacher(spec)
    raise ValueError(f"unknown teacher {spec!r}; expected openai:MODEL@URL | score:URL | dense:PATH | zero-shot[:DIR]")
