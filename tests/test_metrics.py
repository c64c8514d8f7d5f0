"""Metrics against hand-computed values (trec_eval conventions) and PNR's definition."""

import math

import pytest

from training.evaluate.metrics import auto_rel_level, evaluate_run, pnr, pnr_counts

QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}}
RUN = {"q1": {"d3": 1.0, "d1": 0.9, "d2": 0.5}}  # ranking: d3 (grade 0), d1 (2), d2 (1)


def test_ndcg_matches_hand_computation():
    m = evaluate_run(QRELS, RUN, rel_level=1)
    dcg = 0 + 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-6)
    # @5 sees the same three documents
    assert m["ndcg@5"] == pytest.approx(dcg / idcg, abs=1e-6)


def test_mrr_and_recall_respect_rel_level():
    m1 = evaluate_run(QRELS, RUN, rel_level=1)
    assert m1["mrr@10"] == pytest.approx(0.5)
    assert m1["recall@100"] == pytest.approx(1.0)
    m2 = evaluate_run(QRELS, {"q1": {"d3": 3.0, "d2": 2.0, "d1": 1.0}}, rel_level=2)
    assert m2["mrr@10"] == pytest.approx(1 / 3)  # only d1 (grade 2) counts, at rank 3


def test_judged_queries_missing_from_run_are_not_averaged_in():
    qrels = {"q1": {"d1": 1}, "q2": {"x": 1}}
    m = evaluate_run(qrels, {"q1": {"d1": 1.0, "d2": 0.0}}, rel_level=1)
    assert m["queries"] == 1
    assert m["ndcg@10"] == pytest.approx(1.0)


def test_pnr_counts_concordant_and_discordant_pairs():
    # (d1>d2) right; (d1>d3) wrong; (d2>d3) wrong
    assert pnr_counts([2, 1, 0], [0.9, 0.5, 1.0]) == (1.0, 2.0)
    assert pnr(QRELS, RUN) == pytest.approx(0.5)


def test_pnr_ties_count_half_each_side():
    assert pnr_counts([1, 0, 0], [0.3, 0.3, 0.1]) == (1.5, 0.5)
    assert pnr({"q": {"a": 1, "b": 0}}, {"q": {"a": 0.2, "b": 0.2}}) == pytest.approx(1.0)


def test_pnr_edge_cases():
    # nothing ranked wrong -> inf; no pair with different grades -> nan
    assert pnr({"q": {"a": 1, "b": 0}}, {"q": {"a": 1.0, "b": 0.0}}) == math.inf
    assert math.isnan(pnr({"q": {"a": 1}}, {"q": {"a": 1.0}}))


def test_pnr_treats_unjudged_documents_as_grade_zero():
    assert pnr({"q": {"a": 1}}, {"q": {"a": 0.0, "unjudged": 1.0}}) == 0.0


def test_auto_rel_level():
    assert auto_rel_level({"q": {"a": 3, "b": 0}}) == 2
    assert auto_rel_level({"q": {"a": 2, "b": 1}}) == 1
