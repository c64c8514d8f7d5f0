"""Score candidate lists with a scorer and measure the ranking: what ``rerank eval`` runs."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from training.data.hits import QueryCandidates
from training.evaluate.metrics import METRIC_KEYS, Qrels, evaluate_run
from training.evaluate.scorers import Scorer


@dataclass
class EvalResult:
    metrics: dict[str, float]
    run: dict[str, dict[str, float]]

    def as_json(self) -> dict:
        # JSON has no inf/nan: PNR with no discordant pair is written as null
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.metrics.items()}


def score_queries(
    scorer: Scorer, queries: Sequence[QueryCandidates], progress: bool = True
) -> tuple[dict[str, dict[str, float]], int, float]:
    """Run the scorer over every query; returns (run, pairs scored, seconds spent scoring)."""
    run: dict[str, dict[str, float]] = {}
    pairs = 0
    elapsed = 0.0
    for qc in tqdm(queries, desc=f"scoring ({scorer.name})", unit="q", disable=not progress):
        t0 = time.perf_counter()
        scores = scorer.score(qc.query, qc.candidates)
        elapsed += time.perf_counter() - t0
        if len(scores) != len(qc.candidates):
            raise RuntimeError(f"{scorer.name} returned {len(scores)} scores for {len(qc.candidates)} candidates")
        run[qc.qid] = {c.docid: float(s) for c, s in zip(qc.candidates, scores)}
        pairs += len(scores)
    return run, pairs, elapsed


def evaluate(
    scorer: Scorer, queries: Sequence[QueryCandidates], qrels: Qrels,
    rel_level: int | None = None, progress: bool = True,
) -> EvalResult:
    judged = [qc for qc in queries if qc.qid in qrels]
    run, pairs, elapsed = score_queries(scorer, judged, progress)
    metrics = evaluate_run(qrels, run, rel_level)
    metrics["pairs"] = pairs
    metrics["pairs_per_s"] = pairs / elapsed if elapsed > 0 else math.inf
    return EvalResult(metrics=metrics, run=run)


def format_table(metrics: dict[str, float], title: str = "") -> str:
    rows = [(k, metrics[k]) for k in (*METRIC_KEYS, "queries", "pairs", "pairs_per_s") if k in metrics]
    width = max(len(k) for k, _ in rows)
    lines = [title] if title else []
    lines.append(f"{'metric'.ljust(width)}  value")
    for k, v in rows:
        text = f"{v:.4f}" if isinstance(v, float) and k not in ("pairs_per_s",) else (
            f"{v:.1f}" if isinstance(v, float) else str(v))
        lines.append(f"{k.ljust(width)}  {text}")
    return "\n".join(lines)


def write_json(result: EvalResult, out: str | Path, extra: dict | None = None) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {**result.as_json(), **(extra or {})}
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
