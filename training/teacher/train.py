"""The training loop shared by every teacher stage: seeded, resumable, bounded in time.

Layout under ``out`` (e.g. ``artifacts/teacher/sft``):
- ``out/``        the finished teacher folder (``model.save_ranker``), written at the end or when
                  ``max_minutes`` runs out (so a stopped run is still usable);
- ``out.ckpt/``   the resume point: trainable weights, optimizer, scheduler, step, RNG, config;
                  written every ``save_every`` steps and at the end (kept: more ``--steps`` extend).
- ``out.log.jsonl`` one line of losses per step.

Re-running the same command continues from ``out.ckpt`` (``steps`` and ``max_minutes`` may change;
everything else must match). Example ``i`` of the data is a function of (seed, i), so a resumed
run sees the same examples as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Fields that may change between a run and its resumption.
RESUMABLE_CHANGES = {"steps", "max_minutes", "stop_after", "save_every", "threads", "progress"}


@dataclass
class TrainConfig:
    stage: str                       # cpt | sft | rra-gpt
    out: str
    init: str | None = None          # a teacher/LLM folder; default: the base SmolLM2
    steps: int = 60
    batch_size: int = 4              # groups (cpt: pairs) per micro-batch
    grad_accum: int = 1
    lr: float = 5e-5                 # backbone layers that train
    head_lr: float = 1e-3            # the new dense head
    warmup: int = 5
    max_grad_norm: float = 1.0
    max_length: int = 128
    max_query_tokens: int = 32
    train_layers: int = 4            # top decoder layers that train (-1 = all)
    num_hard: int = 1                # BM25 negatives per group
    num_random: int = 1              # random negatives per group
    loss: str = "margin"             # sft: margin (T) | ranknet
    margin: float = 0.1
    w_gen: float = 1.0               # rra-gpt term weights (0 = ablated)
    w_rank: float = 1.0
    w_clf: float = 1.0
    gen_target: str = "document"     # rra-gpt L_gen: document | reason
    sources: list[str] = field(default_factory=lambda: ["nfcorpus", "scifact", "msmarco"])
    mix: str = "balanced"
    max_queries: int | None = None   # per source
    seed: int = 0
    save_every: int = 10
    max_minutes: float | None = None
    stop_after: int | None = None    # stop (and save) after this many steps in this session
    threads: int | None = None
    progress: bool = True

    def identity(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in RESUMABLE_CHANGES}


def _ckpt_dir(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def _trainable_state(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(ckpt: Path, model, optimizer, scheduler, step: int, cfg: TrainConfig, log_tail: list) -> None:
    import torch

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(_trainable_state(model), tmp / "trainable.pt")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state()}, tmp / "optim.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "config": cfg.identity(), "log_tail": log_tail},
                                               indent=2), encoding="utf-8")
    if ckpt.exists():
        shutil.rmtree(ckpt)
    tmp.rename(ckpt)


def _lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        # linear decay to 10% at ``total``; constant after that (a run extended with more steps)
        frac = min(1.0, (step - warmup) / max(1, total - warmup))
        return max(0.1, 1.0 - 0.9 * frac)
    return f


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) one stage; returns the teacher folder."""
    import torch
    from tqdm import tqdm

    from training.base_models import smollm_path
    from training.teacher.data import GroupSampler, assert_train_only, load_pools
    from training.teacher.model import PairEncoder, TeacherMeta, freeze_lower_layers, load_ranker, save_ranker
    from training.teacher.objectives import LossWeights, Objective

    out = Path(cfg.out)
    ckpt = _ckpt_dir(out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if (out / "teacher.json").exists():
        meta = TeacherMeta.load(out)
        if meta.step >= cfg.steps and meta.stage == cfg.stage:
            print(f"{out}: already trained ({meta.stage}, {meta.step} steps); delete it to retrain")
            return out
    torch.manual_seed(cfg.seed)
    init = Path(cfg.init) if cfg.init else smollm_path()
    model, tokenizer, parent_meta, eos = load_ranker(init, seed=cfg.seed)
    if cfg.stage != "cpt" and not (init / "score_head.pt").exists():
        print(f"dense head: new (zero-initialised); backbone from {init}")
    n_train = freeze_lower_layers(model, cfg.train_layers)
    if cfg.stage == "cpt" and cfg.train_layers == 0:
        raise ValueError("continued pre-training trains decoder layers: use --train-layers > 0")
    if cfg.stage == "cpt":
        for p in model.head.parameters():  # the head is not part of generation
            p.requires_grad_(False)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    encoder = PairEncoder(tokenizer, eos, cfg.max_length, cfg.max_query_tokens)
    pools = load_pools(cfg.sources, cfg.max_queries)
    assert_train_only(pools)
    sampler = GroupSampler(pools, seed=cfg.seed, num_hard=cfg.num_hard, num_random=cfg.num_random, mix=cfg.mix)
    objective = Objective(cfg.stage, model, encoder, sampler, loss=cfg.loss, margin=cfg.margin,
                          weights=LossWeights(cfg.w_gen, cfg.w_rank, cfg.w_clf), gen_target=cfg.gen_target)

    head_params = [p for p in model.head.parameters() if p.requires_grad]
    body_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    groups = [{"params": body_params, "lr": cfg.lr}] + ([{"params": head_params, "lr": cfg.head_lr}] if head_params else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg.warmup, cfg.steps))

    step, log_tail = 0, []
    if ckpt.exists():
        state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
        if state["config"] != cfg.identity():
            diff = {k for k in cfg.identity() if state["config"].get(k) != cfg.identity()[k]}
            raise ValueError(f"{ckpt} was made with other settings ({', '.join(sorted(diff))}); "
                             "use the same flags, or delete it to start over")
        params = dict(model.named_parameters())
        for name, value in torch.load(ckpt / "trainable.pt", weights_only=True).items():
            params[name].data.copy_(value)
        opt = torch.load(ckpt / "optim.pt", weights_only=False)
        optimizer.load_state_dict(opt["optimizer"])
        scheduler.load_state_dict(opt["scheduler"])
        torch.set_rng_state(opt["torch_rng"])
        step, log_tail = state["step"], state.get("log_tail", [])
        print(f"resuming {cfg.stage} from step {step} ({ckpt})")

    meta = TeacherMeta(stage=cfg.stage, max_length=cfg.max_length, max_query_tokens=cfg.max_query_tokens,
                       parent=str(init), base_model=parent_meta.base_model, train=asdict(cfg))
    log_path = out.with_name(out.name + ".log.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{cfg.stage}: {n_train / 1e6:.1f}M trainable parameters (top {cfg.train_layers} layers + head), "
          f"{sum(len(p.queries) for p in pools)} train queries from {', '.join(p.name for p in pools)}")

    model.train()
    started = time.time()
    per_step = cfg.batch_size * cfg.grad_accum
    bar = tqdm(total=cfg.steps, initial=step, desc=f"teacher {cfg.stage}", unit="step", disable=not cfg.progress)
    stopped_early = False
    session_start = step
    while step < cfg.steps:
        out_of_time = cfg.max_minutes is not None and (time.time() - started) / 60 >= cfg.max_minutes
        if out_of_time or (cfg.stop_after is not None and step - session_start >= cfg.stop_after):
            stopped_early = True
            break
        optimizer.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        total = 0.0
        for micro in range(cfg.grad_accum):
            first = step * per_step + micro * cfg.batch_size
            loss, parts = objective(list(range(first, first + cfg.batch_size)))
            (loss / cfg.grad_accum).backward()
            total += loss.item() / cfg.grad_accum
            for k, v in parts.items():
                logs[k] = logs.get(k, 0.0) + v / cfg.grad_accum
        if not math.isfinite(total):
            raise FloatingPointError(f"loss is {total} at step {step}")
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        record = {"step": step, "loss": round(total, 5), **{k: round(v, 5) for k, v in logs.items()},
                  "lr": scheduler.get_last_lr()[0], "elapsed_s": round(time.time() - started, 1)}
        log_tail = (log_tail + [record])[-20:]
        with log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})
        bar.update(1)
        if step % cfg.save_every == 0 and step < cfg.steps:  # the last step is saved below
            _save_checkpoint(ckpt, model, optimizer, scheduler, step, cfg, log_tail)
    bar.close()

    model.eval()
    meta.step = step
    _save_checkpoint(ckpt, model, optimizer, scheduler, step, cfg, log_tail)
    if stopped_early:
        print(f"stopped at step {step}/{cfg.steps} (time or --stop-after); saved a usable teacher, rerun to continue")
    save_ranker(model, tokenizer, meta, out, with_head=cfg.stage != "cpt")
    print(f"wrote {out} (stage {cfg.stage}, step {step}); log {log_path}")
    return out
