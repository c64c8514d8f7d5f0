"""``rerank export``: checkpoint -> ONNX fp32 (parity-checked) -> ORT-optimized -> int8 -> served version.

Sequence and rules:

1. Export the inference graph (TCL removed) to ``WORK/fp32/model.onnx``.
2. Parity: ONNX fp32 vs PyTorch on ``parity_pairs`` real DL19 pairs; a max abs diff above
   ``parity_tol`` (1e-4) raises ``ExportError`` (non-zero exit, nothing written to the repository).
3. ORT optimization; the optimized graph must pass the same parity check, else it is left out.
4. Dynamic int8 quantization of the fp32 graph.
5. nDCG@10 of every variant on ``eval_set`` (DL19), through the ``onnx`` scorer.
6. int8 guard: int8 is served only if it loses at most ``max_int8_drop`` nDCG@10 against the best
   float variant. Refused: ``on_int8_reject="fallback"`` serves that float variant (exit 0, said in
   the report); ``"fail"`` raises ``Int8Rejected`` (non-zero exit, nothing written).
7. Write ``model_repository/<model>/<version>/`` + MODEL_CARD.md; the report goes to
   ``WORK/export_report.json`` and, summarised, into ``rerank.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from training import paths


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch scores."""


class Int8Rejected(ExportError):
    """The int8 model lost too much nDCG@10 and ``on_int8_reject`` is ``fail``."""


@dataclass
class ExportOptions:
    checkpoint: str
    model_repository: str | None = None
    model_name: str = "rerank-student"
    version: int | None = None
    model_version: str | None = None
    work_dir: str | None = None
    overwrite: bool = False
    opset: int | None = None
    parity_pairs: int = 1000
    parity_tol: float = 1e-4
    optimize: bool = True
    optimization_level: int = 2
    quantize: bool = True
    quant_arch: str = "auto"
    per_channel: bool = False
    int8_keep_float: list[str] | None = None   # regexes on ONNX node names left in fp32
    max_int8_drop: float = 0.005
    on_int8_reject: str = "fallback"   # or "fail"
    eval_set: str = "dl19"
    eval_limit_queries: int | None = None
    batch_size: int = 32
    write_repository: bool = True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _evaluate(model_path: Path, tokenizer: Path, max_length: int, opts: ExportOptions) -> dict:
    from training.data import read_hits, read_qrels
    from training.data.datasets import ensure_candidates, eval_sets
    from training.evaluate.runner import evaluate
    from training.evaluate.scorers.onnx_runtime import OnnxScorer

    es = ensure_candidates(eval_sets()[opts.eval_set])
    queries = read_hits(es.candidates, limit_queries=opts.eval_limit_queries)
    scorer = OnnxScorer(model_path, batch_size=opts.batch_size, max_length=max_length, tokenizer_path=tokenizer)
    m = evaluate(scorer, queries, read_qrels(es.qrels), rel_level=es.rel_level, progress=False).metrics
    return {"ndcg@10": m["ndcg@10"], "mrr@10": m["mrr@10"], "queries": m["queries"],
            "pairs_per_s": round(m["pairs_per_s"], 1)}


def decide_served(variants: dict, float_choice: str, max_drop: float, on_reject: str) -> tuple[str, dict]:
    """The int8 guard: serve int8 only if its nDCG@10 is at most ``max_drop`` below the float
    variant's; otherwise the float variant (the caller fails instead when ``on_reject == "fail"``)."""
    reference = variants[float_choice]["ndcg@10"]
    drop = reference - variants["int8"]["ndcg@10"]
    accepted = drop <= max_drop
    guard = {"reference": float_choice, "drop": drop, "max_drop": max_drop, "accepted": accepted,
             "on_reject": on_reject}
    return ("int8" if accepted else float_choice), guard


def _make_scorable(model_path: Path, tokenizer: Path, max_length: int) -> Path:
    """Put the tokenizer and max_length beside a variant, so ``onnx:WORK/<variant>/...`` scores it
    exactly as the served version is scored."""
    shutil.copy2(tokenizer, model_path.parent / "tokenizer.json")
    (model_path.parent / "rerank.json").write_text(json.dumps({"max_length": max_length}) + "\n")
    return model_path


def export_student(opts: ExportOptions, log=print) -> dict:
    from training.evaluate.scorers.student import resolve_checkpoint
    from training.export import model_card, onnx_export, parity, repository, variants
    from training.student.config import CONFIG_FILE
    from training.student.encoding import PairEncoder

    if opts.on_int8_reject not in ("fallback", "fail"):
        raise ValueError("on_int8_reject must be 'fallback' or 'fail'")
    ckpt = resolve_checkpoint(opts.checkpoint)
    student_meta = json.loads((ckpt / CONFIG_FILE).read_text())
    max_length = int(student_meta.get("max_length", 256))
    repo = Path(opts.model_repository) if opts.model_repository else paths.model_repository_dir()
    version = opts.version or repository.next_version(repo, opts.model_name)
    work = Path(opts.work_dir) if opts.work_dir else paths.artifacts_dir() / "export" / f"{opts.model_name}-v{version}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    report: dict = {"checkpoint": str(ckpt), "model_name": opts.model_name, "version": version,
                    "options": asdict(opts), "eval_set": opts.eval_set, "variants": {}}

    def save_report() -> None:
        (work / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")

    # 1. export (inference graph only) + a tokenizer file without baked-in padding/truncation
    log(f"exporting {ckpt} (TCL left out) to ONNX ...")
    fp32 = onnx_export.export_onnx(ckpt, work / "fp32", opts.opset)
    report["opset"] = onnx_export.check_signature(fp32)["opset"]
    tokenizer = repository.write_clean_tokenizer(ckpt / "tokenizer.json", work / "tokenizer.json")
    encoder = PairEncoder(tokenizer, max_length)
    _make_scorable(fp32, tokenizer, max_length)

    # 2. parity on real pairs
    pairs = parity.real_pairs(opts.parity_pairs)
    reference = parity.torch_scores(ckpt, pairs, encoder, opts.batch_size)
    fp32_parity = parity.compare(reference, parity.onnx_scores(fp32, pairs, encoder, opts.batch_size), opts.parity_tol)
    report["variants"]["fp32"] = {"path": str(fp32), "parity": fp32_parity.as_json()}
    log(f"parity fp32 vs PyTorch on {fp32_parity.pairs} DL19 pairs: max abs diff {fp32_parity.max_abs_diff:.2e} "
        f"(tolerance {opts.parity_tol:.0e})")
    if not fp32_parity.ok:
        report["error"] = "fp32 parity failed"
        save_report()
        raise ExportError(f"ONNX fp32 differs from PyTorch by {fp32_parity.max_abs_diff:.3e} > {opts.parity_tol:.0e}")

    # 3. ORT graph optimization (kept only if it passes the same parity check)
    float_choice = "fp32"
    if opts.optimize:
        opt_path = _make_scorable(variants.optimize(fp32.parent, work / "optimized", opts.optimization_level),
                                  tokenizer, max_length)
        opt_parity = parity.compare(reference, parity.onnx_scores(opt_path, pairs, encoder, opts.batch_size),
                                    opts.parity_tol)
        report["variants"]["optimized"] = {"path": str(opt_path), "parity": opt_parity.as_json(),
                                           "level": opts.optimization_level}
        log(f"parity optimized (O{opts.optimization_level}) vs PyTorch: max abs diff {opt_parity.max_abs_diff:.2e}")
        if opt_parity.ok:
            float_choice = "optimized"
        else:
            report["variants"]["optimized"]["status"] = "left out: parity"

    # 4. dynamic int8
    if opts.quantize:
        q_path, arch, kept_float = variants.quantize(fp32.parent, work / "int8", opts.quant_arch, opts.per_channel,
                                                     opts.int8_keep_float)
        _make_scorable(q_path, tokenizer, max_length)
        # int8 is not expected to match to 1e-4: its diff is reported, its quality is guarded in step 6
        q_parity = parity.compare(reference, parity.onnx_scores(q_path, pairs, encoder, opts.batch_size), 0.0)
        report["variants"]["int8"] = {"path": str(q_path),
                                      "parity": {k: v for k, v in q_parity.as_json().items() if k not in ("ok", "tolerance")},
                                      "quantization": {"arch": arch, "mode": "dynamic", "per_channel": opts.per_channel,
                                                       "float_nodes": kept_float}}

    # 5. quality of every variant
    for name, v in report["variants"].items():
        v.update(_evaluate(Path(v["path"]), tokenizer, max_length, opts))
        log(f"{name:>9}: {opts.eval_set} nDCG@10 {v['ndcg@10']:.4f} ({v['queries']} queries, {v['pairs_per_s']} pairs/s)")
    report["eval_queries"] = report["variants"]["fp32"]["queries"]

    # 6. int8 guard
    served = float_choice
    if opts.quantize:
        served, report["int8_guard"] = decide_served(report["variants"], float_choice, opts.max_int8_drop,
                                                     opts.on_int8_reject)
        if served != "int8":
            report["variants"]["int8"]["status"] = "refused: nDCG@10 drop"
            log(f"int8 refused: nDCG@10 drop {report['int8_guard']['drop']:.4f} > {opts.max_int8_drop}")
            if opts.on_int8_reject == "fail":
                report["error"] = "int8 refused"
                save_report()
                raise Int8Rejected(f"int8 loses {report['int8_guard']['drop']:.4f} nDCG@10 "
                                   f"(> {opts.max_int8_drop}); nothing written")
            log(f"serving {float_choice} instead (--on-int8-reject fallback)")
    report["served"] = served
    served_path = Path(report["variants"][served]["path"])

    # 7. the model repository version
    run_dir = ckpt.parent if ckpt.name == "best" else ckpt
    digest = _sha256(served_path)
    model_version = opts.model_version or f"{run_dir.name}-{served}-{digest[:8]}"
    meta = {
        "max_length": max_length, "model_version": model_version,
        "base_model": student_meta.get("base_model"), "variant": served, "opset": report["opset"],
        "truncation": "only_second", "inputs": list(onnx_export.EXPECTED_INPUTS), "output": "logits",
        "sha256": digest, "source_checkpoint": str(ckpt),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "training": student_meta.get("training", {}),
        "soup": student_meta.get("soup"),
        "quantization": report["variants"].get("int8", {}).get("quantization") if served == "int8" else None,
        "metrics": {name: {k: v.get(k) for k in ("ndcg@10", "mrr@10", "queries", "pairs_per_s")}
                    | {"parity_max_abs_diff": v["parity"]["max_abs_diff"]}
                    for name, v in report["variants"].items()},
        "eval_set": opts.eval_set,
    }
    report["model_version"] = model_version
    if opts.write_repository:
        card = model_card.render(report, meta, _read_json(run_dir / "train_args.json"),
                                 _read_json(run_dir / "metrics.json") or _read_json(ckpt / "metrics.json"))
        target = repository.write_version(repo, opts.model_name, version, served_path, tokenizer, meta, card,
                                          overwrite=opts.overwrite)
        report["version_dir"] = str(target)
        log(f"wrote {target} ({served}, model_version {model_version})")
    save_report()
    return report
