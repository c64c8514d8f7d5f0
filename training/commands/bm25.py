"""``rerank bm25``: build BM25 top-k candidates for a BEIR split (hits JSONL + TREC qrels copy), or
for a topics file over a pool of passages taken from hits files (``--queries/--pool``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bm25", help="build BM25 top-k candidates for a BEIR split or a topics file over a pool")
    p.add_argument("--dataset", choices=["nfcorpus", "scifact"], help="a BEIR set (its full corpus)")
    p.add_argument("--queries", help="instead of --dataset: a 'qid<TAB>query' topics file ...")
    p.add_argument("--pool", action="append", default=[], metavar="HITS",
                   help="... retrieved against every passage of these hits JSONL files (repeatable)")
    p.add_argument("--limit-queries", type=int, help="with --queries: keep the N best-covered queries")
    p.add_argument("--split", default="test", help="qrels split whose queries are retrieved (test, train, dev)")
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--beir-path", help="BEIR folder or .zip (default: the shared data copy)")
    p.add_argument("--out", help="hits JSONL (default: artifacts/candidates/...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.data.datasets import beir_qrels_path, bm25_candidates_path, build_beir_candidates

    if bool(args.dataset) == bool(args.queries):
        raise SystemExit("rerank bm25: give either --dataset or --queries (with --pool)")
    if args.queries:
        return _run_pool(args)
    out = Path(args.out) if args.out else bm25_candidates_path(args.dataset, args.split, args.top_k)
    qrels_out = out.with_suffix(".qrels") if args.out else beir_qrels_path(args.dataset, args.split)
    n = build_beir_candidates(args.dataset, args.split, out, qrels_out, args.top_k, args.beir_path)
    print(f"wrote {out} ({n} queries) and {qrels_out}")
    return 0


def _run_pool(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.data.bm25 import pool_candidates
    from training.data.hits import write_hits
    from training.data.trec import read_topics

    if not args.pool or not args.out:
        raise SystemExit("rerank bm25 --queries needs --pool HITS (one or more) and --out")
    found, dropped = pool_candidates(read_topics(args.queries), args.pool, args.top_k, args.limit_queries)
    write_hits(Path(args.out), found)
    print(f"wrote {args.out} ({len(found)} queries; {dropped} evaluation queries dropped)")
    return 0
