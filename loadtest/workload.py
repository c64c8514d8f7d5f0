"""The requests the load test sends: real queries with real candidate passages.

Kept apart from ``locustfile.py`` (no locust import) so it can be tested in-process.
"""

from __future__ import annotations

import json
import os
import random
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path(os.environ.get("RERANK_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


@lru_cache(maxsize=4)
def load_pool(data_dir: str, source: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """(query, its candidate passages) pairs and the flat passage pool."""
    path = Path(data_dir) / "trec-dl" / "dl19_bm25_top100.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} (set --data-dir or RERANK_DATA_DIR)")
    dl19 = []
    with path.open() as f:
        for line in f:
            row = json.loads(line)
            dl19.append((row["query"], [hit["content"] for hit in row["hits"]]))
    passages = [p for _, hits in dl19 for p in hits]
    if source == "dl19":
        return dl19, passages
    topics = Path(data_dir) / "msmarco-dev" / "topics.msmarco-passage.dev-subset.txt"
    queries = [line.split("\t", 1)[1].strip() for line in topics.read_text().splitlines() if "\t" in line]
    return [(q, []) for q in queries], passages


def build_request(rng: random.Random, pool, passages, docs: int, top_n: int) -> dict:
    query, candidates = rng.choice(pool)
    documents = list(candidates[:docs])
    while len(documents) < docs:  # msmarco-dev queries, or more documents than DL19's 100
        documents.append(rng.choice(passages))
    body = {"query": query, "documents": documents}
    if top_n:
        body["top_n"] = top_n
    return body
