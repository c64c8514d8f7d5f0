"""First-stage retrieval for BEIR with bm25s: full-corpus BM25 top-k written in the hits format."""

from __future__ import annotations

from pathlib import Path

from training.data.beir import BeirDataset
from training.data.hits import Candidate, QueryCandidates, write_hits


def bm25_retrieve(
    corpus: dict[str, str], queries: dict[str, str], top_k: int = 100, stem: bool = True
) -> list[QueryCandidates]:
    """BM25 (bm25s, Lucene variant, English stopwords, optional Snowball stemming) top-k over
    ``corpus`` (docid -> text) for every query (qid -> text), in the queries' order."""
    import bm25s

    stemmer = None
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    doc_ids = list(corpus)
    corpus_tokens = bm25s.tokenize([corpus[d] for d in doc_ids], stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)

    qids = list(queries)
    query_tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
    k = min(top_k, len(doc_ids))
    results, scores = retriever.retrieve(query_tokens, k=k, show_progress=False)
    out = []
    for qi, qid in enumerate(qids):
        cands = [
            Candidate(docid=doc_ids[int(idx)], text=corpus[doc_ids[int(idx)]], rank=r + 1, score=float(s))
            for r, (idx, s) in enumerate(zip(results[qi], scores[qi]))
        ]
        out.append(QueryCandidates(qid=qid, query=queries[qid], candidates=cands))
    return out


def bm25_candidates(
    dataset: BeirDataset, split: str, top_k: int = 100, stem: bool = True
) -> list[QueryCandidates]:
    """BM25 over the whole corpus for every query judged in ``split``."""
    judged = {q: dataset.queries[q] for q in dataset.qrels[split] if q in dataset.queries}
    return bm25_retrieve(dataset.corpus, judged, top_k=top_k, stem=stem)


def build_bm25_file(dataset: BeirDataset, split: str, out: str | Path, top_k: int = 100) -> Path:
    out = Path(out)
    write_hits(out, bm25_candidates(dataset, split, top_k=top_k))
    return out


def pool_candidates(
    queries: dict[str, str], pool_files: list[str | Path], top_k: int = 50, limit_queries: int | None = None
) -> tuple[list[QueryCandidates], int]:
    """BM25 top-k for free-standing queries over a passage pool: every passage in ``pool_files``
    (hits JSONL), deduplicated by docid. The way real web queries without passage text (MS MARCO
    dev) meet web passages here. Evaluation queries are dropped. Queries are kept best-covered first
    (highest BM25 top-1 score) so that ``limit_queries`` keeps those the pool can answer.
    Returns (candidates, number of evaluation queries dropped)."""
    from training.data.hits import read_hits
    from training.data.leakage import drop_evaluation

    corpus: dict[str, str] = {}
    for f in pool_files:
        for qc in read_hits(f):
            for c in qc.candidates:
                corpus.setdefault(c.docid, c.text)
    items, dropped = drop_evaluation(list(queries.items()), text=lambda kv: kv[1])
    found = []
    for qc in bm25_retrieve(corpus, dict(items), top_k=top_k):
        qc.candidates = [c for c in qc.candidates if c.score > 0]  # bm25s pads with zero-score misses
        if qc.candidates:
            found.append(qc)
    found.sort(key=lambda qc: -qc.candidates[0].score)
    return found[:limit_queries] if limit_queries else found, dropped
