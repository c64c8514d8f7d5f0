"""``rerank``: the project's one command line. Each subcommand lives in its own module that
defines ``register(subparsers)``; modules keep heavy imports (torch, onnxruntime) inside their
handlers so ``rerank --help`` and light commands start fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# Order = order in --help. Later issues append their modules here.
COMMAND_MODULES = [
    "training.commands.eval",
    "training.commands.bm25",
    "training.commands.suite",
    "training.commands.seeds",
    "training.commands.teacher",
    "training.commands.label",
    "training.commands.train",
    "training.commands.export",
    "training.commands.recover",
    "training.commands.soup",
    "service.cli",
    "service.triton_cli",
    "training.commands.relabel",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rerank", description="LLM-distilled re-ranking: training, evaluation and serving."
    )
    parser.add_argument("--data-dir", help="shared benchmark data (default: $RERANK_DATA_DIR or ../shared/data)")
    parser.add_argument("--artifacts-dir", help="generated files (default: $RERANK_ARTIFACTS_DIR or ./artifacts)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # training.paths reads these at call time, so one place serves every subcommand
    if args.data_dir:
        os.environ["RERANK_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if args.artifacts_dir:
        os.environ["RERANK_ARTIFACTS_DIR"] = str(Path(args.artifacts_dir).resolve())
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"rerank {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
