"""The RRADistill label pipeline end to end: pre-ranker -> top/bottom-k -> list-wise teacher over
HTTP (the project's teacher server) -> labels; resume after a killed run; evaluation queries refused."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.tiny_llm import build_tiny_llm, serve_app, wrap_app
from training.data import read_hits
from training.evaluate.scorers import make_scorer
from training.labels.pipeline import LabelConfig, run_labeling
from training.labels.schema import read_labels
from training.teacher.api import ListwiseAPITeacher
from training.teacher.dense import DenseTeacher
from training.teacher.listwise import build_messages, parse_permutation
from training.teacher.openai_client import ChatClient
from training.teacher.server import create_app
from training.teacher.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "label_queries.jsonl"   # 10 real MS MARCO train queries x 8


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    tiny = build_tiny_llm(root / "tiny")
    return train(TrainConfig(stage="sft", out=str(root / "sft"), init=str(tiny), steps=1, batch_size=2,
                             max_length=48, max_query_tokens=12, train_layers=1, sources=["msmarco"],
                             progress=False))


def check_record(rec, kept: int):
    assert len(rec.candidates) == kept
    ranked = [c for c in rec.candidates if c.teacher_rank is not None]
    assert [c.teacher_rank for c in ranked] == list(range(1, len(ranked) + 1))   # teacher order, ranked first
    assert all(c.hard_negative == (c.teacher_rank is None) for c in rec.candidates)
    assert rec.candidates[: len(ranked)] == ranked


def test_listwise_labels_with_pointwise_scores(teacher_dir, tmp_path):
    dense = DenseTeacher(teacher_dir)
    queries = read_hits(FIXTURE, limit_queries=3)
    with serve_app(create_app(dense, model_name="tiny")) as url:
        client = ChatClient(url, "tiny", cache=tmp_path / "cache.sqlite")
        ranker = ListwiseAPITeacher(client, window=4, step=2)     # 5 kept docs -> 2 windows each
        cfg = LabelConfig(top_k=3, bottom_k=2, pool=8, workers=2, pre_ranker_spec="bm25", source="fixture")
        out = tmp_path / "labels.jsonl"
        summary = run_labeling(queries, out, make_scorer("bm25"), ranker, dense, cfg, progress=False)
    assert (summary.queries, summary.docs, summary.failed, summary.skipped) == (3, 15, 0, 0)
    assert summary.teacher_calls["ranker"]["requests"] == 6
    assert summary.teacher_calls["scorer"]["pairs_scored"] >= 15
    records = {r.qid: r for r in read_labels(out)}
    assert set(records) == {q.qid for q in queries}
    for qc in queries:
        rec = records[qc.qid]
        check_record(rec, kept=5)
        # bm25 pre-ranker = candidate order: ranks 1-3 and 7-8 of the pool of 8 are kept
        assert sorted(c.pre_rank for c in rec.candidates) == [1, 2, 3, 7, 8]
        assert {c.docid for c in rec.candidates} <= {c.docid for c in qc.candidates}
        expected = dict(zip([c.docid for c in rec.candidates],
                            dense.score(qc.query, [c.text for c in rec.candidates])))
        assert all(c.teacher_score == pytest.approx(expected[c.docid], abs=1e-5) for c in rec.candidates)
        assert rec.teacher == {"name": "openai:tiny", "version": "rankgpt-v1", "kind": "listwise",
                               "scorer": dense.info.as_dict()}
        assert rec.pre_ranker == {"spec": "bm25", "top_k": 3, "bottom_k": 2, "pool": 8}


@pytest.mark.slow
def test_real_smollm_permutation_omissions_become_hard_negatives(tmp_path):
    """SmolLM2-135M writes the permutation itself (RankGPT style); whatever ids it leaves out are
    the hard negatives, exactly as the parser reads its answer."""
    from training.teacher.zero_shot import ZeroShotTeacher

    llm = ZeroShotTeacher()
    queries = read_hits(FIXTURE, limit_queries=1)
    with serve_app(create_app(llm, model_name="smollm2", listwise="generate")) as url:
        client = ChatClient(url, "smollm2", cache=tmp_path / "cache.sqlite", max_tokens=16)
        ranker = ListwiseAPITeacher(client, max_words=25)
        cfg = LabelConfig(top_k=2, bottom_k=2, pool=4)
        out = tmp_path / "labels.jsonl"
        summary = run_labeling(queries, out, make_scorer("bm25"), ranker, None, cfg, progress=False)
        rec = read_labels(out)[0]
        check_record(rec, kept=4)
        assert all(c.teacher_score is None for c in rec.candidates)   # no point-wise teacher given
        # the same request again: answered by the cache, parsed the same way
        pool = [c.text for c in queries[0].candidates[:4]]
        answer = client.chat(build_messages(queries[0].query, pool, 25))
    assert client.counters.cache_hits >= 1
    parsed = parse_permutation(answer, 4)
    if parsed.ranked:   # an answer with no id at all is a parse failure: nothing is marked
        omitted = {queries[0].candidates[i].docid for i in parsed.omitted}
        assert {c.docid for c in rec.candidates if c.hard_negative} == omitted
        assert summary.hard_negatives == len(omitted)
    else:
        assert summary.teacher_calls["ranker"]["parse_failures"] == 1


def _label_cmd(out, cache, url, teacher_dir, *extra):
    return [sys.executable, "-m", "training.cli", "label", "--candidates", str(FIXTURE), "--out", str(out),
            "--teacher", f"openai:tiny@{url}/v1", "--score-teacher", f"dense:{teacher_dir}", "--cache", str(cache),
            "--top-k", "2", "--bottom-k", "2", "--pool", "6", "--window", "4", "--quiet", *extra]


def test_label_command_resumes_after_being_killed(teacher_dir, tmp_path):
    out, cache = tmp_path / "labels.jsonl", tmp_path / "cache.sqlite"
    # a slow provider (0.3 s a request) so the run can be killed between queries
    app, state = wrap_app(create_app(DenseTeacher(teacher_dir), model_name="tiny"), delay_s=0.3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with serve_app(app) as url:
        proc = subprocess.Popen(_label_cmd(out, cache, url, teacher_dir), cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while not (out.exists() and out.read_text().count("\n") >= 1):
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "no query was labeled in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        written = [json.loads(line)["qid"] for line in out.read_text().splitlines() if line.strip().endswith("}")]
        assert 1 <= len(written) < 10, "the run should have been killed mid-way"
        seen_before = state["seen"]

        done = subprocess.run(_label_cmd(out, cache, url, teacher_dir), cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    qids = [r.qid for r in read_labels(out)]
    assert len(qids) == len(set(qids)) == 10                     # nothing lost, nothing twice
    assert set(qids) == {q.qid for q in read_hits(FIXTURE)}
    assert qids[: len(written)] == written                          # the first run's records were kept
    summary = json.loads((tmp_path / "labels.jsonl.summary.json").read_text())
    assert summary["skipped"] == len(written) and summary["queries"] == 10 - len(written)
    # finished queries cost nothing the second time; only unfinished ones reached the server
    assert state["seen"] - seen_before <= 10 - len(written)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "dl19"], "not a training set"),
    (["--dataset", "nfcorpus-test"], "not a training set"),
    (["--candidates", "{dl19}"], "evaluation queries"),
])
def test_evaluation_queries_are_refused(tmp_path, capsys, args, message):
    from training.cli import main
    from training.paths import data_dir

    args = [a.format(dl19=data_dir() / "trec-dl" / "dl19_bm25_top100.jsonl") for a in args]
    assert main(["label", *args, "--out", str(tmp_path / "x.jsonl"), "--teacher", "zero-shot"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_train_split_queries_worded_like_evaluation_queries_are_dropped():
    """NFCorpus repeats some query texts across splits: a named train set drops them, quietly."""
    from training.data.beir import load_beir
    from training.data.datasets import beir_source
    from training.data.hits import QueryCandidates
    from training.data.leakage import drop_evaluation

    nf = load_beir(beir_source("nfcorpus"), name="nfcorpus")
    test_text = nf.queries[next(iter(nf.qrels["test"]))]
    queries = [QueryCandidates("t1", "  " + test_text.upper() + " "), QueryCandidates("t2", "a fresh training query")]
    kept, dropped = drop_evaluation(queries)
    assert dropped == 1 and [q.qid for q in kept] == ["t2"]
