"""RRA-BERT forward with and without the Term Control Layer; the TCL's training-only design."""

from __future__ import annotations

import torch

from tests.helpers.tiny_student import FIXTURE_LABELS, tiny_student
from training.base_models import minilm_path
from training.student.config import TCLConfig
from training.student.data import collate, epoch_plan, read_labels
from training.student.encoding import PairEncoder
from training.student.model import TCL_FILE, RRABert
from training.student.objective import student_loss


torch.set_num_threads(1)  # tiny tensors: more threads only contend on a shared CI machine


def _batch(max_length=64):
    queries = read_labels([FIXTURE_LABELS])
    plan = epoch_plan(queries, epoch=0, seed=0, group_size=4, batch_size=3)
    return collate(plan[0], PairEncoder(minilm_path() / "tokenizer.json", max_length))


def test_forward_shapes_with_and_without_tcl():
    batch = _batch()
    n = batch["input_ids"].shape[0]
    assert n == 3 * 4 and batch["shape"] == (3, 4)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with_tcl = tiny_student(tcl=True).eval()
    out = with_tcl(**inputs)
    assert out.score.shape == out.term_score.shape == out.fused_score.shape == (n,)
    assert out.selection.selected.shape == inputs["input_ids"].shape
    # zero-initialised last TCL layer: at the start the TCL score adds nothing
    assert torch.equal(out.fused_score, out.score)
    served = with_tcl(**inputs, use_tcl=False)
    assert served.term_score is None and served.fused_score is None
    assert torch.equal(served.score, out.score)  # the served score never reads the TCL

    without = tiny_student(tcl=False).eval()
    assert without.tcl is None
    out = without(**inputs)
    assert out.score.shape == (n,) and out.term_score is None


def test_tcl_loss_trains_tcl_and_encoder_but_not_the_served_head():
    batch = _batch()
    model = tiny_student(tcl=True).train()
    torch.nn.init.normal_(model.tcl.mlp[-1].weight, std=0.1)  # as after some training
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    only_aux = TCLConfig(aux_weight=1.0, consistency_weight=0.0)
    from training.student.objective import distill_loss

    distill_loss("hybrid", out.fused_score.view(batch["shape"]), batch).backward()
    assert model.bert.classifier.weight.grad is None or not model.bert.classifier.weight.grad.any()
    assert model.tcl.mlp[0].weight.grad.abs().sum() > 0
    assert model.bert.bert.encoder.layer[-1].output.dense.weight.grad.abs().sum() > 0
    # and the full objective reports every part
    model.zero_grad()
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    loss, parts = student_loss(out, batch, "hybrid", only_aux)
    assert set(parts) == {"main", "tcl", "consistency", "tcl_gap", "loss"}
    assert parts["tcl_gap"] > 0


def test_save_and_load_roundtrip(tmp_path):
    batch = _batch()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    model = tiny_student(tcl=True).eval()
    torch.nn.init.normal_(model.tcl.mlp[-1].weight, std=0.1)
    model.save(tmp_path / "ckpt", minilm_path())
    assert (tmp_path / "ckpt" / TCL_FILE).is_file() and (tmp_path / "ckpt" / "tokenizer.json").is_file()
    loaded = RRABert.load(tmp_path / "ckpt").eval()
    with torch.no_grad():
        a, b = model(**inputs), loaded(**inputs)
    assert torch.allclose(a.score, b.score) and torch.allclose(a.fused_score, b.fused_score)
    served = RRABert.load(tmp_path / "ckpt", with_tcl=False).eval()
    assert served.tcl is None
    with torch.no_grad():
        assert torch.allclose(served(**inputs).score, a.score)
