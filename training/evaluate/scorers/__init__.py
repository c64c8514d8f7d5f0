"""One interface for every ranker measured by ``rerank eval`` (and used as a pre-ranker).

A scorer maps a query and its candidates to one float per candidate (higher = more relevant).
``make_scorer("kind[:arg]")`` builds one from a SPEC string; implementations are imported lazily
so that ``bm25`` needs no torch.
"""

from __future__ import annotations

import importlib
from typing import Protocol, Sequence, runtime_checkable

from training.data.hits import Candidate


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        """One relevance score per candidate, in the candidates' order."""
        ...


# SPEC kind -> "module:factory"; each factory takes (arg: str | None, batch_size: int).
SCORERS: dict[str, str] = {
    "bm25": "training.evaluate.scorers.bm25:make",
    "bi-encoder": "training.evaluate.scorers.bi_encoder:make",
    "llm-pointwise": "training.evaluate.scorers.llm_pointwise:make",
    "teacher": "training.evaluate.scorers.teacher:make",
    "student": "training.evaluate.scorers.student:make",
    "student-tcl": "training.evaluate.scorers.student:make_tcl",
    "onnx": "training.evaluate.scorers.onnx_runtime:make",
    "fusion": "training.evaluate.scorers.fusion:make",
}


def make_scorer(spec: str, batch_size: int = 32) -> Scorer:
    kind, _, arg = spec.partition(":")
    if kind not in SCORERS:
        raise ValueError(f"unknown scorer {kind!r}; known: {', '.join(sorted(SCORERS))}")
    module, _, factory = SCORERS[kind].partition(":")
    return getattr(importlib.import_module(module), factory)(arg or None, batch_size)
