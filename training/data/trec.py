"""TREC qrels (``qid 0 docid grade``) and topics (``qid<TAB>query``)."""

from __future__ import annotations

import gzip
from pathlib import Path

Qrels = dict[str, dict[str, int]]


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels (4 columns) or BEIR qrels TSV (``query-id corpus-id score`` with a header)."""
    qrels: Qrels = {}
    with _open_text(Path(path)) as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 4:
                qid, _, docid, grade = parts
            elif len(parts) == 3:
                qid, docid, grade = parts
            else:
                raise ValueError(f"{path}:{line_no}: expected 3 or 4 columns, got {len(parts)}")
            try:
                g = int(float(grade))
            except ValueError:
                if line_no == 1:  # BEIR header "query-id corpus-id score"
                    continue
                raise ValueError(f"{path}:{line_no}: grade {grade!r} is not a number") from None
            qrels.setdefault(qid, {})[docid] = g
    return qrels


def read_topics(path: str | Path) -> dict[str, str]:
    topics: dict[str, str] = {}
    with _open_text(Path(path)) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip():
                qid, _, query = line.partition("\t")
                topics[qid] = query
    return topics


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for qid, docs in qrels.items():
            for docid, grade in docs.items():
                f.write(f"{qid} 0 {docid} {grade}\n")
