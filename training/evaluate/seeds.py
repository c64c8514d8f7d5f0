"""One suite run repeated under several training seeds -> mean, spread and paired differences.

A single seed cannot tell a design choice from training noise: two students that differ only in
their seed were up to 0.04 nDCG@10 apart on DL19's 43 queries (the ablation's ``no-tcl``). Each seed's suite report (``rerank suite``)
is one replicate; a contrast ``A:B`` is A minus B within the same seed (both trained on the same
seed's data order), so the noise shared by the pair cancels and what is left is the effect and its
spread over seeds.
"""

from __future__ import annotations

import statistics
from typing import Mapping, Sequence


def _spread(per_seed: dict[str, float]) -> dict:
    values = list(per_seed.values())
    out = {"per_seed": per_seed, "n": len(values), "mean": statistics.fmean(values)}
    out["std"] = statistics.stdev(values) if len(values) > 1 else None
    out["min"], out["max"] = min(values), max(values)
    return out


def _per_seed(reports: Mapping[str, dict], label: str, sets: Sequence[str], metric: str) -> dict[str, dict]:
    """set (and "mean" over ``sets``) -> seed -> value, for the seeds whose report has ``label``."""
    table: dict[str, dict[str, float]] = {}
    for seed, report in reports.items():
        cells = report["results"].get(label)
        if not cells:
            continue
        for s in sets:
            if s in cells and cells[s].get(metric) is not None:
                table.setdefault(s, {})[seed] = cells[s][metric]
        if all(s in cells and cells[s].get(metric) is not None for s in sets):
            table.setdefault("mean", {})[seed] = statistics.fmean(cells[s][metric] for s in sets)
    return table


def _check_same_queries(reports: Mapping[str, dict], sets: Sequence[str]) -> None:
    """Replicates must score the same queries: a different --limit-queries is another experiment."""
    for s in sets:
        counts = {cells[s]["queries"] for report in reports.values()
                  for cells in report["results"].values() if s in cells}
        if len(counts) > 1:
            raise ValueError(f"set {s!r} was scored on different numbers of queries across reports: "
                             f"{sorted(counts)}")


def summarize_seeds(
    reports: Mapping[str, dict], contrasts: Sequence[tuple[str, str]] = (),
    sets: Sequence[str] | None = None, metric: str = "ndcg@10",
) -> dict:
    """``reports``: seed -> suite report. ``contrasts``: (A, B) pairs, reported as A - B per seed."""
    if not reports:
        raise ValueError("no reports to summarize")
    labels = list(dict.fromkeys(label for r in reports.values() for label in r["results"]))
    sets = list(sets or dict.fromkeys(s for r in reports.values() for cells in r["results"].values() for s in cells))
    _check_same_queries(reports, sets)
    summary: dict = {"metric": metric, "seeds": list(reports), "sets": sets, "scorers": {}, "contrasts": {}}
    tables = {label: _per_seed(reports, label, sets, metric) for label in labels}
    for label, table in tables.items():
        summary["scorers"][label] = {s: _spread(v) for s, v in table.items()}
    for a, b in contrasts:
        for label in (a, b):
            if label not in tables:
                raise ValueError(f"contrast {a}:{b}: no report has scorer {label!r} (known: {', '.join(labels)})")
        ta, tb = tables[a], tables[b]
        cells = {}
        for s in [*sets, "mean"]:
            seeds = [seed for seed in reports if seed in ta.get(s, {}) and seed in tb.get(s, {})]
            if not seeds:
                continue
            diff = _spread({seed: ta[s][seed] - tb[s][seed] for seed in seeds})
            diff["positive"] = sum(v > 0 for v in diff["per_seed"].values())
            cells[s] = diff
        if not cells:
            raise ValueError(f"contrast {a}:{b}: the two scorers share no seed")
        summary["contrasts"][f"{a} - {b}"] = cells
    return summary


def _fmt(cell: dict | None, signed: bool = False) -> str:
    if cell is None:
        return "-"
    mean = f"{cell['mean']:+.4f}" if signed else f"{cell['mean']:.4f}"
    if cell["n"] == 1:
        return f"{mean} (1 seed)"
    text = f"{mean} ± {cell['std']:.4f}"
    if signed:
        text += f" [{cell['min']:+.4f}, {cell['max']:+.4f}], {cell['positive']}/{cell['n']} > 0"
    return text


def markdown_tables(summary: dict) -> str:
    sets = summary["sets"]
    cols = [*sets, "mean"]
    head = "| {} | " + " | ".join(f"{s} {summary['metric']}" for s in sets) + f" | mean of the {len(sets)} sets |"
    sep = "|---" * (len(cols) + 1) + "|"
    lines = [head.format("scorer (mean ± std over seeds)"), sep]
    for label, cells in summary["scorers"].items():
        lines.append("| " + " | ".join([label, *(_fmt(cells.get(c)) for c in cols)]) + " |")
    if summary["contrasts"]:
        lines += ["", head.format("paired difference (mean ± std [min, max], seeds above 0)"), sep]
        for name, cells in summary["contrasts"].items():
            lines.append("| " + " | ".join([name, *(_fmt(cells.get(c), signed=True) for c in cols)]) + " |")
    return "\n".join(lines)
