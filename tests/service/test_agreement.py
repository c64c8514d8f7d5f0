"""Student-teacher agreement maths against hand-computed values (service/shadow/agreement.py)."""

from __future__ import annotations

import math
import random

import pytest

from service.shadow.agreement import (
    agreement, kendall_tau_b, ndcg_at_k, student_order, teacher_grades, teacher_preference,
)


def test_student_order_is_descending_and_stable_on_ties():
    assert student_order([0.1, 0.9, 0.5, 0.9]) == [1, 3, 2, 0]


def test_teacher_grades_follow_the_trainer_grading():
    # the teacher ranked 3 of 4 (doc 2 left out): grades m + 1 - rank, 0 for the omitted one
    assert teacher_grades(4, order=[3, 0, 1, 2], omitted=[2]) == [2.0, 1.0, 0.0, 3.0]
    assert teacher_grades(3, order=[2, 1, 0]) == [1.0, 2.0, 3.0]


def test_ndcg_identical_order_is_one_and_reversed_by_hand():
    teacher = [0, 1, 2]  # grades 3, 2, 1
    assert ndcg_at_k([3.0, 2.0, 1.0], teacher) == pytest.approx(1.0)
    # student order [1, 0, 2]: DCG = 2/log2(2) + 3/log2(3) + 1/log2(4) = 2 + 1.892789 + 0.5 = 4.392789
    # ideal            = 3/1 + 2/log2(3) + 1/2 = 3 + 1.261860 + 0.5 = 4.761860
    assert ndcg_at_k([2.0, 3.0, 1.0], teacher) == pytest.approx(4.392789 / 4.761860, abs=1e-6)
    # fully reversed: DCG = 1 + 2/log2(3) + 3/2 = 3.761860
    assert ndcg_at_k([1.0, 2.0, 3.0], teacher) == pytest.approx(3.761860 / 4.761860, abs=1e-6)


def test_ndcg_cuts_at_k_and_omitted_documents_gain_nothing():
    # 12 documents, the teacher's order is 0..11 (grades 12..1); the student swaps 0 and 11
    scores = [float(12 - i) for i in range(12)]
    scores[0], scores[11] = scores[11], scores[0]
    ideal = sum((12 - i) / math.log2(i + 2) for i in range(10))
    got = sum(g / math.log2(i + 2) for i, g in enumerate([1] + list(range(11, 2, -1))))
    assert ndcg_at_k(scores, list(range(12))) == pytest.approx(got / ideal)
    # the teacher left doc 0 out: grades of the 2 ranked are 2, 1; the student puts doc 0 first
    # DCG = 0 + 2/log2(3) + 1/2 ; ideal = 2 + 1/log2(3)
    assert ndcg_at_k([9.0, 5.0, 1.0], [1, 2, 0], omitted=[0]) == pytest.approx(
        (2 / math.log2(3) + 0.5) / (2 + 1 / math.log2(3)))
    assert ndcg_at_k([1.0, 2.0], [0, 1], omitted=[0, 1]) is None  # nothing ranked: undefined


def test_kendall_tau_by_hand():
    assert kendall_tau_b([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # pairs (0,1) C, (0,2) C, (1,2) D -> (2 - 1) / 3
    assert kendall_tau_b([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # x ties on (0,1): C = 2, D = 0; untied x pairs 2, untied y pairs 3 -> 2 / sqrt(6)
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert kendall_tau_b([1.0], [2.0]) is None
    assert kendall_tau_b([1, 1, 1], [1, 2, 3]) is None
    with pytest.raises(ValueError):
        kendall_tau_b([1, 2], [1, 2, 3])


def test_kendall_tau_matches_scipy_on_random_ties():
    stats = pytest.importorskip("scipy.stats")  # a cross-check only; the service does not use scipy
    rng = random.Random(0)
    for n in (2, 5, 17, 60):
        x = [rng.randint(0, 5) for _ in range(n)]
        y = [rng.randint(0, 5) for _ in range(n)]
        expected = stats.kendalltau(x, y).statistic
        got = kendall_tau_b(x, y)
        if math.isnan(expected):
            assert got is None
        else:
            assert got == pytest.approx(expected, abs=1e-12)


def test_listwise_preference_ties_omitted_documents_last():
    assert teacher_preference(4, [2, 0, 3, 1], omitted=[3, 1]) == [-2.0, -3.0, -1.0, -3.0]
    assert teacher_preference(2, [1, 0], scores=[0.2, 0.7]) == [0.2, 0.7]
    # student agrees with the teacher on everything the teacher ordered
    ndcg, tau = agreement([0.8, 0.1, 0.9, 0.0], [2, 0, 3, 1], omitted=[3, 1])
    assert ndcg == pytest.approx(1.0)
    # pairs: 5 untied on the teacher side (1,3 tied), all concordant; 6 untied on the student side
    assert tau == pytest.approx(5 / math.sqrt(6 * 5))
