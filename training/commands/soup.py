"""``rerank soup``: average the weights of student checkpoints fine-tuned from one parent
(training.student.soup) into a new checkpoint for ``rerank eval``/``suite``/``export``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("soup", help="average the weights of student checkpoints that share a parent",
                       description="A model soup: the weighted mean of each weight tensor of two or more student "
                                   "checkpoints with one architecture and tokenizer (e.g. a parent and its "
                                   "fine-tune: WiSE-FT). Meaningful only for checkpoints fine-tuned from one "
                                   "parent; evaluate the result. The TCL (training-only) is not averaged.")
    p.add_argument("--checkpoint", action="append", required=True, metavar="DIR[=WEIGHT]",
                   help="repeatable; a student checkpoint folder, optionally with its weight (default: "
                        "what the weighted ones leave, shared equally; weights are normalised to sum 1)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from training.student.soup import make_soup, parse_ingredient

    info = make_soup([parse_ingredient(spec) for spec in args.checkpoint], args.out)
    print(json.dumps(info, indent=2))
    return 0
