"""``rerank train``: distil the teacher's labels into the RRA-BERT student (training.student)."""

from __future__ import annotations

import argparse

from training.commands import parse_limits


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the RRA-BERT student on teacher label files",
                       description="Seeded and resumable: rerun the same command to continue from OUT/checkpoints/last.")
    p.add_argument("--labels", action="append", required=True, metavar="FILE", help="label JSONL (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder: checkpoints/, best/, metrics.json")
    p.add_argument("--loss", default="hybrid", choices=["hybrid", "point", "margin", "ranknet"])
    p.add_argument("--tcl", action=argparse.BooleanOptionalAction, default=True,
                   help="train with the Term Control Layer (dropped at inference either way)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4, help="query groups per step")
    p.add_argument("--group-size", type=int, default=8, help="candidates per query group")
    p.add_argument("--groups-per-query", type=int, default=1, help="groups drawn per query per epoch")
    p.add_argument("--hard-negatives", type=int, default=1, help="hard negatives per group, when available")
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--score-norm", default="standard", choices=["standard", "none"],
                   help="standard: distil z-scored teacher scores (scale-free losses); none: raw scores")
    p.add_argument("--threshold", type=float, default=0.45, help="Token Selection cosine threshold")
    p.add_argument("--aux-weight", type=float, default=0.5, help="TCL loss weight (alpha)")
    p.add_argument("--consistency-weight", type=float, default=0.1, help="[CLS]-to-TCL consistency weight (gamma)")
    p.add_argument("--eval-sets", default="dl19,scifact-test",
                   help="comma-separated named sets evaluated every epoch ('' for none)")
    p.add_argument("--eval-limit-queries", action="append", default=[], metavar="[SET=]N",
                   help="first N queries of SET (or of every set); default scifact-test=50")
    p.add_argument("--val-fraction", type=float, default=0.1, help="label queries held out for validation")
    p.add_argument("--select-on", default="val", help="'val' (teacher agreement) or an eval set name")
    p.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps")
    p.add_argument("--max-steps", type=int, help="stop after N steps in total (resumable)")
    p.add_argument("--base-model", help="BERT folder to start from (default all-MiniLM-L6-v2)")
    p.add_argument("--bert-config", help="JSON BertConfig kwargs for a randomly initialised student (tests)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--fresh", action="store_true", help="discard an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from training.data.datasets import eval_sets
    from training.student.trainer import TrainArgs, train

    sets = [s for s in args.eval_sets.split(",") if s]
    unknown = sorted(set(sets) - set(eval_sets()))
    if unknown:
        raise ValueError(f"unknown eval sets: {', '.join(unknown)}")
    limits = parse_limits(args.eval_limit_queries, sets) if args.eval_limit_queries else {"scifact-test": 50}
    if args.select_on != "val" and args.select_on not in sets:
        raise ValueError(f"--select-on {args.select_on!r} is neither 'val' nor one of --eval-sets")
    result = train(TrainArgs(
        labels=args.labels, out=args.out, loss=args.loss, tcl=args.tcl, epochs=args.epochs,
        batch_size=args.batch_size, group_size=args.group_size, groups_per_query=args.groups_per_query,
        hard_negatives=args.hard_negatives, lr=args.lr, max_length=args.max_length, seed=args.seed,
        score_norm=args.score_norm, threshold=args.threshold, aux_weight=args.aux_weight,
        consistency_weight=args.consistency_weight,
        val_fraction=args.val_fraction, select_on=args.select_on, eval_sets=sets,
        eval_limit={k: v for k, v in limits.items() if k in sets}, save_every=args.save_every,
        max_steps=args.max_steps, base_model=args.base_model,
        bert_config=json.loads(args.bert_config) if args.bert_config else None,
        progress=not args.quiet, fresh=args.fresh, threads=args.threads,
    ))
    best = result["best"]
    print(f"{result['status']}: {result['global_step']} steps; best "
          + (f"epoch {best['epoch']} ({best['on']} nDCG@10 {best['value']:.4f})" if best and best["value"] is not None
               else f"epoch {best['epoch']} (latest)" if best else "none yet")
          + f"; metrics in {args.out}/metrics.json")
    return 0
