"""``rerank eval``: measure one scorer on one candidate set."""

from __future__ import annotations

import argparse

SPEC_HELP = (
    "scorer SPEC: bm25 (candidate order) | bi-encoder[:DIR] (all-MiniLM-L6-v2 cosine) | "
    "llm-pointwise[:DIR] (SmolLM2 zero-shot yes/no) | llm-qlm[:PROMPT] (SmolLM2 zero-shot query likelihood) | "
    "teacher:PATH | student:DIR | onnx:PATH | fusion:SPEC@W,SPEC@W | cached:SPEC (scores kept in SQLite)"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a scorer (nDCG@5/10, MRR@10, Recall@100, PNR)",
                       description="Re-rank a candidate file with a scorer and print the metrics.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--candidates", help="hits JSONL (or JSON array) of candidates")
    src.add_argument("--dataset", help="a named set: dl19, noveleval, nfcorpus-test, scifact-test, ...")
    p.add_argument("--qrels", help="TREC or BEIR qrels (required with --candidates)")
    p.add_argument("--scorer", required=True, help=SPEC_HELP)
    p.add_argument("--json", dest="json_out", help="also write the metrics as JSON here")
    p.add_argument("--limit-queries", type=int, help="only the first N queries")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rel-level", type=int, help="min grade counted relevant for MRR/Recall (default: 2 if grades reach 3, else 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.data import read_hits, read_qrels
    from training.data.datasets import ensure_candidates, eval_sets
    from training.evaluate.runner import evaluate, format_table, write_json
    from training.evaluate.scorers import make_scorer

    rel_level = args.rel_level
    if args.dataset:
        sets = eval_sets()
        if args.dataset not in sets:
            raise ValueError(f"unknown dataset {args.dataset!r}; known: {', '.join(sets)}")
        es = ensure_candidates(sets[args.dataset])
        candidates_path, qrels_path = es.candidates, es.qrels
        rel_level = rel_level if rel_level is not None else es.rel_level
    else:
        if not args.qrels:
            raise ValueError("--qrels is required with --candidates")
        candidates_path, qrels_path = args.candidates, args.qrels
    queries = read_hits(candidates_path, limit_queries=args.limit_queries)
    qrels = read_qrels(qrels_path)
    scorer = make_scorer(args.scorer, batch_size=args.batch_size)
    result = evaluate(scorer, queries, qrels, rel_level=rel_level, progress=not args.quiet)
    print(format_table(result.metrics, title=f"{args.scorer} on {args.dataset or candidates_path}"))
    if args.json_out:
        write_json(result, args.json_out, extra={"scorer": args.scorer, "candidates": str(candidates_path)})
    return 0
