"""``rerank``: the project's one command line. Each subcommand lives in its own module that
defines ``register(subparsers)``; modules keep heavy imports (torch, onnxruntime) inside their
handlers so ``rerank --help`` and light commands start fast."""

from __future__ import annotations

import argparse
import importlib
import sys

# Order = order in --help. Later issues append their modules here.
COMMAND_MODULES = [
    "training.commands.eval",
    "training.commands.bm25",
    "training.commands.suite",
    "training.commands.teacher",
    "training.commands.label",
    "training.commands.train",
    "training.commands.export",
    "service.cli",
    "service.triton_cli",
    "training.commands.relabel",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rerank", description="LLM-distilled re-ranking: training, evaluation and serving."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"rerank {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
