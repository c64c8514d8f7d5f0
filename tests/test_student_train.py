"""Student data (groups, epoch plans), training on the fixture labels, and resume."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from tests.helpers.tiny_student import FIXTURE_LABELS, TINY_BERT
from training.base_models import minilm_path
from training.student.data import (
    collate, epoch_plan, rank_labels, read_labels, sample_group, split_validation, teacher_order,
    teacher_score_stats,
)
from training.student.encoding import PairEncoder
from training.student.model import RRABert
from training.student.objective import distill_loss
from training.student.trainer import TrainArgs, collate_batch, train

TRAIN_BERT = {k: v for k, v in TINY_BERT.items() if "dropout" not in k}  # keep dropout: resume must restore its RNG


@pytest.fixture(scope="module")
def queries():
    return read_labels([FIXTURE_LABELS])


def test_teacher_order_and_grades(queries):
    q = queries[0]
    order = teacher_order(q)
    assert [c.teacher_rank for c in order] == [1, 2, 3, 4, 5, 6, None, None]
    grades = rank_labels(q)
    assert grades[order[0].docid] == 6 and grades[order[5].docid] == 1
    assert grades[order[6].docid] == grades[order[7].docid] == 0


def test_groups_hold_a_top_document_and_a_hard_negative(queries):
    rng = np.random.default_rng(0)
    for q in queries:
        for _ in range(5):
            group = sample_group(q, group_size=4, rng=rng, top_pool=3, hard_negatives=1)
            assert len(group.candidates) == 4 and len({c.docid for c in group.candidates}) == 4
            assert group.candidates[0].teacher_rank in (1, 2, 3)
            assert any(c.hard_negative for c in group.candidates)


def test_epoch_plan_is_a_pure_function_of_seed_and_epoch(queries):
    def ids(plan):
        return [[c.docid for g in batch for c in g.candidates] for batch in plan]

    a = epoch_plan(queries, 0, seed=1, group_size=4, batch_size=4)
    assert ids(a) == ids(epoch_plan(queries, 0, seed=1, group_size=4, batch_size=4))
    assert ids(a) != ids(epoch_plan(queries, 1, seed=1, group_size=4, batch_size=4))
    assert [len(b) for b in a] == [4, 2]


def test_collate_pads_short_groups_and_masks_them(queries):
    short = sample_group(queries[0], group_size=20, rng=np.random.default_rng(0))  # all 8
    q = dataclasses.replace(queries[1], candidates=queries[1].candidates[:3])  # the fixture is shared
    batch = collate([short, sample_group(q, 20, np.random.default_rng(0))], PairEncoder(minilm_path(), 32))
    assert batch["shape"] == (2, 8) and batch["input_ids"].shape[0] == 16
    assert batch["mask"].sum() == 11 and batch["scored"].sum() == 11
    assert batch["labels"][0].tolist() == [6, 5, 4, 3, 2, 1, 0, 0]


def test_validation_split_is_stable(queries):
    a = split_validation(queries, 0.5)
    b = split_validation(list(reversed(queries)), 0.5)
    assert {q.qid for q in a[1]} == {q.qid for q in b[1]}
    assert len(a[0]) + len(a[1]) == len(queries) and a[0]


def _args(out, **kw):
    base = dict(labels=[str(FIXTURE_LABELS)], out=str(out), epochs=4, batch_size=2, group_size=4, lr=2e-3,
                max_length=64, seed=7, val_fraction=0.0, eval_sets=[], eval_limit={}, bert_config=TRAIN_BERT,
                progress=False, save_every=0, threads=1)
    return TrainArgs(**(base | kw))


def _fixture_loss(checkpoint, queries) -> float:
    """Hybrid loss of the served score over every fixture query's full candidate list, against the
    z-scored teacher scores the student is trained on."""
    model = RRABert.load(checkpoint, with_tcl=False).eval()
    norm = json.loads((checkpoint / "student.json").read_text())["training"]["teacher_score_norm"]
    mean, std = teacher_score_stats(queries)
    assert norm == pytest.approx({"mean": mean, "std": std})
    encoder = PairEncoder(checkpoint / "tokenizer.json", 64)
    plan = epoch_plan(queries, 0, seed=0, group_size=8, batch_size=len(queries))
    batch = collate_batch(plan[0], encoder, norm)
    assert batch["teacher"][batch["mask"]].mean() == pytest.approx(0.0, abs=1e-5)
    with torch.no_grad():
        out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        return float(distill_loss("hybrid", out.score.view(batch["shape"]), batch))


def test_training_reduces_the_loss(tmp_path, queries):
    out = tmp_path / "run"
    kw = dict(lr=5e-3, groups_per_query=4)
    stopped = train(_args(out, max_steps=0, **kw))  # saves the untrained model as checkpoints/last
    assert stopped["status"] == "stopped"
    shutil.copytree(out / "checkpoints" / "last", tmp_path / "initial")
    done = train(_args(out, **kw))
    assert done["status"] == "done" and done["global_step"] == 4 * 12
    before, after = _fixture_loss(tmp_path / "initial", queries), _fixture_loss(out / "best", queries)
    assert after < 0.5 * before, (before, after)
    history = done["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train"]["main"] < history[0]["train"]["main"]
    assert {"main", "tcl", "consistency", "tcl_gap", "loss"} <= set(history[0]["train"])


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight = train(_args(tmp_path / "a", epochs=2))
    train(_args(tmp_path / "b", epochs=2, max_steps=4))  # stops mid-epoch 2 (3 steps per epoch)
    resumed = train(_args(tmp_path / "b", epochs=2))
    assert straight["global_step"] == resumed["global_step"] == 6
    a = RRABert.load(tmp_path / "a" / "checkpoints" / "last").state_dict()
    b = RRABert.load(tmp_path / "b" / "checkpoints" / "last").state_dict()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    assert [h["train"]["loss"] for h in straight["history"]] == pytest.approx(
        [h["train"]["loss"] for h in resumed["history"]], rel=1e-5)


def test_resume_refuses_changed_arguments(tmp_path):
    train(_args(tmp_path / "c", epochs=1))
    with pytest.raises(ValueError, match="different lr"):
        train(_args(tmp_path / "c", epochs=1, lr=1e-4))
    assert train(_args(tmp_path / "c", epochs=1, lr=1e-4, fresh=True))["status"] == "done"


def test_rank_only_labels_need_ranknet(tmp_path):
    path = tmp_path / "ranks.jsonl"
    rows = [json.loads(line) for line in FIXTURE_LABELS.read_text().splitlines()]
    for r in rows:
        for c in r["candidates"]:
            c["teacher_score"] = None
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="ranknet"):
        train(_args(tmp_path / "d", labels=[str(path)], epochs=1))
    assert train(_args(tmp_path / "d", labels=[str(path)], epochs=1, loss="ranknet"))["status"] == "done"
