"""``rerank suite``: scorers x sets -> a committed JSON report and a Markdown table.

``make baselines`` calls it with the untrained baselines (bm25, bi-encoder, llm-pointwise).
"""

from __future__ import annotations

import argparse

from training.commands import parse_limits

DEFAULT_SETS = "dl19,nfcorpus-test,scifact-test,noveleval"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suite", help="run several scorers over several sets into one report (resumable)")
    p.add_argument("--scorer", action="append", required=True, metavar="LABEL=SPEC",
                   help="repeatable; e.g. bm25=bm25, bi-encoder=bi-encoder, student=onnx:model_repository/...")
    p.add_argument("--sets", default=DEFAULT_SETS, help=f"comma-separated named sets (default {DEFAULT_SETS})")
    p.add_argument("--out", required=True, help="JSON report (existing cells are kept and skipped)")
    p.add_argument("--markdown", help="also write the table here")
    p.add_argument("--limit-queries", action="append", default=[], metavar="[LABEL=]N",
                   help="first N queries of each set: N for every scorer, LABEL=N for one (slow scorers)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--force", action="store_true", help="recompute cells already in the report")
    p.set_defaults(func=run)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        label, sep, value = item.partition("=")
        if not sep:
            label, value = item, item
        if not label or not value:
            raise ValueError(f"bad {what} {item!r}: expected LABEL=VALUE")
        out[label] = value
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.data.datasets import eval_sets
    from training.evaluate.suite import markdown_table, run_suite

    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(eval_sets()))
    if unknown:
        raise ValueError(f"unknown sets: {', '.join(unknown)}")
    scorers = _pairs(args.scorer, "--scorer")
    limits = parse_limits(args.limit_queries, list(scorers))
    report = run_suite(scorers, sets, args.out, limits, args.batch_size, args.force)
    table = markdown_table(report, sets)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")
    return 0
