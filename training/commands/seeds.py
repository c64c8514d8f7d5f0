"""``rerank seeds``: one suite run repeated under several training seeds -> mean, spread and paired
differences (``training.evaluate.seeds``), as a JSON report and Markdown tables."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seeds", help="summarize suite reports of the same runs under several seeds")
    p.add_argument("--report", action="append", required=True, metavar="SEED=PATH",
                   help="repeatable: one `rerank suite` report per training seed")
    p.add_argument("--contrast", action="append", default=[], metavar="A:B",
                   help="repeatable: report scorer A minus scorer B within each seed")
    p.add_argument("--sets", help="comma-separated sets (default: every set in the reports)")
    p.add_argument("--metric", default="ndcg@10")
    p.add_argument("--out", required=True, help="JSON summary")
    p.add_argument("--markdown", help="also write the tables here")
    p.set_defaults(func=run)


def _split(item: str, sep: str, what: str) -> tuple[str, str]:
    left, found, right = item.partition(sep)
    if not found or not left or not right:
        raise ValueError(f"bad {what} {item!r}: expected {'SEED=PATH' if sep == '=' else 'A:B'}")
    return left, right


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from training.evaluate.seeds import markdown_tables, summarize_seeds

    paths = dict(_split(item, "=", "--report") for item in args.report)
    if len(paths) != len(args.report):
        raise ValueError("each --report needs its own seed")
    reports = {seed: json.loads(Path(path).read_text(encoding="utf-8")) for seed, path in paths.items()}
    contrasts = [_split(item, ":", "--contrast") for item in args.contrast]
    sets = [s for s in args.sets.split(",") if s] if args.sets else None
    summary = summarize_seeds(reports, contrasts, sets, args.metric)
    summary["reports"] = paths
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    table = markdown_tables(summary)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")
    return 0
