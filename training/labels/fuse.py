"""Fuse a label set's teacher scores with its pre-ranker scores: a new point-wise teacher, offline.

A first stage and a dense teacher make a better ensemble than either alone (`fusion:` scorer,
reports/baselines.json), and every label line already holds both signals per candidate
(``teacher_score`` and ``pre_score``). So the ensemble teacher's labels are computed from the
stored scores, without re-running any model:

    teacher_score' = w_t * z(teacher_score) + w_p * z(pre_score)

with ``z`` the z-score over the query's labelled candidates (as the ``fusion:`` scorer does over
a candidate list). For the ``bm25`` pre-ranker ``pre_score`` is ``-rank`` in the pool, so the
lexical part keeps the real BM25 ranks (1-8 and 43-50 of 50), not positions in the kept list.
Ranked candidates are re-ranked by the fused score; a list-wise teacher's hard negatives stay
hard negatives (left out of the ranking), because the fused score cannot undo an omission.
"""

from __future__ import annotations

from dataclasses import replace

from training.evaluate.scorers.fusion import znorm
from training.labels.schema import LabeledQuery


def fused_teacher_name(teacher: dict, pre_ranker: dict, teacher_weight: float, pre_weight: float) -> str:
    return (f"fusion:{teacher.get('name', 'teacher')}@{teacher_weight:g},"
            f"pre-ranker:{pre_ranker.get('spec', 'unknown')}@{pre_weight:g}")


def fuse_query(q: LabeledQuery, pre_weight: float, teacher_weight: float = 1.0) -> LabeledQuery:
    missing = [c.docid for c in q.candidates if c.teacher_score is None or c.pre_score is None]
    if missing:
        raise ValueError(f"query {q.qid}: candidates {missing[:3]} lack teacher_score or pre_score; "
                         "fusion needs both (a list-wise teacher needs --score-teacher when labelling)")
    fused = [teacher_weight * t + pre_weight * p for t, p in
             zip(znorm([c.teacher_score for c in q.candidates]), znorm([c.pre_score for c in q.candidates]))]
    scored = [replace(c, teacher_score=s) for c, s in zip(q.candidates, fused)]
    ranked = sorted((c for c in scored if not c.hard_negative), key=lambda c: -c.teacher_score)
    left_out = [replace(c, teacher_rank=None) for c in scored if c.hard_negative]
    candidates = [replace(c, teacher_rank=i + 1) for i, c in enumerate(ranked)] + left_out
    teacher = {"name": fused_teacher_name(q.teacher, q.pre_ranker, teacher_weight, pre_weight),
               "version": "1", "kind": "pointwise", "fused_from": dict(q.teacher)}
    return replace(q, candidates=candidates, teacher=teacher)

