"""``rerank recover``: a served model-repository version (ONNX, fp32 or int8) -> a trainable student
checkpoint (training.export.recover), checked against the graph it came from on real pairs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recover", help="rebuild a trainable checkpoint from an exported ONNX student",
                       description="The repository keeps only the served ONNX graphs; this writes the weights "
                                   "they hold back as a checkpoint for `rerank train --base-model` and "
                                   "`--scorer student:DIR`. Exits 1 when the checkpoint does not score like its source.")
    p.add_argument("--model", required=True, metavar="PATH",
                   help="an .onnx file or a version directory, e.g. model_repository/rerank-student/8")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--config-from", metavar="DIR",
                   help="BERT folder with the same architecture (default: all-MiniLM-L6-v2)")
    p.add_argument("--check-pairs", type=int, default=300, help="real DL19 pairs for the agreement check (0: skip)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from training.base_models import minilm_path
    from training.export.recover import check_agreement, recover_checkpoint
    from training.student.config import StudentConfig

    info = recover_checkpoint(args.model, args.out, args.config_from or minilm_path())
    if args.check_pairs > 0:
        try:
            info["agreement"] = check_agreement(args.out, args.model, args.check_pairs)
        except ValueError as err:
            print(f"error: {err}; do not train from {args.out}", file=sys.stderr)
            return 1
        StudentConfig.load(args.out).save(args.out, {"recovered": info})
    print(json.dumps(info, indent=2))
    return 0
