"""``rerank label``: RRADistill teacher labels for training queries (resumable JSON Lines).

    rerank label --dataset nfcorpus-train --teacher dense:artifacts/teacher/sft --out artifacts/labels/nf.jsonl
    rerank label --dataset scifact-train --teacher openai:teacher@http://127.0.0.1:8100/v1 \\
        --score-teacher dense:artifacts/teacher/sft --workers 4

Only training queries: DL19, NovelEval and every test split are refused, by set name and by
query text.
"""

from __future__ import annotations

import argparse
import sys

from training.teacher import TEACHER_SPECS

TRAIN_SETS = ("nfcorpus-train", "scifact-train")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="label training queries with the LLM teacher (RRADistill pipeline)",
                       description="Pre-rank candidates, keep top-k + bottom-k, rank them with the teacher, "
                                   "record scores, ranks and hard negatives.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help=f"comma-separated training sets: {', '.join(TRAIN_SETS)}")
    src.add_argument("--candidates", help="a hits JSONL of training queries (e.g. synthetic queries)")
    p.add_argument("--out", required=True, help="labels JSONL (appended; queries already there are skipped)")
    p.add_argument("--teacher", default="dense:artifacts/teacher/sft", help=f"ranking teacher: {TEACHER_SPECS}")
    p.add_argument("--score-teacher", help="point-wise teacher whose scores are recorded as teacher_score "
                                           "(default: the ranking teacher if point-wise, else none: null scores)")
    p.add_argument("--pre-ranker", default="bm25", help="scorer SPEC: bm25 | bi-encoder | student:DIR | onnx:PATH")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--bottom-k", type=int, default=10)
    p.add_argument("--pool", type=int, default=50, help="candidates the pre-ranker sees (first N)")
    p.add_argument("--limit-queries", type=int, help="first N queries of each set")
    p.add_argument("--workers", type=int, default=1, help="parallel queries (API teachers)")
    p.add_argument("--window", type=int, default=20, help="list-wise window")
    p.add_argument("--step", type=int, default=10, help="list-wise window step")
    p.add_argument("--concurrency", type=int, default=4, help="max in-flight API requests")
    p.add_argument("--max-tokens", type=int, default=256, help="answer length limit for API teachers")
    p.add_argument("--cache", help="API response cache (SQLite; default: artifacts/cache/teacher_api.sqlite)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)

    s = sub.add_parser("synth-queries", help="InPars-style synthetic training queries + their BM25 candidates",
                       description="The teacher LLM writes a query for sampled corpus passages (few-shot from "
                                   "train judgments); BM25 retrieves candidates; label them with rerank label "
                                   "--candidates.")
    s.add_argument("--dataset", required=True, choices=["nfcorpus", "scifact"])
    s.add_argument("--generator", default="zero-shot",
                   help="dense:PATH | zero-shot[:DIR] (local SmolLM2) | openai:MODEL@URL")
    s.add_argument("--num", type=int, default=100, help="passages to write queries for")
    s.add_argument("--shots", type=int, default=3)
    s.add_argument("--top-k", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cache", help="API response cache (openai generator)")
    s.add_argument("--out", help="hits JSONL (default: artifacts/candidates/synthetic_<dataset>_<num>.jsonl)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=run_synth)

    f = sub.add_parser("fuse-labels", help="new labels whose teacher score fuses the stored teacher and "
                                           "pre-ranker scores (no model runs)",
                       description="teacher_score' = W_T * z(teacher_score) + W_P * z(pre_score), z over each "
                                   "query's labelled candidates (training.labels.fuse).")
    f.add_argument("--labels", action="append", required=True, metavar="FILE", help="label JSONL(.gz), repeatable")
    f.add_argument("--pre-weight", type=float, required=True, help="W_P, weight of the pre-ranker's z-score")
    f.add_argument("--teacher-weight", type=float, default=1.0, help="W_T, weight of the teacher's z-score")
    f.add_argument("--out", required=True, help="label JSONL to write (replaced)")
    f.set_defaults(func=run_fuse)


def _queries(args):
    from training.data import read_hits
    from training.data.datasets import ensure_candidates, eval_sets
    from training.data.leakage import assert_not_evaluation, drop_evaluation

    batches = []
    if args.dataset:
        sets = eval_sets()
        for name in [s for s in args.dataset.split(",") if s]:
            if name not in TRAIN_SETS:
                raise ValueError(f"{name!r} is not a training set; labeling is for {', '.join(TRAIN_SETS)}")
            qs, dropped = drop_evaluation(read_hits(ensure_candidates(sets[name]).candidates))
            if dropped:
                print(f"{name}: dropped {dropped} queries worded like an evaluation query", file=sys.stderr)
            batches.append((name, qs[: args.limit_queries] if args.limit_queries else qs))
    else:
        # a user-supplied file is refused outright: it should never contain evaluation queries
        batches.append((args.candidates, read_hits(args.candidates, args.limit_queries)))
        assert_not_evaluation((q.query for q in batches[0][1]), "labeling")
    return batches


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from training import paths
    from training.evaluate.scorers import make_scorer
    from training.labels.pipeline import LabelConfig, Summary, run_labeling
    from training.labels.schema import done_qids
    from training.teacher import make_teacher

    batches = _queries(args)
    out = Path(args.out)
    done = done_qids(out)
    cache = args.cache or str(paths.cache_dir() / "teacher_api.sqlite")
    ranker = make_teacher(args.teacher, batch_size=args.batch_size, cache=cache,
                          max_concurrency=args.concurrency, window=args.window, step=args.step,
                          max_tokens=args.max_tokens)
    scorer = None
    if args.score_teacher:
        scorer = ranker if args.score_teacher == args.teacher else make_teacher(args.score_teacher, args.batch_size)
    elif ranker.info.kind == "listwise":
        print("note: list-wise teacher without --score-teacher: teacher_score will be null")
    pre_ranker = make_scorer(args.pre_ranker, batch_size=args.batch_size)
    total = Summary()
    for name, queries in batches:
        cfg = LabelConfig(top_k=args.top_k, bottom_k=args.bottom_k, pool=args.pool, workers=args.workers,
                          pre_ranker_spec=args.pre_ranker, source=name)
        s = run_labeling(queries, out, pre_ranker, ranker, scorer, cfg, done=done, progress=not args.quiet)
        for k in ("queries", "skipped", "failed", "docs", "hard_negatives", "seconds"):
            setattr(total, k, getattr(total, k) + getattr(s, k))
        total.errors += s.errors
        total.teacher_calls = s.teacher_calls  # cumulative counters of the same teacher objects
    print(total)
    for err in total.errors[:5]:
        print(f"  failed: {err}")
    summary_path = out.with_name(out.name + ".summary.json")
    summary_path.write_text(json.dumps(total.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 1 if total.failed else 0


def run_synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training import paths
    from training.data.beir import load_beir
    from training.data.datasets import beir_source
    from training.labels.synthetic import SynthConfig, generate_queries, write_synthetic_hits

    cfg = SynthConfig(num=args.num, shots=args.shots, top_k=args.top_k, seed=args.seed)
    if args.generator.startswith("openai:"):
        from training.teacher.openai_client import ChatClient

        model, _, url = args.generator.partition(":")[2].partition("@")
        client = ChatClient(url, model, cache=args.cache or str(paths.cache_dir() / "teacher_api.sqlite"),
                            max_tokens=cfg.max_new_tokens, temperature=0.0)
        generate = client.chat
    else:
        from training.teacher import make_teacher

        teacher = make_teacher(args.generator)
        generate = lambda msgs: teacher.generate(msgs, max_new_tokens=cfg.max_new_tokens)[0]  # noqa: E731
    ds = load_beir(beir_source(args.dataset), name=args.dataset)
    queries = generate_queries(ds, generate, cfg, progress=not args.quiet)
    out = Path(args.out) if args.out else paths.artifacts_dir() / "candidates" / f"synthetic_{args.dataset}_{args.num}.jsonl"
    n = write_synthetic_hits(ds, queries, out, cfg.top_k)
    print(f"wrote {out}: {n} synthetic queries from {args.num} passages")
    return 0


def run_fuse(args: argparse.Namespace) -> int:
    from training.labels.fuse import fuse_query
    from training.labels.schema import iter_labels, write_labels

    if _same_file(args.out, args.labels):
        raise ValueError("--out must not be one of the --labels inputs")
    # fused in memory first: a query that cannot be fused fails the command before anything is written
    fused = [fuse_query(q, args.pre_weight, args.teacher_weight) for path in args.labels for q in iter_labels(path)]
    n = write_labels(args.out, fused)
    print(f"wrote {args.out}: {n} queries, teacher_score = {args.teacher_weight:g} z(teacher) "
          f"+ {args.pre_weight:g} z(pre-ranker)")
    return 0


def _same_file(out: str, inputs: list[str]) -> bool:
    from pathlib import Path

    return any(Path(out).resolve() == Path(i).resolve() for i in inputs)
