"""Teacher training data from real *train* judgments only.

Sources (never DL19, never a test split, never NovelEval):
- ``nfcorpus``, ``scifact``: BEIR train qrels; positives = judged grade > 0; hard negatives = BM25
  train candidates not judged relevant; random negatives = any corpus document not judged relevant.
- ``msmarco``: the tiny MS MARCO samples (SPLADE toy triplets, FlagEmbedding hard negatives).

Example ``i`` is a pure function of (seed, i): sources take turns (``mix="balanced"``) or are
drawn in proportion to their query counts, and a query's positive and negatives come from a
generator seeded with (seed, i). A resumed run therefore sees exactly the examples it would have.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from training import paths

SOURCES = ("nfcorpus", "scifact", "msmarco")
FORBIDDEN_SPLITS = ("test",)


@dataclass
class TrainQuery:
    source: str
    qid: str
    query: str
    positives: list[tuple[str, int]]            # (text, grade > 0)
    hard_negatives: list[str] = field(default_factory=list)
    judged: set[str] = field(default_factory=set)  # texts judged relevant (kept out of random negatives)


@dataclass
class Group:
    """One query with one positive first, then negatives: ``labels`` are grades (0 = negative)."""

    source: str
    qid: str
    query: str
    docs: list[str]
    labels: list[float]


@dataclass
class SourcePool:
    name: str
    queries: list[TrainQuery]
    corpus: list[str]        # random negatives are drawn from here


def _beir_pool(name: str, max_queries: int | None, hard_depth: int = 100) -> SourcePool:
    from training.data import read_hits, read_qrels
    from training.data.beir import load_beir
    from training.data.datasets import beir_source, ensure_candidates, eval_sets

    ds = load_beir(beir_source(name), name=name)
    qrels = ds.qrels["train"]
    # a query id or text that is also judged in a test split never trains
    test_qids = {q for split in FORBIDDEN_SPLITS for q in ds.qrels.get(split, {})}
    test_texts = {ds.queries[q].strip().lower() for q in test_qids if q in ds.queries}
    es = ensure_candidates(eval_sets()[f"{name}-train"])
    bm25 = {qc.qid: qc for qc in read_hits(es.candidates)}
    queries = []
    for qid in sorted(qrels):
        if qid not in ds.queries or qid in test_qids or ds.queries[qid].strip().lower() in test_texts:
            continue
        judged = qrels[qid]
        pos = [(ds.corpus[d], g) for d, g in sorted(judged.items()) if g > 0 and d in ds.corpus]
        if not pos:
            continue
        hard = [c.text for c in bm25[qid].candidates[:hard_depth] if judged.get(c.docid, 0) <= 0] if qid in bm25 else []
        queries.append(TrainQuery(name, qid, ds.queries[qid], pos, hard, {t for t, _ in pos}))
    return SourcePool(name, queries[:max_queries] if max_queries else queries, list(ds.corpus.values()))


def _msmarco_pool(max_queries: int | None) -> SourcePool:
    root = paths.data_dir() / "msmarco-train-samples"
    queries: list[TrainQuery] = []
    with (root / "flagemb_msmarco.jsonl").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            pos = [(p, 1) for p in row["pos"]]
            queries.append(TrainQuery("msmarco", f"flagemb-{i}", row["query"], pos, list(row["neg"]), set(row["pos"])))
    with (root / "splade_toy_triplets.tsv").open(encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if len(row) == 3:
                queries.append(TrainQuery("msmarco", f"splade-{i}", row[0], [(row[1], 1)], [row[2]], {row[1]}))
    corpus = sorted({t for q in queries for t, _ in q.positives} | {t for q in queries for t in q.hard_negatives})
    return SourcePool("msmarco", queries[:max_queries] if max_queries else queries, corpus)


def load_pools(sources: Sequence[str] = SOURCES, max_queries: int | None = None) -> list[SourcePool]:
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown training sources {unknown}; known: {', '.join(SOURCES)}")
    pools = [_msmarco_pool(max_queries) if s == "msmarco" else _beir_pool(s, max_queries) for s in sources]
    return [p for p in pools if p.queries]


class GroupSampler:
    """Deterministic example ``i`` -> Group (1 positive + ``num_hard`` hard + ``num_random`` random)."""

    def __init__(self, pools: list[SourcePool], seed: int = 0, num_hard: int = 2, num_random: int = 1,
                 mix: str = "balanced"):
        if not pools:
            raise ValueError("no training queries: check the sources")
        self.pools, self.seed, self.num_hard, self.num_random, self.mix = pools, seed, num_hard, num_random, mix
        sizes = np.array([len(p.queries) for p in pools], dtype=float)
        self.weights = sizes / sizes.sum()

    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, i])

    def pick_query(self, i: int) -> TrainQuery:
        if self.mix == "balanced":
            # sources take turns; each walks through its own seeded permutation, epoch after epoch
            pool = self.pools[i % len(self.pools)]
            epoch, k = divmod(i // len(self.pools), len(pool.queries))
            perm = np.random.default_rng([self.seed, epoch, len(pool.queries)]).permutation(len(pool.queries))
            return pool.queries[int(perm[k])]
        rng = np.random.default_rng([self.seed, i, 1])
        pool = self.pools[int(rng.choice(len(self.pools), p=self.weights))]
        return pool.queries[int(rng.integers(len(pool.queries)))]

    def group(self, i: int) -> Group:
        q = self.pick_query(i)
        rng = self._rng(i)
        pool = next(p for p in self.pools if p.name == q.source)
        text, grade = q.positives[int(rng.integers(len(q.positives)))]
        hard = list(q.hard_negatives)
        negs = [hard[j] for j in rng.permutation(len(hard))[: self.num_hard]]
        # fill with random documents: the ones missing from the hard set plus num_random
        want = self.num_hard + self.num_random - len(negs)
        tries = 0
        while want > 0 and tries < 50:
            cand = pool.corpus[int(rng.integers(len(pool.corpus)))]
            tries += 1
            if cand not in q.judged and cand != text and cand not in negs:
                negs.append(cand)
                want -= 1
        return Group(q.source, q.qid, q.query, [text, *negs], [float(grade)] + [0.0] * len(negs))

    def positive_pair(self, i: int) -> tuple[str, str]:
        """(query, relevant document) for continued pre-training."""
        q = self.pick_query(i)
        text, _ = q.positives[int(self._rng(i).integers(len(q.positives)))]
        return q.query, text


def assert_train_only(pools: list[SourcePool]) -> None:
    """Guard: no evaluation query (DL19, NovelEval, BEIR test) may reach training."""
    from training.data.leakage import assert_not_evaluation

    assert_not_evaluation((q.query for p in pools for q in p.queries), "teacher training")
