"""One interface for every ranker measured by ``rerank eval`` (and used as a pre-ranker).

A scorer maps a query and its candidates to one float per candidate (higher = more relevant).
``make_scorer("kind[:arg]")`` builds one from a SPEC string; implementations are imported lazily
so that ``bm25`` needs no torch.
"""

from __future__ import annotations

import importlib
from typing import Callable, Protocol, Sequence, runtime_checkable

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
    "llm-qlm": "training.evaluate.scorers.llm_qlm:make",
    "teacher": "training.evaluate.scorers.teacher:make",
    "student": "training.evaluate.scorers.student:make",
    "student-tcl": "training.evaluate.scorers.student:make_tcl",
    "onnx": "training.evaluate.scorers.onnx_runtime:make",
    "fusion": "training.evaluate.scorers.fusion:make",
    "cached": "training.evaluate.scorers.cached:make",
}


def parse_options(arg: str, known: dict[str, Callable[[str], object]], kind: str) -> tuple[str, dict]:
    """'HEAD?key=value&key=value' -> (HEAD, {key: parsed value}); each parser raises ValueError on
    a bad value. An unknown key or a bad value is a ValueError that names the known keys."""
    head, _, options = arg.partition("?")
    parsed: dict = {}
    for option in filter(None, options.split("&")):
        key, _, value = option.partition("=")
        try:
            if key not in known:
                raise ValueError("unknown option")
            parsed[key] = known[key](value)
        except ValueError:
            raise ValueError(f"{kind} option {option!r}: the options are "
                             f"{', '.join(f'{k}=...' for k in known)}") from None
    return head, parsed


def at_least(value: str, low: int) -> int:
    """An option's integer value, refused below ``low``."""
    n = int(value)
    if n < low:
        raise ValueError(f"{n} < {low}")
    return n


def make_scorer(spec: str, batch_size: int = 32) -> Scorer:
    kind, _, arg = spec.partition(":")
    if kind not in SCORERS:
        raise ValueError(f"unknown scorer {kind!r}; known: {', '.join(sorted(SCORERS))}")
    module, _, factory = SCORERS[kind].partition(":")
    return getattr(importlib.import_module(module), factory)(arg or None, batch_size)
