"""ONNX vs PyTorch on real query/document pairs (DL19 BM25 candidates), same encoded batches."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class ParityResult:
    pairs: int
    max_abs_diff: float
    mean_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def as_json(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def real_pairs(n: int, dataset: str = "dl19") -> list[tuple[str, str]]:
    """``n`` (query, passage) pairs taken round-robin over the set's queries (every query's first
    candidate, then every query's second, ...), so lengths and topics vary."""
    from training.data import read_hits
    from training.data.datasets import ensure_candidates, eval_sets

    queries = read_hits(ensure_candidates(eval_sets()[dataset]).candidates)
    pairs: list[tuple[str, str]] = []
    depth = max((len(q.candidates) for q in queries), default=0)
    for r in range(depth):
        for q in queries:
            if r < len(q.candidates):
                pairs.append((q.query, q.candidates[r].text))
                if len(pairs) >= n:
                    return pairs
    return pairs


def torch_scores(checkpoint: Path, pairs: Sequence[tuple[str, str]], encoder, batch_size: int = 32) -> np.ndarray:
    import torch

    from training.student.model import RRABert

    model = RRABert.load(checkpoint, with_tcl=False).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            enc = encoder.encode_pairs(pairs[start : start + batch_size])
            out.append(model(**{k: torch.from_numpy(v) for k, v in enc.items()}).score.float().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def onnx_scores(model_path: Path, pairs: Sequence[tuple[str, str]], encoder, batch_size: int = 32) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    out = []
    for start in range(0, len(pairs), batch_size):
        enc = encoder.encode_pairs(pairs[start : start + batch_size])
        out.append(session.run(["logits"], {k: enc[k] for k in names})[0].reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def compare(reference: np.ndarray, candidate: np.ndarray, tolerance: float) -> ParityResult:
    if reference.shape != candidate.shape:
        raise RuntimeError(f"score shapes differ: {reference.shape} vs {candidate.shape}")
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    return ParityResult(pairs=int(diff.size), max_abs_diff=float(diff.max(initial=0.0)),
                        mean_abs_diff=float(diff.mean()) if diff.size else 0.0, tolerance=tolerance)
