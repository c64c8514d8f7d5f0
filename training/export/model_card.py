"""MODEL_CARD.md for an exported student version, from the export report and the checkpoint's
training metadata (``student.json``, the run's ``train_args.json`` and ``metrics.json``)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from training.base_models import MINILM_NAME
from training.export.recover import recovered_info


def training_command(args: dict | None) -> str:
    if not args:
        return "(unknown: the checkpoint has no train_args.json beside it)"
    parts = ["rerank", "train"]
    for label in args.get("labels", []):
        parts += ["--labels", str(label)]
    parts += ["--out", str(args.get("out")), "--loss", str(args.get("loss")),
              "--tcl" if args.get("tcl") else "--no-tcl"]
    for key in ("epochs", "batch_size", "group_size", "lr", "max_length", "seed", "base_model"):
        if args.get(key) is not None:
            parts += [f"--{key.replace('_', '-')}", str(args[key])]
    if args.get("bert_config"):
        parts += ["--bert-config", str(args["bert_config"]).replace("'", '"')]
    return shlex.join(parts)


def training_lineage(args: dict | None, max_depth: int = 8) -> list[dict]:
    """The ``train_args`` of every stage, earliest first: a run whose ``--base-model`` is another
    run's checkpoint (``RUN/best`` or ``RUN``) continues that run, so its card shows both commands."""
    chain = [args] if args else []
    while chain and chain[0].get("base_model") and len(chain) < max_depth:
        base = Path(chain[0]["base_model"])
        parent = next((json.loads(p.read_text()) for p in (base / "train_args.json", base.parent / "train_args.json")
                       if p.is_file()), None)
        if parent is None:
            break
        chain.insert(0, parent)
    return chain


def _starts_from_minilm(chain: list[dict]) -> bool:
    """The first stage of a ``training_lineage`` had no --base-model (so all-MiniLM-L6-v2) and no
    random --bert-config."""
    return bool(chain) and not chain[0].get("base_model") and not chain[0].get("bert_config")


def _describe_base(base_model) -> str:
    info = recovered_info(base_model)
    if not info:
        return str(base_model)
    return (f"`{base_model}`, rebuilt by `rerank recover` from `{info.get('recovered_from')}` "
            f"(model_version {info.get('served_model_version')}; that version's MODEL_CARD.md says how it was trained)")


def _licence_line(base_model, lineage: list[dict]) -> str:
    if "MiniLM" in str(base_model) or _starts_from_minilm(lineage):
        return f"- Base weights: {MINILM_NAME}, Apache-2.0."
    root = lineage[0].get("base_model") if lineage else base_model
    info = recovered_info(root)
    if info:
        return f"- Base weights: those of `{info.get('recovered_from')}`: see the licences in its MODEL_CARD.md."
    return f"- Base weights: {base_model}."


def base_weights_line(base_model, lineage: list[dict]) -> str:
    """What the weights started from: a later stage's ``--base-model`` is a local run folder, which
    tells a reader nothing, so a multi-stage student names the first stage's weights and the count;
    weights recovered from a served version name that version."""
    if len(lineage) > 1:
        root = MINILM_NAME if _starts_from_minilm(lineage) else _describe_base(lineage[0].get("base_model"))
        return (f"- Base weights: {root}, trained in {len(lineage)} stages (commands below); this export "
                f"continues `{base_model}`.")
    return f"- Base weights: {_describe_base(base_model)}."


def earlier_labels_line(lineage: list[dict]) -> list[str]:
    """The label files of the stages before the last (the card's teacher and labels are the last one's)."""
    if len(lineage) < 2:
        return []
    stages = "; ".join(f"stage {i}: " + ", ".join(f"`{p}`" for p in a.get("labels", []))
                       for i, a in enumerate(lineage[:-1], start=1))
    return [f"- Earlier stages' labels (their teachers are in those files' data cards): {stages}."]


def soup_lines(soup: dict | None) -> list[str]:
    """A ``rerank soup`` checkpoint has no training run of its own: name its ingredients instead."""
    if not soup:
        return []
    parts = ", ".join(f"`{i['checkpoint']}` ({i['weight']:.3g})" for i in soup.get("ingredients", []))
    return [f"- Weights: the weighted mean (`rerank soup`) of {parts}; each ingredient's training command "
            "is in its own folder's `train_args.json` (or, for a recovered version, that version's MODEL_CARD.md)."]


def command_lines(lineage: list[dict], soup: dict | None) -> list[str]:
    """The training commands of every stage; for a soup (no run of its own), the soup command."""
    if lineage:
        return [training_command(a) for a in lineage]
    if soup:
        return ["rerank soup " + " ".join(f"--checkpoint {i['checkpoint']}={i['weight']:.6g}"
                                          for i in soup.get("ingredients", [])) + " --out DIR"]
    return [training_command(None)]


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v))


LABEL_KINDS = {
    "listwise": "list-wise ranking of pre-ranked candidates; documents the teacher left out are hard negatives",
    "pointwise": "point-wise teacher scores of pre-ranked candidates; no hard negatives",
}


def label_kind(kind: str | None) -> str:
    if kind is None:
        return "teacher unknown"
    return LABEL_KINDS.get(kind, f"teacher kind: {kind}")


def render(report: dict, meta: dict, train_args: dict | None, train_metrics: dict | None) -> str:
    training = meta.get("training", {})
    teacher = training.get("teacher") or {}
    teacher_text = ", ".join(f"{k}: {v}" for k, v in teacher.items()) or "unknown"
    labels = training.get("labels") or []
    lineage = training_lineage(train_args)
    last_stage = " (last stage)" if len(lineage) > 1 else ""
    variants = report.get("variants", {})
    lines = [
        f"# Model card: {report['model_name']} version {report['version']} ({meta['model_version']})",
        "",
        "## Model",
        f"- RRA-BERT student: a BERT cross-encoder, `[CLS] query [SEP] document [SEP]`, score = linear head on "
        f"[CLS] (`BertForSequenceClassification`, one logit). Max length {meta['max_length']} tokens, "
        "document side truncated (`only_second`).",
        *(soup_lines(meta.get("soup")) or [base_weights_line(meta.get("base_model"), lineage)]),
        f"- Served variant: **{report['served']}** (ONNX opset {report.get('opset')}); inputs int64 "
        "`input_ids`/`attention_mask`/`token_type_ids` [batch, sequence], output `logits` float32 [batch, 1].",
        "- Trained with Token Selection + Term Control Layer: " + ("yes" if training.get("tcl") else "no")
        + " (the TCL is a training-only head; it is not in the exported graph).",
        "",
        "## Teacher and labels",
        f"- Teacher{last_stage}: {teacher_text}.",
        f"- Labels{last_stage}: " + (", ".join(f"`{p}`" for p in labels) or "unknown")
        + f" ({label_kind(teacher.get('kind'))}).",
        *earlier_labels_line(lineage),
        f"- Loss: {training.get('loss', 'unknown')}; steps: {training.get('global_step', '-')}.",
        "",
        "## Training command" + (" (stages in order; each later one starts from the one before)"
                                 if len(lineage) > 1 else ""),
        "```",
        *command_lines(lineage, meta.get("soup")),
        "```",
        "",
        "## Metrics",
    ]
    if train_metrics and train_metrics.get("best"):
        best = train_metrics["best"]
        lines.append(f"- Checkpoint selected on `{best['on']}` (nDCG@10 {_fmt(best['value'])}), epoch {best['epoch']}.")
        record = next((h for h in train_metrics.get("history", []) if h.get("epoch") == best["epoch"]), None)
        for name, cell in (record or {}).get("eval", {}).items():
            lines.append(f"- {name} (PyTorch, {cell.get('queries')} queries): nDCG@10 {_fmt(cell.get('ndcg@10'))}, "
                         f"MRR@10 {_fmt(cell.get('mrr@10'))}, PNR {_fmt(cell.get('pnr'))}.")
    eval_name = report.get("eval_set", "dl19")
    lines += ["", f"Export variants on {eval_name} ({report.get('eval_queries')} queries, this machine's CPU):", "",
              "| variant | nDCG@10 | pairs/s | parity max abs diff vs PyTorch | used |", "|---|---|---|---|---|"]
    for name, v in variants.items():
        parity = v.get("parity") or {}
        diff = parity.get("max_abs_diff")
        lines.append(f"| {name} | {_fmt(v.get('ndcg@10'))} | {v.get('pairs_per_s', '-')} | "
                     f"{'-' if diff is None else f'{diff:.1e}'} | {'**served**' if name == report['served'] else v.get('status', '')} |")
    int8 = report.get("int8_guard") or {}
    if int8:
        lines += ["", f"int8 guard: nDCG@10 drop {_fmt(int8.get('drop'))} vs {int8.get('reference')} "
                  f"(allowed {_fmt(int8.get('max_drop'))}) -> {'accepted' if int8.get('accepted') else 'refused'}."]
    lines += [
        "",
        "## Limits",
        "- English only (uncased WordPiece vocabulary of MiniLM); documents beyond "
        f"{meta['max_length']} tokens are cut.",
        "- Scores are teacher-scale logits, comparable within one query, not calibrated probabilities.",
        "- The int8 model is quantized for the instruction set named in `rerank.json` (`quantization.arch`); on "
        "other CPUs use the fp32 variant or re-export.",
        "- Quality follows the teacher: the student learns the teacher's ranking, including its mistakes.",
        "",
        "## Licences",
        ("- Base weights: those of the soup's ingredients (above): see their licences."
         if meta.get("soup") else _licence_line(meta.get("base_model"), lineage)),
        "- Teacher: see the teacher's own licence (SmolLM2 is Apache-2.0).",
        "- Evaluation/label data keep their terms: MS MARCO / TREC DL non-commercial research only; SciFact "
        "CC BY-NC; NFCorpus for research. A student trained on labels built from such data inherits those limits.",
        "- This code: Apache-2.0.",
        "",
    ]
    return "\n".join(lines)
