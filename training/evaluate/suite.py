"""A benchmark suite: several scorers x several named sets -> one JSON report and a Markdown table.

Results are written after every (scorer, set) cell, and cells already in the report are skipped,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path
from typing import Sequence

from training.data import read_hits, read_qrels
from training.data.datasets import ensure_candidates, eval_sets
from training.evaluate.runner import evaluate
from training.evaluate.scorers import make_scorer

TABLE_METRICS = ("ndcg@10", "ndcg@5", "mrr@10", "pnr", "pairs_per_s")


def _load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
            "results": {}}


def _clean(metrics: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def run_suite(
    scorers: dict[str, str], sets: Sequence[str], out: str | Path,
    limit_queries: dict[str, int] | None = None, batch_size: int = 32, force: bool = False,
    progress: bool = True,
) -> dict:
    """``scorers``: label -> SPEC. ``limit_queries``: label -> N (first N queries of each set)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = _load(out)
    known = eval_sets()
    for label, spec in scorers.items():
        todo = [s for s in sets if force or s not in report["results"].get(label, {})]
        if not todo:
            continue
        scorer = make_scorer(spec, batch_size=batch_size)
        for set_name in todo:
            es = ensure_candidates(known[set_name])
            limit = (limit_queries or {}).get(label)
            queries = read_hits(es.candidates, limit_queries=limit)
            t0 = time.time()
            result = evaluate(scorer, queries, read_qrels(es.qrels), rel_level=es.rel_level, progress=progress)
            cell = _clean(result.metrics) | {"spec": spec, "limit_queries": limit, "wall_s": round(time.time() - t0, 1)}
            report["results"].setdefault(label, {})[set_name] = cell
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            print(f"{label:>16} {set_name:<14} nDCG@10={cell['ndcg@10']:.4f} queries={cell['queries']} "
                  f"pairs/s={cell['pairs_per_s']:.1f}", flush=True)
    return report


def markdown_table(report: dict, sets: Sequence[str] | None = None) -> str:
    results = report["results"]
    sets = list(sets or dict.fromkeys(s for cells in results.values() for s in cells))
    # Speed is quoted on one set (DL19 when present): pairs/s depends on document length.
    speed_set = "dl19" if "dl19" in sets else sets[0]
    head = "| scorer | " + " | ".join(f"{s} nDCG@10 / MRR@10 / PNR" for s in sets) + f" | pairs/s ({speed_set}) |"
    sep = "|---" * (len(sets) + 2) + "|"
    lines = [head, sep]
    for label, cells in results.items():
        row = [label]
        for s in sets:
            c = cells.get(s)
            if c is None:
                row.append("-")
                continue
            pnr = "inf" if c.get("pnr") is None else f"{c['pnr']:.2f}"
            q = f" ({c['queries']} q)" if c.get("limit_queries") else ""
            row.append(f"{c['ndcg@10']:.4f} / {c['mrr@10']:.4f} / {pnr}{q}")
        speed = cells.get(speed_set)
        row.append(f"{speed['pairs_per_s']:.1f}" if speed else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
