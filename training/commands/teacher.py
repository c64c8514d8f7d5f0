"""``rerank teacher``: train the local LLM teacher (cpt, sft, rra-gpt, ablate) and serve it.

Stages write under ``artifacts/teacher/<stage>`` by default; each is resumable (rerun the same
command) and can be bounded with ``--max-minutes`` (it then saves a usable teacher).
"""

from __future__ import annotations

import argparse

from training.teacher import TEACHER_SPECS

ABLATIONS = {  # RRA-GPT term ablation: name -> (w_gen, w_rank, w_clf)
    "rank": (0.0, 1.0, 0.0),
    "rank+clf": (0.0, 1.0, 1.0),
    "rank+gen": (1.0, 1.0, 0.0),
    "rank+gen+clf": (1.0, 1.0, 1.0),
}


def _train_args(p: argparse.ArgumentParser, stage: str, steps: int) -> None:
    p.add_argument("--out", help=f"teacher folder (default: artifacts/teacher/{stage})")
    p.add_argument("--init", help="start from this teacher/LLM folder (default: base SmolLM2-135M-Instruct)")
    p.add_argument("--steps", type=int, default=steps, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=4, help="groups (cpt: pairs) per micro-batch")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate of the trained decoder layers")
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-length", type=int, default=128, help="tokens per (query, document) sequence")
    p.add_argument("--max-query-tokens", type=int, default=32)
    p.add_argument("--train-layers", type=int, default=4, help="top decoder layers that train (-1 = all)")
    p.add_argument("--num-hard", type=int, default=1, help="BM25 hard negatives per group")
    p.add_argument("--num-random", type=int, default=1, help="random negatives per group")
    p.add_argument("--sources", default="nfcorpus,scifact,msmarco", help="train judgments to use")
    p.add_argument("--mix", choices=["balanced", "proportional"], default="balanced")
    p.add_argument("--max-queries", type=int, help="first N train queries per source")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=10, help="checkpoint every N steps")
    p.add_argument("--max-minutes", type=float, help="stop (and save) after this much wall time")
    p.add_argument("--stop-after", type=int, help="stop (and save) after N steps in this session")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teacher", help="train (cpt, sft, rra-gpt) and serve the local LLM teacher")
    tsub = p.add_subparsers(dest="teacher_command", metavar="STAGE", required=True)

    cpt = tsub.add_parser("cpt", help="continued pre-training: generate judged-relevant documents from queries")
    _train_args(cpt, "cpt", 40)
    cpt.set_defaults(func=run_train, stage="cpt")

    sft = tsub.add_parser("sft", help="supervised fine-tuning: dense head at <eos>, pairwise margin loss (T=0.1)")
    _train_args(sft, "sft", 60)
    sft.add_argument("--loss", choices=["margin", "ranknet"], default="margin")
    sft.add_argument("--margin", type=float, default=0.1, help="T of the hinge loss")
    sft.set_defaults(func=run_train, stage="sft")

    rra = tsub.add_parser("rra-gpt", help="RRA-GPT: L = L_gen + L_RankNet + L_clf on the same backbone")
    _train_args(rra, "rra-gpt", 60)
    rra.add_argument("--w-gen", type=float, default=1.0)
    rra.add_argument("--w-rank", type=float, default=1.0)
    rra.add_argument("--w-clf", type=float, default=1.0)
    rra.add_argument("--gen-target", choices=["document", "reason"], default="document")
    rra.set_defaults(func=run_train, stage="rra-gpt")

    abl = tsub.add_parser("ablate", help="train each RRA-GPT term combination and evaluate them into one report")
    _train_args(abl, "rra-ablation", 60)
    abl.add_argument("--gen-target", choices=["document", "reason"], default="document")
    abl.add_argument("--variants", default=",".join(ABLATIONS), help=f"subset of {', '.join(ABLATIONS)}")
    abl.add_argument("--sets", default="dl19,nfcorpus-test,scifact-test")
    abl.add_argument("--limit-queries", type=int, default=10, help="first N queries of each evaluation set")
    abl.add_argument("--report", default="reports/teacher_rra_ablation.json")
    abl.set_defaults(func=run_ablate, stage="rra-gpt")

    srv = tsub.add_parser("serve", help="serve a teacher as an OpenAI-compatible /v1/chat/completions")
    srv.add_argument("--teacher", default="dense:artifacts/teacher/sft", help=TEACHER_SPECS)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8100)
    srv.add_argument("--model-name", help="model id reported by the API (default: the teacher's name)")
    srv.add_argument("--batch-size", type=int, default=16)
    srv.add_argument("--listwise", choices=["score", "generate"], default="score",
                     help="answer permutation prompts by scoring with the dense head, or let the LLM write them")
    srv.set_defaults(func=run_serve)


def _config(args: argparse.Namespace, out: str | None = None, **over):
    from training import paths
    from training.teacher.train import TrainConfig

    fields = dict(
        stage=args.stage, out=out or args.out or str(paths.artifacts_dir() / "teacher" / args.stage),
        init=args.init, steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        head_lr=args.head_lr, warmup=args.warmup, max_length=args.max_length, max_query_tokens=args.max_query_tokens,
        train_layers=args.train_layers, num_hard=args.num_hard, num_random=args.num_random,
        sources=[s for s in args.sources.split(",") if s], mix=args.mix, max_queries=args.max_queries,
        seed=args.seed, save_every=args.save_every, max_minutes=args.max_minutes, stop_after=args.stop_after,
        threads=args.threads, progress=not args.quiet,
    )
    for name in ("loss", "margin", "w_gen", "w_rank", "w_clf", "gen_target"):
        if hasattr(args, name):
            fields[name] = getattr(args, name)
    fields.update(over)
    return TrainConfig(**fields)


def run_train(args: argparse.Namespace) -> int:
    from training.teacher.train import train

    train(_config(args))
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    """Train every variant (resumable), then evaluate them all with ``rerank suite``'s engine."""
    from pathlib import Path

    from training import paths
    from training.evaluate.suite import markdown_table, run_suite
    from training.teacher.train import train

    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(ABLATIONS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {', '.join(ABLATIONS)}")
    root = Path(args.out) if args.out else paths.artifacts_dir() / "teacher" / "rra-ablation"
    scorers = {}
    for name in names:
        w_gen, w_rank, w_clf = ABLATIONS[name]
        folder = root / name.replace("+", "_")
        train(_config(args, out=str(folder), w_gen=w_gen, w_rank=w_rank, w_clf=w_clf))
        scorers[f"rra-gpt[{name}]"] = f"teacher:{folder}"
    sets = [s for s in args.sets.split(",") if s]
    report = run_suite(scorers, sets, args.report, {k: args.limit_queries for k in scorers}, batch_size=16)
    table = markdown_table(report, sets)
    Path(args.report).with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from training.teacher import make_teacher
    from training.teacher.server import serve

    teacher = make_teacher(args.teacher, batch_size=args.batch_size)
    serve(teacher, host=args.host, port=args.port, model_name=args.model_name, listwise=args.listwise)
    return 0
