"""The one teacher interface: score or rank one query's candidate documents.

- ``score(query, docs)``: one float per document, higher = more relevant (point-wise teachers;
  a list-wise teacher may raise ``NotImplementedError``).
- ``rank(query, docs)``: a ``Ranking``: ``order`` is a permutation of ``range(len(docs))``,
  best first; ``omitted`` the documents the teacher itself left out of its answer (a list-wise
  LLM that skips ids; RRADistill labels those hard negatives). Point-wise teachers omit nothing.

``info`` names the teacher in every label it produces (name, version, kind).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class TeacherInfo:
    name: str
    version: str
    kind: str  # "pointwise" | "listwise"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Ranking:
    order: list[int]
    omitted: list[int] = field(default_factory=list)

    def rank_of(self) -> dict[int, int]:
        """Document index -> 1-based rank (only the documents the teacher ranked itself)."""
        omitted = set(self.omitted)
        kept = [i for i in self.order if i not in omitted]
        return {doc: r + 1 for r, doc in enumerate(kept)}


@runtime_checkable
class Teacher(Protocol):
    info: TeacherInfo

    def score(self, query: str, docs: Sequence[str]) -> list[float]: ...

    def rank(self, query: str, docs: Sequence[str]) -> Ranking: ...


def ranking_from_scores(scores: Sequence[float]) -> Ranking:
    """Sort by score, best first; ties keep the input order (stable)."""
    return Ranking(order=sorted(range(len(scores)), key=lambda i: -scores[i]))
