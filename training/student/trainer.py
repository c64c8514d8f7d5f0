"""The training loop behind ``rerank train``: seeded, resumable, evaluated every epoch.

Output folder::

    OUT/
      train_args.json          the arguments (a resume must match the ones that shape training)
      checkpoints/last/        model + TCL + optimizer/scheduler/RNG state, saved every
                               ``save_every`` steps and at each epoch end (atomic rename)
      best/                    the best checkpoint so far (what ``student:OUT`` and ``rerank export`` read)
      metrics.json             per-epoch history (train loss parts, validation, eval sets) + best

Resume: rerunning the same command continues from ``checkpoints/last`` (same epoch plan, same
dropout RNG), so an interrupted run ends where an uninterrupted one would. ``fresh=True`` restarts.

Model selection: by default on ``val``, a slice of the *label* queries held out by qid hash and
scored by agreement with the teacher (nDCG@10 against the teacher's permutation), so choosing
the checkpoint does not look at test judgments. ``select_on=dl19`` (or another eval set) is
possible but selects on a test set; the eval sets are reported either way.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STATE_FILE = "trainer_state.pt"
ARGS_FILE = "train_args.json"
METRICS_FILE = "metrics.json"
# Arguments that may change between a run and its resume; every other one must match.
RESUME_FREE = {"out", "max_steps", "progress", "save_every", "eval_sets", "eval_limit", "eval_batch_size", "fresh",
               "threads"}


@dataclass
class TrainArgs:
    labels: list[str]
    out: str
    loss: str = "hybrid"
    tcl: bool = True
    epochs: int = 3
    batch_size: int = 4            # query groups per optimizer step
    group_size: int = 8            # candidates per query group
    groups_per_query: int = 1      # groups drawn per query per epoch
    hard_negatives: int = 1        # left-out (hard negative) candidates per group, when available
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup: float = 0.1            # fraction of the steps with a linear warm-up
    grad_clip: float = 1.0
    max_length: int = 256
    seed: int = 42
    score_norm: str = "standard"   # "standard": z-score teacher scores over the training labels; "none"
    threshold: float = 0.45        # Token Selection cosine threshold
    tcl_hidden: int = 128
    aux_weight: float = 0.5
    consistency_weight: float = 0.1
    val_fraction: float = 0.1
    select_on: str = "val"
    eval_sets: list[str] = field(default_factory=lambda: ["dl19", "scifact-test"])
    eval_limit: dict[str, int] = field(default_factory=lambda: {"scifact-test": 50})
    eval_batch_size: int = 64
    save_every: int = 200
    max_steps: int | None = None   # stop (with a checkpoint) after this many steps in total
    base_model: str | None = None  # default: all-MiniLM-L6-v2
    bert_config: dict | None = None  # a random BertConfig instead of base weights (tests)
    progress: bool = True
    fresh: bool = False
    threads: int | None = None     # torch intra-op threads (None: torch's default)


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _student_config(args: TrainArgs, base_name: str):
    from training.student.config import SelectionConfig, StudentConfig, TCLConfig

    return StudentConfig(
        base_model=base_name, max_length=args.max_length,
        selection=SelectionConfig(threshold=args.threshold),
        tcl=TCLConfig(enabled=args.tcl, hidden=args.tcl_hidden, aux_weight=args.aux_weight,
                      consistency_weight=args.consistency_weight),
    )


def _build_model(args: TrainArgs, head_bias: float | None):
    from training.base_models import MINILM_NAME, minilm_path
    from training.student.model import RRABert

    base = Path(args.base_model) if args.base_model else minilm_path()
    if args.bert_config is not None:
        from transformers import BertConfig

        cfg = _student_config(args, f"random BertConfig({args.bert_config})")
        model = RRABert.from_bert_config(BertConfig(**args.bert_config), cfg, base)
        if head_bias is not None:
            model.init_head_bias(head_bias)
        return model, base
    name = MINILM_NAME if not args.base_model else str(base)
    return RRABert.from_base(base, _student_config(args, name), head_bias=head_bias), base


def _optimizer(model, args: TrainArgs, total_steps: int):
    import torch
    from transformers import get_linear_schedule_with_warmup

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "norm" in name else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total_steps), max(total_steps, 1))
    return opt, sched


def _atomic_dir(target: Path) -> Path:
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def _commit_dir(tmp: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


class Trainer:
    def __init__(self, args: TrainArgs):
        self.args = args
        self.out = Path(args.out)
        self.last_dir = self.out / "checkpoints" / "last"
        self.best_dir = self.out / "best"

    # --- setup --------------------------------------------------------------------------------
    def _check_resume_args(self) -> bool:
        path = self.out / ARGS_FILE
        if self.args.fresh:
            for p in (self.out / "checkpoints", self.best_dir, self.out / METRICS_FILE, path):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        if not (self.last_dir / STATE_FILE).is_file():
            return False
        saved = json.loads(path.read_text())
        now = asdict(self.args)
        diff = sorted(k for k in now if k not in RESUME_FREE and saved.get(k) != now[k])
        if diff:
            raise ValueError(f"{self.out} holds a run with different {', '.join(diff)}; "
                             "use another --out or --fresh to start over")
        return True

    def run(self) -> dict:
        import torch
        from tqdm import tqdm

        from training.student.data import epoch_plan, read_labels, split_validation, teacher_score_stats
        from training.student.encoding import PairEncoder
        from training.student.objective import LOSSES, student_loss

        args = self.args
        if args.loss not in LOSSES:
            raise ValueError(f"unknown loss {args.loss!r}; choose from {', '.join(LOSSES)}")
        self.out.mkdir(parents=True, exist_ok=True)
        resume = self._check_resume_args()
        (self.out / ARGS_FILE).write_text(json.dumps(asdict(args), indent=2) + "\n")

        if args.threads:
            torch.set_num_threads(args.threads)
        set_seed(args.seed)
        queries = read_labels(args.labels)
        if not queries:
            raise ValueError(f"no label records in {', '.join(args.labels)}")
        if args.loss != "ranknet" and not any(c.teacher_score is not None for q in queries for c in q.candidates):
            raise ValueError(f"--loss {args.loss} needs teacher scores and these labels have none; use --loss ranknet")
        train_q, self.val_q = split_validation(queries, args.val_fraction)
        self.teacher = next((q.teacher for q in queries if q.teacher), {})
        mean, std = teacher_score_stats(train_q)
        if args.score_norm == "standard":
            self.norm = {"mean": mean, "std": std} if mean is not None else None
            head_bias = 0.0
        elif args.score_norm == "none":
            self.norm, head_bias = None, mean
        else:
            raise ValueError(f"unknown score_norm {args.score_norm!r} (standard|none)")
        model, self.tokenizer_dir = _build_model(args, head_bias)
        self.encoder = PairEncoder(self.tokenizer_dir / "tokenizer.json", args.max_length)
        steps_per_epoch = math.ceil(len(train_q) * args.groups_per_query / args.batch_size)
        total = steps_per_epoch * args.epochs
        opt, sched = _optimizer(model, args, total)

        state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "history": [], "best": None}
        if resume:
            from training.student.model import RRABert

            saved = RRABert.load(self.last_dir)
            model.load_state_dict(saved.state_dict())
            ckpt = torch.load(self.last_dir / STATE_FILE, map_location="cpu", weights_only=False)
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["torch_rng"])
            state = ckpt["state"]
            print(f"resuming {self.out} at epoch {state['epoch'] + 1}, step {state['global_step']}", flush=True)
        self.model, self.opt, self.sched, self.state = model, opt, sched, state
        print(f"student: {len(train_q)} training queries, {len(self.val_q)} validation, "
              f"{steps_per_epoch} steps/epoch x {args.epochs} epochs, loss={args.loss}, tcl={args.tcl}", flush=True)

        status = "done"
        while state["epoch"] < args.epochs:
            epoch = state["epoch"]
            plan = epoch_plan(train_q, epoch, args.seed, args.group_size, args.batch_size,
                              args.groups_per_query, args.hard_negatives)
            model.train()
            sums: dict[str, float] = state.setdefault("loss_sums", {})
            bar = tqdm(total=len(plan), initial=state["step_in_epoch"], desc=f"epoch {epoch + 1}/{args.epochs}",
                       unit="step", disable=not args.progress, dynamic_ncols=True)
            while state["step_in_epoch"] < len(plan):
                if args.max_steps is not None and state["global_step"] >= args.max_steps:
                    break
                batch = collate_batch(plan[state["step_in_epoch"]], self.encoder, self.norm)
                out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
                loss, parts = student_loss(out, batch, args.loss, model.config.tcl)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if args.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
                opt.step()
                sched.step()
                state["global_step"] += 1
                state["step_in_epoch"] += 1
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                sums["_n"] = sums.get("_n", 0) + 1
                bar.update(1)
                bar.set_postfix(loss=f"{sums['loss'] / sums['_n']:.4f}", lr=f"{sched.get_last_lr()[0]:.1e}")
                if args.save_every and state["global_step"] % args.save_every == 0:
                    self._save_last()
            bar.close()
            if state["step_in_epoch"] < len(plan):  # stopped by max_steps
                self._save_last()
                status = "stopped"
                break
            self._end_epoch(epoch, {k: v / sums["_n"] for k, v in sums.items() if k != "_n"})
        return self._write_metrics(status)

    # --- epoch end ------------------------------------------------------------------------------
    def _end_epoch(self, epoch: int, train_loss: dict) -> None:
        args, state = self.args, self.state
        record = {"epoch": epoch + 1, "global_step": state["global_step"], "train": train_loss}
        t0 = time.time()
        record["val"] = self.validate()
        record["eval"] = self.evaluate_sets()
        record["eval_s"] = round(time.time() - t0, 1)
        value = self._selection_value(record)
        on = self._select_on() if value is not None else "last"  # nothing to select on: keep the latest
        record["selection"] = {"on": on, "ndcg@10": value}
        best = state["best"]
        if value is None or best is None or value > best["value"]:
            state["best"] = {"epoch": epoch + 1, "on": on, "metric": "ndcg@10", "value": value}
            self._save_model(self.best_dir)
            record["new_best"] = True
        state["history"].append(record)
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        state["loss_sums"] = {}
        self._save_last()
        self._write_metrics("running" if state["epoch"] < args.epochs else "done")
        evals = " ".join(f"{k}={v.get('ndcg@10', float('nan')):.4f}" for k, v in record["eval"].items())
        val = record["val"].get("ndcg@10")
        print(f"epoch {epoch + 1}: loss={train_loss.get('loss', float('nan')):.4f} "
              f"val(teacher nDCG@10)={'-' if val is None else f'{val:.4f}'} {evals}"
              f"{' (best)' if record.get('new_best') else ''}", flush=True)

    def _select_on(self) -> str:
        if self.args.select_on == "val" and not self.val_q:
            return self.args.eval_sets[0] if self.args.eval_sets else "val"
        return self.args.select_on

    def _selection_value(self, record: dict) -> float | None:
        on = self._select_on()
        cell = record["val"] if on == "val" else record["eval"].get(on, {})
        return cell.get("ndcg@10")

    def validate(self) -> dict:
        """Agreement with the teacher on held-out label queries (full candidate lists)."""
        if not self.val_q:
            return {}
        from training.evaluate.metrics import evaluate_run
        from training.evaluate.scorers.student import StudentScorer
        from training.student.data import rank_labels

        qrels = {q.qid: {d: int(g) for d, g in rank_labels(q).items()} for q in self.val_q}
        out = {}
        variants = [("", False)] + ([("tcl_kept.", True)] if self.model.tcl is not None else [])
        for prefix, use_tcl in variants:
            scorer = StudentScorer(self.model, self.encoder, self.args.eval_batch_size, use_tcl=use_tcl)
            run = {q.qid: dict(zip([c.docid for c in q.candidates],
                                   scorer.score_texts(q.query, [c.text for c in q.candidates])))
                   for q in self.val_q}
            metrics = evaluate_run(qrels, run, rel_level=1)
            out |= {f"{prefix}{k}": _finite(metrics[k]) for k in ("ndcg@10", "pnr")}
        return out

    def evaluate_sets(self) -> dict:
        from training.data import read_hits, read_qrels
        from training.data.datasets import ensure_candidates, eval_sets
        from training.evaluate.runner import evaluate
        from training.evaluate.scorers.student import StudentScorer

        known = eval_sets()
        scorer = StudentScorer(self.model, self.encoder, self.args.eval_batch_size)
        out = {}
        for name in self.args.eval_sets:
            es = ensure_candidates(known[name])
            queries = read_hits(es.candidates, limit_queries=self.args.eval_limit.get(name))
            result = evaluate(scorer, queries, read_qrels(es.qrels), rel_level=es.rel_level, progress=False)
            out[name] = {k: _finite(result.metrics[k]) for k in ("ndcg@10", "ndcg@5", "mrr@10", "pnr", "queries")
                         if k in result.metrics}
        return out

    # --- persistence ----------------------------------------------------------------------------
    def _meta(self) -> dict:
        a = self.args
        return {"training": {"labels": [str(p) for p in a.labels], "teacher": self.teacher, "loss": a.loss,
                             "tcl": a.tcl, "epochs": a.epochs, "seed": a.seed, "lr": a.lr,
                             "batch_size": a.batch_size, "group_size": a.group_size,
                             "teacher_score_norm": self.norm,
                             "global_step": self.state["global_step"]}}

    def _save_model(self, target: Path) -> None:
        tmp = _atomic_dir(target)
        self.model.save(tmp, self.tokenizer_dir, extra=self._meta())
        _commit_dir(tmp, target)

    def _save_last(self) -> None:
        import torch

        tmp = _atomic_dir(self.last_dir)
        self.model.save(tmp, self.tokenizer_dir, extra=self._meta())
        torch.save({"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                    "torch_rng": torch.get_rng_state(), "state": self.state}, tmp / STATE_FILE)
        _commit_dir(tmp, self.last_dir)

    def _write_metrics(self, status: str) -> dict:
        payload = {"status": status, "global_step": self.state["global_step"],
                   "epochs_done": self.state["epoch"], "best": self.state["best"],
                   "history": self.state["history"], "args": asdict(self.args)}
        text = json.dumps(payload, indent=2) + "\n"
        (self.out / METRICS_FILE).write_text(text)
        if self.best_dir.is_dir():
            (self.best_dir / METRICS_FILE).write_text(text)
        return payload


def collate_batch(groups, encoder, norm: dict | None = None):
    from training.student.data import collate

    batch = collate(groups, encoder)
    if norm:  # entries without a teacher score stay masked out, whatever their value
        batch["teacher"] = (batch["teacher"] - norm["mean"]) / norm["std"]
    return batch


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def train(args: TrainArgs) -> dict:
    return Trainer(args).run()
