"""Evaluation queries that must never train anything: DL19, NovelEval and the BEIR test splits.

Compared as normalised text (lower case, single spaces), because the same question can carry
another id in another file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from training import paths


def normalise(query: str) -> str:
    return " ".join(query.lower().split())


@lru_cache(maxsize=1)
def forbidden_queries() -> frozenset[str]:
    from training.data import read_hits
    from training.data.beir import load_beir
    from training.data.datasets import BEIR_SOURCES, beir_source

    texts: set[str] = set()
    d = paths.data_dir()
    for path in (d / "trec-dl" / "dl19_bm25_top100.jsonl", d / "noveleval" / "data.json"):
        if path.exists():
            texts |= {normalise(qc.query) for qc in read_hits(path)}
    for name in BEIR_SOURCES:
        src = beir_source(name)
        if src.exists():
            ds = load_beir(src, name=name)
            texts |= {normalise(ds.queries[q]) for q in ds.qrels.get("test", {}) if q in ds.queries}
    return frozenset(texts)


def assert_not_evaluation(queries: Iterable[str], what: str = "training") -> None:
    """Raise if any query is an evaluation query."""
    bad = forbidden_queries()
    leaked = [q for q in queries if normalise(q) in bad]
    if leaked:
        raise ValueError(f"{len(leaked)} {what} queries are evaluation queries (DL19/test/NovelEval), "
                         f"e.g. {leaked[0]!r}")


def drop_evaluation(queries: list, text=lambda q: q.query) -> tuple[list, int]:
    """Keep the queries that are not evaluation queries; returns (kept, number dropped).

    For the named train splits: BEIR reuses some query texts across splits (NFCorpus has a train
    query worded exactly like a test query), and those must go quietly rather than stop the run.
    """
    bad = forbidden_queries()
    kept = [q for q in queries if normalise(text(q)) not in bad]
    return kept, len(queries) - len(kept)
