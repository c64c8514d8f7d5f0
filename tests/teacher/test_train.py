"""Teacher stages on a tiny real Llama (random weights, SmolLM2 tokenizer) and real MS MARCO samples."""

from pathlib import Path

import pytest
import torch

from tests.helpers.tiny_llm import build_tiny_llm
from training.teacher.dense import DenseTeacher
from training.teacher.model import PairEncoder, load_ranker
from training.teacher.train import TrainConfig, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


def cfg(tiny, out, **kw) -> TrainConfig:
    base = dict(stage="sft", out=str(out), init=str(tiny), steps=3, batch_size=2, max_length=40,
                max_query_tokens=12, train_layers=1, sources=["msmarco"], save_every=1, progress=False)
    return TrainConfig(**(base | kw))


def trainable(folder):
    model, *_ = load_ranker(folder)
    return {n: p.detach().clone() for n, p in model.named_parameters()
            if n.startswith("head.") or ".layers.1." in n}


def test_pair_encoding_ends_with_eos_and_respects_the_budget(tiny):
    model, tok, meta, eos = load_ranker(tiny)
    enc = PairEncoder(tok, eos, max_length=24, max_query_tokens=5)
    ids = enc.pair_ids("a long query " * 20, "a long document " * 50)
    assert len(ids) <= 24 and ids[-1] == eos and ids[0] == tok.bos_token_id
    assert tok.decode(ids).startswith("<|im_start|>query:")
    # the score is read at the first <eos> even when a generation target follows it
    _, _, positions, _ = enc.batch([ids + [5, 6, 7], ids[:10] + [eos]])
    assert positions.tolist() == [len(ids) - 1, 10]


def test_sft_then_score_is_batch_invariant(tiny, tmp_path):
    out = train(cfg(tiny, tmp_path / "sft"))
    assert (out / "score_head.pt").exists() and (out / "teacher.json").exists()
    log = (tmp_path / "sft.log.jsonl").read_text().splitlines()
    assert len(log) == 3
    teacher = DenseTeacher(out, batch_size=1)
    docs = ["Fleas feed on blood.", "A flea market opens on Sunday morning in the town square.", "x"]
    one = teacher.score("what do fleas eat", docs)
    teacher.batch_size = 16  # right padding must not change any score
    assert teacher.score("what do fleas eat", docs) == pytest.approx(one, abs=1e-5)
    ranking = teacher.rank("what do fleas eat", docs)
    assert sorted(ranking.order) == [0, 1, 2] and ranking.omitted == []
    assert one[ranking.order[0]] == max(one)


def test_interrupted_training_resumes_to_the_same_weights(tiny, tmp_path):
    train(cfg(tiny, tmp_path / "straight", steps=4))
    train(cfg(tiny, tmp_path / "resumed", steps=4, stop_after=2))
    assert (tmp_path / "resumed.ckpt").exists()
    assert '"step": 2' in (tmp_path / "resumed" / "teacher.json").read_text()
    train(cfg(tiny, tmp_path / "resumed", steps=4))
    a, b = trainable(tmp_path / "straight"), trainable(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name)
    # a resumed run must use the same settings
    with pytest.raises(ValueError, match="other settings"):
        train(cfg(tiny, tmp_path / "resumed", steps=6, lr=1e-3))


def test_ranknet_option_and_frozen_lower_layers(tiny, tmp_path):
    before = trainable(tiny)  # fresh head + layer 1 of the untouched model
    model0, *_ = load_ranker(tiny)
    layer0 = {n: p.clone() for n, p in model0.named_parameters() if ".layers.0." in n}
    out = train(cfg(tiny, tmp_path / "rn", loss="ranknet", steps=2, lr=1e-2))
    model1, *_ = load_ranker(out)
    for n, p in model1.named_parameters():
        if ".layers.0." in n:
            torch.testing.assert_close(p, layer0[n], msg=f"{n} should be frozen")
    after = trainable(out)
    assert any(not torch.equal(before[n], after[n]) for n in before if ".layers.1." in n)


def test_cpt_has_no_head_and_feeds_sft(tiny, tmp_path):
    cpt = train(cfg(tiny, tmp_path / "cpt", stage="cpt", steps=2))
    assert not (cpt / "score_head.pt").exists()
    with pytest.raises(FileNotFoundError, match="score head"):
        DenseTeacher(cpt)
    line = (tmp_path / "cpt.log.jsonl").read_text().splitlines()[0]
    assert '"gen"' in line
    sft = train(cfg(tiny, tmp_path / "sft-from-cpt", init=str(cpt), steps=1))
    assert '"parent": "%s"' % cpt in (sft / "teacher.json").read_text()


@pytest.mark.parametrize("gen_target", ["document", "reason"])
def test_rra_gpt_terms_and_ablation(tiny, tmp_path, gen_target):
    import json

    train(cfg(tiny, tmp_path / "all", stage="rra-gpt", steps=1, gen_target=gen_target))
    rec = json.loads((tmp_path / "all.log.jsonl").read_text().splitlines()[0])
    assert {"gen", "rank", "clf"} <= rec.keys()
    assert rec["loss"] == pytest.approx(rec["gen"] + rec["rank"] + rec["clf"], rel=1e-4)
    train(cfg(tiny, tmp_path / "rank", stage="rra-gpt", steps=1, gen_target=gen_target, w_gen=0.0, w_clf=0.0))
    rec = json.loads((tmp_path / "rank.log.jsonl").read_text().splitlines()[0])
    assert "gen" not in rec and "clf" not in rec and rec["loss"] == pytest.approx(rec["rank"], rel=1e-4)


def test_teacher_scorer_spec(tiny, tmp_path):
    from training.data.hits import Candidate
    from training.evaluate.scorers import make_scorer

    out = train(cfg(tiny, tmp_path / "sft", steps=1))
    scorer = make_scorer(f"teacher:{out}")
    cands = [Candidate("a", "Fleas feed on blood.", 1, 0.0), Candidate("b", "A flea market.", 2, 0.0)]
    assert scorer.score("what do fleas eat", cands) == pytest.approx(
        DenseTeacher(out).score("what do fleas eat", [c.text for c in cands]), abs=1e-6)
    with pytest.raises(ValueError, match="teacher folder"):
        make_scorer("teacher")


def test_ablate_command_trains_each_variant_and_reports(tiny, tmp_path):
    import json

    from training.cli import main

    report = tmp_path / "ablation.json"
    rc = main(["teacher", "ablate", "--init", str(tiny), "--out", str(tmp_path / "abl"), "--steps", "1",
               "--batch-size", "2", "--max-length", "40", "--max-query-tokens", "12", "--train-layers", "1",
               "--sources", "msmarco", "--variants", "rank,rank+clf", "--sets", "dl19", "--limit-queries", "1",
               "--report", str(report), "--quiet"])
    assert rc == 0
    results = json.loads(report.read_text())["results"]
    assert set(results) == {"rra-gpt[rank]", "rra-gpt[rank+clf]"}
    assert all(cells["dl19"]["queries"] == 1 for cells in results.values())
    assert (tmp_path / "abl" / "rank_clf" / "score_head.pt").exists()
    assert "rra-gpt[rank+clf]" in report.with_suffix(".md").read_text()
