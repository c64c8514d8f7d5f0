"""``rerank export``: a student checkpoint -> ONNX (parity-checked), ORT-optimized and int8 variants,
guarded by nDCG@10 on DL19 -> a model-repository version (training.export.pipeline)."""

from __future__ import annotations

import argparse

EXIT_PARITY = 1
EXIT_INT8_REFUSED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a student checkpoint to ONNX into the model repository",
                       description="Exits 1 when ONNX and PyTorch scores differ beyond --parity-tol, "
                                   "3 when int8 is refused and --on-int8-reject fail.")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="student checkpoint or `rerank train` run folder")
    p.add_argument("--model-repository", metavar="DIR", help="default: model_repository/ (RERANK_MODEL_REPOSITORY)")
    p.add_argument("--model-name", default="rerank-student")
    p.add_argument("--version", type=int, help="version folder (default: the next free integer)")
    p.add_argument("--model-version", help="label stored in rerank.json (default: RUN-VARIANT-SHA8)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version folder")
    p.add_argument("--work-dir", metavar="DIR", help="intermediate files + export_report.json (default: artifacts/export/...)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: optimum's recommended one)")
    p.add_argument("--parity-pairs", type=int, default=1000, help="real DL19 pairs for the parity check")
    p.add_argument("--parity-tol", type=float, default=1e-4, help="max abs score diff ONNX fp32 vs PyTorch")
    p.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True, help="ORT graph optimization")
    p.add_argument("--optimization-level", type=int, default=2, choices=[1, 2, 99])
    p.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=True, help="dynamic int8 variant")
    p.add_argument("--quant-arch", default="auto", choices=["auto", "avx2", "avx512", "avx512_vnni", "arm64"])
    p.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=False,
                   help="per-channel int8 weights")
    p.add_argument("--int8-keep-float", action="append", metavar="REGEX",
                   help="leave ONNX nodes whose name matches in fp32 (repeatable), e.g. 'layer\\.\\d+/output/dense/MatMul' or 'embeddings/'")
    p.add_argument("--max-int8-drop", type=float, default=0.005, help="largest nDCG@10 loss int8 may cost")
    p.add_argument("--on-int8-reject", default="fallback", choices=["fallback", "fail"],
                   help="fallback: serve the float model; fail: exit 3 and write nothing")
    p.add_argument("--eval-set", default="dl19", help="named set for the per-variant nDCG@10")
    p.add_argument("--eval-limit-queries", type=int, help="first N queries only (tests)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-repository", action="store_true", help="check and measure only; write no version")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from training.export.pipeline import ExportError, ExportOptions, Int8Rejected, export_student

    opts = ExportOptions(
        checkpoint=args.checkpoint, model_repository=args.model_repository, model_name=args.model_name,
        version=args.version, model_version=args.model_version, work_dir=args.work_dir, overwrite=args.overwrite,
        opset=args.opset, parity_pairs=args.parity_pairs, parity_tol=args.parity_tol, optimize=args.optimize,
        optimization_level=args.optimization_level, quantize=args.quantize, quant_arch=args.quant_arch,
        per_channel=args.per_channel, int8_keep_float=args.int8_keep_float, max_int8_drop=args.max_int8_drop,
        on_int8_reject=args.on_int8_reject,
        eval_set=args.eval_set, eval_limit_queries=args.eval_limit_queries, batch_size=args.batch_size,
        write_repository=not args.no_repository,
    )
    try:
        report = export_student(opts)
    except Int8Rejected as exc:
        print(f"rerank export: refused: {exc}", file=sys.stderr)
        return EXIT_INT8_REFUSED
    except ExportError as exc:
        print(f"rerank export: parity check failed: {exc}", file=sys.stderr)
        return EXIT_PARITY
    print(f"served variant: {report['served']} -> {report.get('version_dir', '(not written: --no-repository)')}")
    return 0
