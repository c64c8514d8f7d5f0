"""The "hits" candidate format used by RankGPT / rank_llm and by this project.

One JSON object per query: ``{"query": str, "hits": [{"content", "qid", "docid", "rank", "score"}]}``.
Files are JSON Lines; a single JSON array of such objects (NovelEval's ``data.json``) is read too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator


@dataclass(frozen=True)
class Candidate:
    docid: str
    text: str
    rank: int
    score: float


@dataclass
class QueryCandidates:
    qid: str
    query: str
    candidates: list[Candidate] = field(default_factory=list)


def _from_obj(obj: dict, line_no: int) -> QueryCandidates:
    try:
        hits = obj["hits"]
        query = obj["query"]
    except KeyError as exc:
        raise ValueError(f"record {line_no}: missing key {exc}") from None
    qid = str(obj.get("qid", hits[0]["qid"] if hits else line_no))
    candidates = [
        Candidate(
            docid=str(h["docid"]),
            text=str(h.get("content", "")),
            rank=int(h.get("rank", i + 1)),
            score=float(h.get("score", 0.0)),
        )
        for i, h in enumerate(hits)
    ]
    return QueryCandidates(qid=qid, query=query, candidates=candidates)


def iter_hits(path: str | Path) -> Iterator[QueryCandidates]:
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        first = f.read(1)
        while first and first.isspace():
            first = f.read(1)
        f.seek(0)
        if first == "[":
            for i, obj in enumerate(json.load(f)):
                yield _from_obj(obj, i + 1)
            return
        for i, line in enumerate(f):
            if line.strip():
                yield _from_obj(json.loads(line), i + 1)


def read_hits(path: str | Path, limit_queries: int | None = None) -> list[QueryCandidates]:
    out: list[QueryCandidates] = []
    for qc in iter_hits(path):
        if limit_queries is not None and len(out) >= limit_queries:
            break
        out.append(qc)
    return out


def write_hits(path: str | Path, queries: Iterable[QueryCandidates]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for qc in queries:
            hits = [
                {"content": c.text, "qid": qc.qid, "docid": c.docid, "rank": c.rank, "score": c.score}
                for c in qc.candidates
            ]
            f.write(json.dumps({"qid": qc.qid, "query": qc.query, "hits": hits}, ensure_ascii=False) + "\n")
            n += 1
    return n
