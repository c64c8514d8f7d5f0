"""Synthetic training queries (InPars-style): the teacher LLM writes a query for a corpus passage,
then BM25 retrieves that query's candidates from the whole corpus, giving a hits file that
``rerank label --candidates`` labels like any other.

The few-shot examples come from the dataset's *train* judgments (query, relevant document).
Generated queries that are empty, too long, or equal to an evaluation query are dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from training.data.beir import BeirDataset

INSTRUCTION = "Write a short search query that the document answers. Reply with the query only."


@dataclass
class SynthConfig:
    num: int = 100
    shots: int = 3
    max_doc_words: int = 80
    max_new_tokens: int = 32
    max_query_words: int = 24
    top_k: int = 100
    seed: int = 0


def few_shot_examples(ds: BeirDataset, shots: int, rng: random.Random, max_words: int) -> list[tuple[str, str]]:
    train = ds.qrels.get("train", {})
    pairs = [(ds.queries[q], ds.corpus[d]) for q in sorted(train) if q in ds.queries
             for d, g in sorted(train[q].items()) if g > 0 and d in ds.corpus]
    rng.shuffle(pairs)
    return [(q, _clip(d, max_words)) for q, d in pairs[:shots]]


def _clip(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def messages_for(doc: str, examples: list[tuple[str, str]]) -> list[dict]:
    msgs = [{"role": "system", "content": INSTRUCTION}]
    for q, d in examples:
        msgs += [{"role": "user", "content": f"Document: {d}"}, {"role": "assistant", "content": q}]
    return msgs + [{"role": "user", "content": f"Document: {doc}"}]


def clean_query(text: str, max_words: int) -> str | None:
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    for prefix in ("query:", "search query:", "relevant query:"):
        if line.lower().startswith(prefix):
            line = line[len(prefix):].strip()
    line = line.strip().strip('"').strip()
    if len(line) < 3 or len(line.split()) > max_words:
        return None
    return line


def generate_queries(ds: BeirDataset, generate, cfg: SynthConfig, progress: bool = True) -> dict[str, tuple[str, str]]:
    """``generate(messages) -> text``. Returns synthetic qid -> (query, source docid)."""
    from tqdm import tqdm

    from training.data.leakage import forbidden_queries, normalise

    rng = random.Random(cfg.seed)
    examples = few_shot_examples(ds, cfg.shots, rng, cfg.max_doc_words)
    docids = sorted(ds.corpus)
    picked = rng.sample(docids, min(cfg.num, len(docids)))
    bad = forbidden_queries()
    out: dict[str, tuple[str, str]] = {}
    for i, docid in enumerate(tqdm(picked, desc="synthetic queries", unit="doc", disable=not progress)):
        query = clean_query(generate(messages_for(_clip(ds.corpus[docid], cfg.max_doc_words), examples)),
                            cfg.max_query_words)
        if query and normalise(query) not in bad:
            out[f"synth-{ds.name}-{i}"] = (query, docid)
    return out


def write_synthetic_hits(ds: BeirDataset, queries: dict[str, tuple[str, str]], out: str | Path, top_k: int) -> int:
    """BM25 candidates of the synthetic queries over the whole corpus, in the hits format."""
    from training.data.bm25 import bm25_retrieve
    from training.data.hits import write_hits

    if not queries:
        raise ValueError("no usable synthetic query was generated")
    return write_hits(out, bm25_retrieve(ds.corpus, {q: t for q, (t, _) in queries.items()}, top_k=top_k))
