"""First-stage retrieval for BEIR with bm25s: full-corpus BM25 top-k written in the hits format."""

from __future__ import annotations

from pathlib import Path

from training.data.beir import BeirDataset
from training.data.hits import Candidate, QueryCandidates, write_hits


def bm25_candidates(
    dataset: BeirDataset, split: str, top_k: int = 100, stem: bool = True
) -> list[QueryCandidates]:
    """BM25 (bm25s, Lucene variant, English stopwords, optional Snowball stemming) over the whole
    corpus for every query judged in ``split``."""
    import bm25s

    stemmer = None
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    doc_ids = list(dataset.corpus)
    corpus_tokens = bm25s.tokenize(
        [dataset.corpus[d] for d in doc_ids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)

    qids = [q for q in dataset.qrels[split] if q in dataset.queries]
    query_tokens = bm25s.tokenize(
        [dataset.queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    k = min(top_k, len(doc_ids))
    results, scores = retriever.retrieve(query_tokens, k=k, show_progress=False)
    out = []
    for qi, qid in enumerate(qids):
        cands = [
            Candidate(docid=doc_ids[int(idx)], text=dataset.corpus[doc_ids[int(idx)]], rank=r + 1, score=float(s))
            for r, (idx, s) in enumerate(zip(results[qi], scores[qi]))
        ]
        out.append(QueryCandidates(qid=qid, query=dataset.queries[qid], candidates=cands))
    return out


def build_bm25_file(dataset: BeirDataset, split: str, out: str | Path, top_k: int = 100) -> Path:
    out = Path(out)
    write_hits(out, bm25_candidates(dataset, split, top_k=top_k))
    return out
