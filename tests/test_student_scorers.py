"""The ``student:DIR`` and ``onnx:PATH`` scorers through ``rerank eval`` (subprocess) on DL19, and
the ONNX scorer's preprocessing against the service's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.tiny_student import save_tiny_student
from training.export.pipeline import ExportOptions, export_student

RERANK = [sys.executable, "-m", "training.cli"]


def _eval(scorer: str, out) -> dict:
    proc = subprocess.run(
        [*RERANK, "eval", "--dataset", "dl19", "--limit-queries", "2", "--scorer", scorer, "--json", str(out),
         "--quiet"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("scorers")
    run = root / "run"
    save_tiny_student(run / "best", tcl=True)  # a `rerank train` run folder: student:RUN uses RUN/best
    export_student(ExportOptions(checkpoint=str(run), model_repository=str(root / "repo"),
                                 work_dir=str(root / "work"), parity_pairs=16, optimize=False, quantize=False,
                                 eval_limit_queries=1))
    return run, root / "repo"


def test_student_and_onnx_scorers_agree_through_rerank_eval(exported, tmp_path):
    run, repo = exported
    student = _eval(f"student:{run}", tmp_path / "student.json")
    onnx = _eval(f"onnx:{repo}", tmp_path / "onnx.json")
    version = _eval(f"onnx:{repo / 'rerank-student' / '1'}", tmp_path / "version.json")
    assert student["queries"] == onnx["queries"] == 2 and student["pairs"] == 200
    for key in ("ndcg@10", "ndcg@5", "mrr@10"):
        assert onnx[key] == pytest.approx(student[key], abs=1e-9)
        assert version[key] == onnx[key]
    assert onnx["scorer"].startswith("onnx:") and student["scorer"].startswith("student:")


def test_onnx_path_forms_resolve_to_the_highest_version(exported, tmp_path):
    import shutil

    from training.evaluate.scorers.onnx_runtime import resolve_onnx

    _, repo = exported
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy)
    shutil.copytree(copy / "rerank-student" / "1", copy / "rerank-student" / "7")
    (copy / "rerank-student" / "10").mkdir()  # no model.onnx: not a version
    expected = copy / "rerank-student" / "7" / "model.onnx"
    assert resolve_onnx(copy) == resolve_onnx(copy / "rerank-student") == resolve_onnx(expected) == expected
    with pytest.raises(FileNotFoundError):
        resolve_onnx(tmp_path / "nothing")


def test_pair_encoding_matches_the_service_tokenizer():
    pytest.importorskip("service.tokenization")
    from service.tokenization import PairTokenizer
    from training.base_models import minilm_path
    from training.data import read_hits
    from training.data.datasets import eval_sets
    from training.student.encoding import PairEncoder, load_tokenizer

    encoder = PairEncoder(minilm_path() / "tokenizer.json", 256)
    service = PairTokenizer(load_tokenizer(minilm_path()), 256)
    for qc in read_hits(eval_sets()["dl19"].candidates, limit_queries=3):
        docs = [c.text for c in qc.candidates[:30]]
        ours = encoder.encode(qc.query, docs)
        theirs = service.encode(qc.query, docs)
        for i, (ids, types) in enumerate(zip(theirs.input_ids, theirs.token_type_ids)):
            n = int(ours["attention_mask"][i].sum())
            assert ours["input_ids"][i, :n].tolist() == ids
            assert ours["token_type_ids"][i, :n].tolist() == types


def test_onnx_max_length_option_overrides_the_version_and_rejects_typos(exported):
    from training.evaluate.scorers import make_scorer

    _, repo = exported
    default = make_scorer(f"onnx:{repo}")
    short = make_scorer(f"onnx:{repo}?max_length=16")
    assert short.max_length == 16 and default.max_length != 16
    long_doc = "word " * 200
    assert len(short.encoder.encode_pairs([("q", long_doc)])["input_ids"][0]) == 16
    for bad in ("max_len=16", "max_length=abc", "max_length=2"):
        with pytest.raises(ValueError, match="max_length"):
            make_scorer(f"onnx:{repo}?{bad}")
