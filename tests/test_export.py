"""``rerank export`` on a tiny student: ONNX without the TCL, parity, ORT variants, the int8 guard,
and the model-repository version it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.tiny_student import save_tiny_student
from training.cli import main as rerank
from training.export.onnx_export import check_signature
from training.export.pipeline import ExportOptions, decide_served, export_student

torch.set_num_threads(1)  # tiny tensors: more threads only contend on a shared CI machine


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny student trained "with TCL": its TCL weights are non-zero, so a TCL that leaked into
    the exported graph would change the scores."""
    from training.student.model import RRABert

    path = save_tiny_student(tmp_path_factory.mktemp("student") / "best", tcl=True)
    model = RRABert.load(path)
    torch.nn.init.normal_(model.tcl.mlp[-1].weight, std=0.5)
    from training.base_models import minilm_path

    return model.save(path, minilm_path())


def _opts(checkpoint, tmp_path, **kw):
    return ExportOptions(checkpoint=str(checkpoint), model_repository=str(tmp_path / "repo"),
                         work_dir=str(tmp_path / "work"), parity_pairs=24, eval_limit_queries=2, **kw)


def test_decide_served():
    variants = {"fp32": {"ndcg@10": 0.70}, "optimized": {"ndcg@10": 0.70}, "int8": {"ndcg@10": 0.696}}
    assert decide_served(variants, "optimized", 0.005, "fallback")[0] == "int8"
    served, guard = decide_served(variants, "optimized", 0.003, "fallback")
    assert served == "optimized" and not guard["accepted"] and guard["drop"] == pytest.approx(0.004)
    assert decide_served(variants | {"int8": {"ndcg@10": 0.75}}, "fp32", -1.0, "fail")[0] == "fp32"


def test_export_refuses_int8_and_falls_back_to_the_optimized_model(checkpoint, tmp_path):
    from service.model_repository import parse_config

    report = export_student(_opts(checkpoint, tmp_path, max_int8_drop=-1.0))  # no int8 can pass
    assert report["int8_guard"]["accepted"] is False and report["served"] == "optimized"
    for name in ("fp32", "optimized"):
        parity = report["variants"][name]["parity"]
        assert parity["ok"] and parity["max_abs_diff"] <= 1e-4 and parity["pairs"] == 24
    assert set(report["variants"]) == {"fp32", "optimized", "int8"}

    version = tmp_path / "repo" / "rerank-student" / "1"
    assert {p.name for p in version.iterdir()} == {"model.onnx", "tokenizer.json", "rerank.json", "MODEL_CARD.md"}
    meta = json.loads((version / "rerank.json").read_text())
    assert meta["max_length"] == 64 and meta["variant"] == "optimized" and meta["truncation"] == "only_second"
    assert re.fullmatch(r"student\d*-optimized-[0-9a-f]{8}", meta["model_version"])
    assert (version / "model.onnx").read_bytes() == (tmp_path / "work" / "optimized" / "model_optimized.onnx").read_bytes()
    parse_config((tmp_path / "repo" / "rerank-student" / "config.pbtxt").read_text())
    card = (version / "MODEL_CARD.md").read_text()
    assert "refused" in card and "Licences" in card and "rerank train" not in card.split("## Metrics")[1]
    # the card describes the labels by the kind of teacher that made them (unknown for this one)
    assert "(teacher unknown)" in card
    tokenizer = json.loads((version / "tokenizer.json").read_text())
    assert tokenizer["padding"] is None and tokenizer["truncation"] is None
    assert json.loads((tmp_path / "work" / "export_report.json").read_text())["served"] == "optimized"

    # a second export goes to the next version
    report2 = export_student(_opts(checkpoint, tmp_path, optimize=False, quantize=False))
    assert report2["version"] == 2 and report2["served"] == "fp32"


def test_exported_graph_is_the_cls_head_only_with_dynamic_axes(checkpoint, tmp_path):
    import onnxruntime as ort

    from training.evaluate.scorers.student import StudentScorer
    from training.student.encoding import PairEncoder

    report = export_student(_opts(checkpoint, tmp_path, optimize=False, max_int8_drop=1.0))
    assert report["served"] == "int8" and report["int8_guard"]["accepted"]
    fp32 = tmp_path / "work" / "fp32" / "model.onnx"
    sig = check_signature(fp32)
    assert sig["outputs"]["logits"][1] == 1
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    encoder = PairEncoder(checkpoint / "tokenizer.json", 64)
    query, docs = "who invented the telephone", ["Bell patented the telephone in 1876.", "Bread needs yeast.",
                                                 "The telephone was invented by Bell, although Gray filed too."]
    served = StudentScorer.from_dir(checkpoint).score_texts(query, docs)
    with_tcl = StudentScorer.from_dir(checkpoint, use_tcl=True).score_texts(query, docs)
    for batch in ([docs[0]], docs):  # dynamic batch and length
        enc = encoder.encode(query, batch)
        logits = session.run(["logits"], dict(enc))[0]
        assert logits.shape == (len(batch), 1)
        np.testing.assert_allclose(logits[:, 0], served[: len(batch)], atol=1e-5)
    assert np.abs(np.array(with_tcl) - np.array(served)).max() > 1e-3  # the TCL would have changed them


def test_cli_exit_codes_parity_and_int8_fail(checkpoint, tmp_path):
    common = ["export", "--checkpoint", str(checkpoint), "--model-repository", str(tmp_path / "repo"),
              "--parity-pairs", "16", "--eval-limit-queries", "2"]
    # a tolerance no export can meet: the parity check must fail the command
    assert rerank(common + ["--work-dir", str(tmp_path / "w1"), "--parity-tol", "-1", "--no-quantize"]) == 1
    report = json.loads((tmp_path / "w1" / "export_report.json").read_text())
    assert report["error"] == "fp32 parity failed"
    # int8 refused with --on-int8-reject fail: exit 3 and nothing in the repository
    assert rerank(common + ["--work-dir", str(tmp_path / "w2"), "--no-optimize", "--max-int8-drop", "-1",
                            "--on-int8-reject", "fail"]) == 3
    assert not (tmp_path / "repo").exists()


def test_model_card_names_the_kind_of_labels():
    from training.export.model_card import label_kind

    assert "hard negatives" in label_kind("listwise") and "left out" in label_kind("listwise")
    assert label_kind("pointwise").startswith("point-wise teacher scores")
    assert label_kind("hand-written") == "teacher kind: hand-written"
    assert label_kind(None) == "teacher unknown"


def test_model_card_shows_every_training_stage(tmp_path):
    """A run started from another run's checkpoint (--base-model RUN/best) lists both commands,
    earliest first, and the licence follows the first stage's base weights."""
    import json

    from training.export.model_card import _starts_from_minilm, training_command, training_lineage

    first = {"labels": ["web.jsonl.gz"], "out": str(tmp_path / "r1"), "loss": "hybrid", "tcl": True,
             "epochs": 1, "lr": 6e-5, "seed": 42, "base_model": None}
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "train_args.json").write_text(json.dumps(first))
    second = {**first, "labels": ["extra.jsonl.gz"], "out": str(tmp_path / "r2"), "lr": 4e-5, "seed": 43,
              "base_model": str(tmp_path / "r1" / "best")}
    chain = training_lineage(second)
    assert [a["seed"] for a in chain] == [42, 43]
    commands = [training_command(a) for a in chain]
    assert "--base-model" not in commands[0] and f"--base-model {tmp_path / 'r1' / 'best'}" in commands[1]
    assert _starts_from_minilm(chain)
    # a base that is not a run folder ends the chain: its weights are what the card names
    elsewhere = training_lineage({**first, "base_model": str(tmp_path / "elsewhere")})
    assert len(elsewhere) == 1 and elsewhere[0]["base_model"]
    assert not _starts_from_minilm(elsewhere)
    assert training_lineage(None) == []

    from training.export.model_card import base_weights_line, earlier_labels_line

    assert base_weights_line(second["base_model"], chain) == (
        "- Base weights: sentence-transformers/all-MiniLM-L6-v2, trained in 2 stages (commands below); "
        f"this export continues `{tmp_path / 'r1' / 'best'}`.")
    assert earlier_labels_line(chain) == [
        "- Earlier stages' labels (their teachers are in those files' data cards): stage 1: `web.jsonl.gz`."]
    assert base_weights_line("minilm-folder", [first]) == "- Base weights: minilm-folder."
    assert earlier_labels_line([first]) == []


def test_int8_keep_float_leaves_the_matched_matmuls_in_fp32(checkpoint, tmp_path):
    import onnx

    from training.export import variants

    pattern = r"layer\.[0-9]+/output/dense/MatMul"
    report = export_student(_opts(checkpoint, tmp_path, optimize=False, max_int8_drop=1.0, int8_keep_float=[pattern],
                                  write_repository=False))
    kept = report["variants"]["int8"]["quantization"]["float_nodes"]
    assert kept == ["/bert/encoder/layer.0/output/dense/MatMul", "/bert/encoder/layer.1/output/dense/MatMul"]
    nodes = onnx.load(report["variants"]["int8"]["path"]).graph.node
    float_matmuls = {n.name for n in nodes if n.op_type == "MatMul"}
    assert set(kept) <= float_matmuls
    # the other weight MatMuls were quantized (ORT names its integer replacements after the original)
    assert any(n.op_type == "MatMulInteger" and "intermediate/dense" in n.name for n in nodes)
    assert not any(n.op_type == "MatMulInteger" and re.search(pattern, n.name) for n in nodes)

    with pytest.raises(ValueError, match="matches no node"):
        variants.float_nodes(tmp_path / "work" / "fp32" / "model.onnx", ["no-such-node"])


def test_int8_keep_float_embeddings_keeps_the_lookup_tables_float(checkpoint, tmp_path):
    import onnx
    from onnx import TensorProto

    report = export_student(_opts(checkpoint, tmp_path, optimize=False, max_int8_drop=1.0,
                                  int8_keep_float=["embeddings/"], write_repository=False))
    graph = onnx.load(report["variants"]["int8"]["path"]).graph
    gathers = [n for n in graph.node if n.op_type == "Gather" and "word_embeddings" in n.name]
    assert len(gathers) == 1
    tables = {i.name: i for i in graph.initializer}
    # the lookup reads the fp32 table itself, not an int8 copy that a DequantizeLinear expands
    assert tables[gathers[0].input[0]].data_type == TensorProto.FLOAT
    assert not any(n.op_type == "DequantizeLinear" and "embeddings" in n.name for n in graph.node)
    assert any(n.op_type == "MatMulInteger" for n in graph.node)  # the encoder is still int8

    # without the pattern ORT's quantizer does store the tables as int8
    from training.export import variants

    fp32_dir = Path(report["variants"]["fp32"]["path"]).parent
    plain, _, _ = variants.quantize(fp32_dir, tmp_path / "plain", per_channel=True)
    assert any(n.op_type == "DequantizeLinear" and "word_embeddings" in n.name for n in onnx.load(plain).graph.node)
