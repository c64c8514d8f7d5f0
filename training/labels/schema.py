"""The teacher-label format (RRADistill): JSON Lines, one query a line.

    {"qid", "query",
     "candidates": [{"docid", "text", "teacher_score", "teacher_rank", "hard_negative",
                     "pre_score", "pre_rank"}],
     "teacher": {"name", "version", "kind"},
     "pre_ranker": {"spec", "top_k", "bottom_k", "pool"},
     "source"}

- ``teacher_score``: the teacher's point-wise score (float) or null when no point-wise teacher ran;
- ``teacher_rank``: 1-based position in the teacher's ranking, or null for a document the
  list-wise teacher left out of its answer: those are ``hard_negative`` (RRADistill);
- ``pre_score`` / ``pre_rank``: the pre-ranker's score and 1-based rank among the pool;
- candidates are stored in the teacher's order (ranked ones first, then the left-out ones).

Written by ``rerank label`` and by the service's relabel export; read by the student trainer.
Writers append one line per query with fsync; readers skip a torn last line (an interrupted
writer), and ``LabelWriter`` cuts it off before appending.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator


@dataclass
class LabeledCandidate:
    docid: str
    text: str
    teacher_score: float | None = None
    teacher_rank: int | None = None
    hard_negative: bool = False
    pre_score: float | None = None
    pre_rank: int | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "LabeledCandidate":
        return cls(
            docid=str(d["docid"]), text=str(d.get("text", "")),
            teacher_score=None if d.get("teacher_score") is None else float(d["teacher_score"]),
            teacher_rank=None if d.get("teacher_rank") is None else int(d["teacher_rank"]),
            hard_negative=bool(d.get("hard_negative", False)),
            pre_score=None if d.get("pre_score") is None else float(d["pre_score"]),
            pre_rank=None if d.get("pre_rank") is None else int(d["pre_rank"]),
        )


@dataclass
class LabeledQuery:
    qid: str
    query: str
    candidates: list[LabeledCandidate]
    teacher: dict = field(default_factory=dict)      # {name, version, kind}
    pre_ranker: dict = field(default_factory=dict)   # {spec, top_k, bottom_k, pool}
    source: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LabeledQuery":
        return cls(
            qid=str(d["qid"]), query=str(d["query"]),
            candidates=[LabeledCandidate.from_dict(c) for c in d.get("candidates", [])],
            teacher=dict(d.get("teacher") or {}), pre_ranker=dict(d.get("pre_ranker") or {}),
            source=d.get("source"),
        )


def iter_labels(path: str | Path) -> Iterator[LabeledQuery]:
    """Every complete record; a torn last line (an interrupted writer) is skipped with a warning.
    ``.gz`` files are read transparently (committed label sets are stored compressed)."""
    path = Path(path)
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as f:
        lines = f.read().split(b"\n")
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            if i == len(lines) - 1:   # no newline after it: a write that never finished
                print(f"{path}: skipping an incomplete last line", file=sys.stderr)
                continue
            raise ValueError(f"{path}:{i + 1}: not JSON") from None
        yield LabeledQuery.from_dict(obj)


def read_labels(path: str | Path) -> list[LabeledQuery]:
    return list(iter_labels(path))


def done_qids(path: str | Path) -> set[str]:
    path = Path(path)
    return {q.qid for q in iter_labels(path)} if path.exists() else set()


class LabelWriter:
    """Append-only writer: one line per query, flushed and fsynced before ``write`` returns."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, record: LabeledQuery) -> None:
        self._f.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "LabelWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_labels(path: str | Path, records: Iterable[LabeledQuery]) -> int:
    """Write a whole file (replacing it)."""
    path = Path(path)
    if path.exists():
        path.unlink()
    n = 0
    with LabelWriter(path) as w:
        for r in records:
            w.write(r)
            n += 1
    return n


def _cut_torn_tail(path: Path) -> None:
    """Drop bytes after the last newline (a record whose write was interrupted)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        f.truncate(data.rfind(b"\n") + 1)
