"""Student-teacher agreement for one request: small pure functions (numpy only, no scipy).

Teacher ranking as graded relevance (the grading ``rerank train`` validates with,
``training.student.data.rank_labels``): of the ``m`` documents the teacher ranked itself, the
one at 1-based rank ``r`` gets grade ``m + 1 - r``; documents it left out (list-wise omissions)
get 0. A point-wise teacher ranks every document by its score (ties keep input order).

``ndcg_at_k``: trec_eval's ``ndcg_cut`` with those grades as gains: DCG@k = sum over the first
``k`` positions ``i`` (1-based) of the student's order of ``grade / log2(i + 1)``, divided by the
DCG@k of the grades sorted best first. 1.0 = the student's top k is the teacher's top k in order.
The student's order is its scores sorted descending, ties in input order (as the API returns it).

``kendall_tau_b``: tau-b over every pair of documents between the student's scores and the
teacher's preference (its scores when it has them, else ``-rank`` with omitted documents tied
below every ranked one): ``(C - D) / sqrt((P - Ts) (P - Tt))``, ``P`` pairs, ``Ts``/``Tt`` pairs
tied in the student / teacher (a pair tied on either side is neither concordant nor discordant). ``None`` when it is undefined (fewer than 2 documents, or one side
all tied).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def student_order(scores: Sequence[float]) -> list[int]:
    """Indices best first; ties keep input order."""
    return [int(i) for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")]


def teacher_grades(n: int, order: Sequence[int], omitted: Sequence[int] = ()) -> list[float]:
    """Grade per document index: ``m + 1 - rank`` among the ``m`` ranked ones, 0 for omitted."""
    left_out = set(omitted)
    ranked = [d for d in order if d not in left_out]
    m = len(ranked)
    grades = [0.0] * n
    for r, d in enumerate(ranked, 1):
        grades[d] = float(m + 1 - r)
    return grades


def dcg(gains: Sequence[float], k: int) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))


def ndcg_at_k(student_scores: Sequence[float], teacher_order: Sequence[int], omitted: Sequence[int] = (),
              k: int = 10) -> float | None:
    n = len(student_scores)
    grades = teacher_grades(n, teacher_order, omitted)
    ideal = dcg(sorted(grades, reverse=True), k)
    if ideal <= 0:
        return None
    return dcg([grades[d] for d in student_order(student_scores)], k) / ideal


def teacher_preference(n: int, order: Sequence[int], omitted: Sequence[int] = (),
                       scores: Sequence[float] | None = None) -> list[float]:
    """Higher = the teacher prefers it: its scores, else ``-rank`` (omitted tied last)."""
    if scores is not None:
        return [float(s) for s in scores]
    left_out = set(omitted)
    ranked = [d for d in order if d not in left_out]
    pref = [-(len(ranked) + 1.0)] * n
    for r, d in enumerate(ranked, 1):
        pref[d] = -float(r)
    return pref


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"kendall_tau_b needs two sequences of one length, got {x.shape} and {y.shape}")
    n = x.shape[0]
    if n < 2:
        return None
    i, j = np.triu_indices(n, k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    concordant_minus_discordant = float(np.sum(sx * sy))
    untied_x, untied_y = float(np.count_nonzero(sx)), float(np.count_nonzero(sy))
    if untied_x == 0 or untied_y == 0:
        return None
    return concordant_minus_discordant / math.sqrt(untied_x * untied_y)


def agreement(student_scores: Sequence[float], teacher_order: Sequence[int], omitted: Sequence[int] = (),
              teacher_scores: Sequence[float] | None = None, k: int = 10) -> tuple[float | None, float | None]:
    """(nDCG@k, Kendall tau-b) of one request."""
    n = len(student_scores)
    pref = teacher_preference(n, teacher_order, omitted, teacher_scores)
    return ndcg_at_k(student_scores, teacher_order, omitted, k), kendall_tau_b(student_scores, pref)
