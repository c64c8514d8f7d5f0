"""Weight averaging ("model soup", Wortsman et al. 2022; WiSE-FT when one ingredient is the parent)
of student checkpoints that share one architecture and tokenizer.

Averaging is only meaningful for checkpoints fine-tuned from one parent (they sit in one basin of
the loss); for two students trained from scratch it gives a broken model, and the only guard is
evaluating the soup. The result is an inference checkpoint: the TCL is training-only and is not
averaged (a later ``rerank train --tcl`` stage trains a fresh one).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from training.student.config import CONFIG_FILE, StudentConfig

WEIGHTS_FILE = "model.safetensors"
# config.json keys that decide the graph; anything else (e.g. "_name_or_path") may differ
ARCHITECTURE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "vocab_size", "max_position_embeddings", "type_vocab_size", "num_labels")


def parse_ingredient(spec: str) -> tuple[str, float | None]:
    """``DIR`` or ``DIR=WEIGHT`` (a folder name may itself contain '=', so split on the last one)."""
    path, sep, weight = spec.rpartition("=")
    if not sep:
        return spec, None
    try:
        return path, float(weight)
    except ValueError:
        return spec, None


def normalised_weights(weights: list[float | None]) -> list[float]:
    """Unweighted ingredients share what the weighted ones leave (all unweighted: uniform); the
    result sums to 1."""
    if any(w is not None and w < 0 for w in weights):
        raise ValueError(f"soup weights must be >= 0, got {weights}")
    given = sum(w for w in weights if w is not None)
    free = [i for i, w in enumerate(weights) if w is None]
    if free:
        if given > 1:
            raise ValueError(f"the given weights sum to {given} > 1; nothing is left for {len(free)} unweighted ingredient(s)")
        share = (1 - given) / len(free)
        weights = [share if w is None else w for w in weights]
    total = sum(weights)
    if total <= 0:
        raise ValueError("soup weights sum to 0")
    return [w / total for w in weights]


def _architecture(directory: Path) -> dict:
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    return {k: config.get(k) for k in ARCHITECTURE_KEYS}


def _vocab_digest(directory: Path) -> str:
    return hashlib.sha256((directory / "vocab.txt").read_bytes()).hexdigest()


def _check_compatible(dirs: list[Path]) -> None:
    for d in dirs:
        for name in ("config.json", WEIGHTS_FILE, "vocab.txt", CONFIG_FILE):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d} is not a student checkpoint: no {name}")
    first, architecture, vocab = dirs[0], _architecture(dirs[0]), _vocab_digest(dirs[0])
    for d in dirs[1:]:
        other = _architecture(d)
        if other != architecture:
            diff = {k: (architecture[k], other[k]) for k in architecture if architecture[k] != other[k]}
            raise ValueError(f"{d} has another architecture than {first}: {diff}")
        if _vocab_digest(d) != vocab:
            raise ValueError(f"{d} has another tokenizer vocabulary than {first}")


def average_state_dicts(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """sum_i w_i * state_i, key by key, in float32 (then back to each tensor's dtype)."""
    keys = set(states[0])
    for i, state in enumerate(states[1:], start=1):
        if set(state) != keys:
            missing, extra = sorted(keys - set(state)), sorted(set(state) - keys)
            raise ValueError(f"ingredient {i} has other tensors than ingredient 0: missing {missing[:5]}, extra {extra[:5]}")
    out = {}
    for key in states[0]:
        shapes = {tuple(s[key].shape) for s in states}
        if len(shapes) > 1:
            raise ValueError(f"tensor {key} has different shapes: {sorted(shapes)}")
        ref = states[0][key]
        if not ref.is_floating_point():  # e.g. position_ids: identical buffers, not weights
            out[key] = ref.clone()
            continue
        acc = torch.zeros_like(ref, dtype=torch.float32)
        for state, w in zip(states, weights):
            acc += w * state[key].to(torch.float32)
        out[key] = acc.to(ref.dtype)
    return out


def make_soup(ingredients: list[tuple[str | Path, float | None]], out: str | Path) -> dict:
    """Write the weighted average of the ingredients' BERT weights to ``out`` as a student checkpoint
    (the first ingredient's config, tokenizer and student.json, TCL off); returns what it did, which
    is also stored in ``student.json`` under ``soup``."""
    from safetensors.torch import load_file

    from training.student.model import RRABert

    if len(ingredients) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    dirs = [Path(p) for p, _ in ingredients]
    weights = normalised_weights([w for _, w in ingredients])
    _check_compatible(dirs)
    out = Path(out)
    if out.resolve() in {d.resolve() for d in dirs}:
        raise ValueError(f"--out {out} is one of the ingredients")
    averaged = average_state_dicts([load_file(str(d / WEIGHTS_FILE)) for d in dirs], weights)

    # the first ingredient without its TCL, given the averaged weights, saved the way training saves
    model = RRABert.load(dirs[0], with_tcl=False)
    model.bert.load_state_dict(averaged)
    info = {
        "ingredients": [{"checkpoint": str(d), "weight": w} for d, w in zip(dirs, weights)],
        "tensors": len(averaged),
        "max_lengths": sorted({StudentConfig.load(d).max_length for d in dirs}),
    }
    model.save(out, dirs[0], extra={"soup": info})
    return info
