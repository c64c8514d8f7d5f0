"""Teachers: one interface (``base.Teacher``: ``score`` / ``rank``) over several LLM rankers.

``make_teacher(SPEC)``:
- ``dense:PATH``          the trained local LLM + dense head (``rerank teacher sft`` / ``rra-gpt``);
- ``zero-shot[:DIR]``     SmolLM2's zero-shot yes/no logit (the untrained baseline);
- ``openai:MODEL[@URL]``  a list-wise RankGPT teacher over an OpenAI-compatible chat API
                          (URL default: ``$OPENAI_BASE_URL``), e.g. ``rerank teacher serve``;
- ``scorer:SPEC``         any ``rerank eval`` scorer as a point-wise teacher (not an LLM: an interim
                          teacher while the LLM is weaker than the first stage, or the served student).
"""

from __future__ import annotations

import os

from training.teacher.base import Ranking, Teacher, TeacherInfo, ranking_from_scores

__all__ = ["Ranking", "Teacher", "TeacherInfo", "make_teacher", "ranking_from_scores"]

TEACHER_SPECS = "dense:PATH | zero-shot[:DIR] | openai:MODEL[@URL] | scorer:SPEC"


def make_teacher(spec: str, batch_size: int = 16, cache: str | None = None, max_concurrency: int = 4,
                 window: int = 20, step: int = 10, api_key: str | None = None, max_tokens: int = 256) -> Teacher:
    kind, _, arg = spec.partition(":")
    if kind == "dense":
        if not arg:
            raise ValueError("dense teacher needs a folder: dense:PATH")
        from training.teacher.dense import DenseTeacher

        return DenseTeacher(arg, batch_size=batch_size)
    if kind == "zero-shot":
        from training.teacher.zero_shot import ZeroShotTeacher

        return ZeroShotTeacher(arg or None, batch_size=min(batch_size, 16))
    if kind == "openai":
        from training.teacher.api import ListwiseAPITeacher
        from training.teacher.openai_client import ChatClient

        model, _, url = arg.partition("@")
        url = url or os.environ.get("OPENAI_BASE_URL", "")
        if not model or not url:
            raise ValueError("openai teacher needs a model and a base URL: openai:MODEL@http://host:port/v1")
        client = ChatClient(url, model, api_key=api_key, cache=cache, max_concurrency=max_concurrency,
                            max_tokens=max_tokens)
        return ListwiseAPITeacher(client, window=window, step=step)
    if kind == "scorer":
        if not arg:
            raise ValueError("scorer teacher needs a scorer SPEC: scorer:bi-encoder")
        from training.teacher.scorer_teacher import ScorerTeacher

        return ScorerTeacher(arg, batch_size=batch_size)
    raise ValueError(f"unknown teacher {spec!r}; expected {TEACHER_SPECS}")
