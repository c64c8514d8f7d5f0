"""Losses against values computed by hand."""

import math

import pytest
import torch

from training import losses


def t(*xs):
    return torch.tensor(xs, dtype=torch.float32)


def test_pairwise_margin_hinge():
    # margins: 0.5 (satisfied -> 0), 0.05 (0.1 - 0.05 = 0.05), -0.2 (0.1 + 0.2 = 0.3)
    loss = losses.pairwise_margin_loss(t(1.0, 0.3, 0.0), t(0.5, 0.25, 0.2), margin=0.1)
    assert loss.item() == pytest.approx((0 + 0.05 + 0.3) / 3, abs=1e-6)


def test_pairwise_margin_default_is_disranker_T():
    assert losses.pairwise_margin_loss(t(0.0), t(0.0)).item() == pytest.approx(0.1)


def test_ranknet_from_labels():
    s, y = t(2.0, 1.0, 0.0), t(1.0, 0.0, 0.0)
    # pairs with y_i > y_j: (0,1) diff 1, (0,2) diff 2
    expected = (math.log1p(math.exp(-1)) + math.log1p(math.exp(-2))) / 2
    assert losses.ranknet_loss(s, y).item() == pytest.approx(expected, rel=1e-6)


def test_ranknet_mask_and_weights():
    s = t(0.0, 1.0, 5.0).unsqueeze(0)
    y = t(2.0, 1.0, 0.0).unsqueeze(0)
    mask = torch.tensor([[True, True, False]])
    # only pair (0,1) remains: diff -1 -> log(1+e)
    assert losses.ranknet_loss(s, y, mask=mask).item() == pytest.approx(math.log1p(math.e), rel=1e-6)
    w = torch.zeros(1, 3, 3)
    w[0, 0, 1], w[0, 0, 2], w[0, 1, 2] = 3.0, 1.0, 0.0
    expected = (3 * math.log1p(math.e) + 1 * math.log1p(math.exp(5))) / 4
    assert losses.ranknet_loss(s, y, weights=w).item() == pytest.approx(expected, rel=1e-6)


def test_ranknet_no_pairs_is_zero_with_grad():
    s = t(1.0, 2.0).requires_grad_()
    loss = losses.ranknet_loss(s, t(1.0, 1.0))
    loss.backward()
    assert loss.item() == 0.0 and s.grad is not None


def test_labels_from_ranking():
    labels = losses.labels_from_ranking(torch.tensor([[2, 0, -1]]), num_docs=4)
    assert labels.tolist() == [[2.0, 0.0, 3.0, 0.0]]


def test_point_and_margin_mse():
    assert losses.point_mse_loss(t(1.0, 2.0), t(0.0, 0.0)).item() == pytest.approx(2.5)
    masked = losses.point_mse_loss(t(1.0, 2.0), t(0.0, 0.0), mask=torch.tensor([True, False]))
    assert masked.item() == pytest.approx(1.0)
    # student margin 1, teacher margin 3 -> (1-3)^2 = 4
    assert losses.margin_mse_loss(t(2.0), t(1.0), t(5.0), t(2.0)).item() == pytest.approx(4.0)


def test_hybrid_is_point_plus_beta_margin():
    sp, sn, tp, tn = t(2.0), t(1.0), t(5.0), t(2.0)
    # point: (2-5)^2 + (1-2)^2 = 10; margin: 4; hybrid: 10 + 0.4*4
    assert losses.hybrid_distill_loss(sp, sn, tp, tn).item() == pytest.approx(11.6)


def test_listwise_margin_mse_matches_pair_form():
    s, te = t(2.0, 1.0), t(5.0, 2.0)
    assert losses.listwise_margin_mse_loss(s, te).item() == pytest.approx(4.0)
    # hybrid on lists: point mean over 2 docs = 5, + 0.4 * 4
    assert losses.hybrid_list_distill_loss(s, te).item() == pytest.approx(5 + 1.6)


def test_bce():
    loss = losses.classification_bce_loss(t(0.0, 2.0), t(1.0, 0.0))
    expected = (math.log(2) + math.log1p(math.exp(2))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_causal_lm_loss_only_counts_targets():
    # vocab 2, uniform logits -> each counted token costs log 2
    logits = torch.zeros(1, 4, 2)
    labels = torch.tensor([[-100, -100, 1, 0]])
    assert losses.causal_lm_loss(logits, labels).item() == pytest.approx(math.log(2))
    logits[0, 1, 1] = 10.0  # position 1 predicts token 1 (label at position 2) confidently
    assert losses.causal_lm_loss(logits, labels).item() == pytest.approx(
        (math.log1p(math.exp(-10)) + math.log(2)) / 2, rel=1e-5)
