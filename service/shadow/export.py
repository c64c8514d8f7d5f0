"""Relabel store -> the label pipeline's JSONL (``training.labels.schema``), so ``rerank train``
reads live-traffic labels as it reads ``rerank label``'s.

One stored ``completed`` record -> one ``LabeledQuery``:

- ``qid``: the live request id; ``query``; ``source``: ``"shadow"``;
- ``candidates`` in the teacher's order (ranked ones first, then those a list-wise teacher left
  out), each ``docid`` = the document's position in the live request, ``text``,
  ``teacher_score`` (point-wise teachers; null for list-wise), ``teacher_rank`` (1-based, null
  when left out), ``hard_negative`` (left out), ``pre_score`` / ``pre_rank``: the serving
  student's logit and rank (the student is this label set's pre-ranker);
- ``teacher``: ``{name, version, kind}``; ``pre_ranker``: ``{spec: "student:MODEL@VERSION",
  variant, model_folder, pool}``.

Skipped and counted: ``failed`` records, records stored as hashes only (``shadow_store_text =
false``: no text to train on), records with fewer than ``min_documents`` documents, and
duplicates (a request id seen before, or the same query with the same documents in the same
order: the newest record wins).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path

from service.shadow.agreement import student_order
from service.shadow.store import RelabelStore, ShadowRecord

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(value: str | float | None, now: float | None = None) -> float | None:
    """Unix seconds from: unix seconds (``1735689600``), ISO 8601 (``2025-01-01``,
    ``2025-01-01T12:00:00+02:00``; no zone = UTC), or an age (``90m``, ``24h``, ``7d``: that long
    before now)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    rel = _RELATIVE.match(text)
    if rel:
        return (time.time() if now is None else now) - float(rel.group(1)) * _UNITS[rel.group(2)]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r} (unix seconds, ISO 8601, or an age such as 24h / 7d)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def to_labeled_query(record: ShadowRecord):
    from training.labels.schema import LabeledCandidate, LabeledQuery

    texts = record.texts()
    if texts is None:
        raise ValueError(f"record {record.request_id} holds hashes only")
    left_out = set(record.teacher_omitted or [])
    order = record.teacher_order or []
    ranked = [d for d in order if d not in left_out]
    teacher_rank = {d: r for r, d in enumerate(ranked, 1)}
    student_rank = {d: r for r, d in enumerate(student_order(record.student_scores), 1)}
    scores = record.teacher_scores
    candidates = [
        LabeledCandidate(
            docid=str(d), text=texts[d], teacher_score=None if scores is None else float(scores[d]),
            teacher_rank=teacher_rank.get(d), hard_negative=d in left_out,
            pre_score=float(record.student_scores[d]), pre_rank=student_rank[d],
        )
        for d in ranked + [d for d in order if d in left_out]
    ]
    return LabeledQuery(
        qid=record.request_id, query=record.query, candidates=candidates,
        teacher={"name": record.teacher_name, "version": record.teacher_version, "kind": record.teacher_kind},
        pre_ranker={"spec": f"student:{record.model_name}@{record.model_version}", "variant": record.variant,
                    "model_folder": record.model_folder, "pool": record.n_documents},
        source="shadow",
    )


def export_labels(store_path: str | Path, out: str | Path, *, since: float | None = None,
                  until: float | None = None, variant: str | None = None, min_documents: int = 2,
                  dedupe: bool = True) -> dict:
    """Write ``out`` (replacing it) and return the summary."""
    from training.labels.schema import write_labels

    summary = {"store": str(store_path), "out": str(out), "since": since, "until": until, "variant": variant,
               "records": 0, "exported": 0, "failed": 0, "hashed_only": 0, "too_few_documents": 0, "duplicates": 0}
    store = RelabelStore(store_path, readonly=True)
    try:
        chosen: dict[str, ShadowRecord] = {}  # content key -> newest record
        seen_ids: set[str] = set()
        for record in store.records(since=since, until=until, variant=variant):
            summary["records"] += 1
            if record.status != "completed":
                summary["failed"] += 1
            elif not record.text_stored:
                summary["hashed_only"] += 1
            elif record.n_documents < min_documents:
                summary["too_few_documents"] += 1
            elif dedupe and record.request_id in seen_ids:
                summary["duplicates"] += 1
            else:
                seen_ids.add(record.request_id)
                key = (record.query_sha256, tuple(d["sha256"] for d in record.documents)) if dedupe else record.id
                if key in chosen:
                    summary["duplicates"] += 1
                    del chosen[key]  # re-insert: keeps the file in time order of the newest copy
                chosen[key] = record
        summary["exported"] = write_labels(out, (to_labeled_query(r) for r in chosen.values()))
    finally:
        store.close()
    return summary
