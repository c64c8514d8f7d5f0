"""``rerank bm25``: build BM25 top-k candidates for a BEIR split (hits JSONL + TREC qrels copy)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bm25", help="build BM25 top-k candidates for a BEIR dataset split")
    p.add_argument("--dataset", required=True, choices=["nfcorpus", "scifact"])
    p.add_argument("--split", default="test", help="qrels split whose queries are retrieved (test, train, dev)")
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--beir-path", help="BEIR folder or .zip (default: the shared data copy)")
    p.add_argument("--out", help="hits JSONL (default: artifacts/candidates/...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.data.datasets import beir_qrels_path, bm25_candidates_path, build_beir_candidates

    out = Path(args.out) if args.out else bm25_candidates_path(args.dataset, args.split, args.top_k)
    qrels_out = out.with_suffix(".qrels") if args.out else beir_qrels_path(args.dataset, args.split)
    n = build_beir_candidates(args.dataset, args.split, out, qrels_out, args.top_k, args.beir_path)
    print(f"wrote {out} ({n} queries) and {qrels_out}")
    return 0
