"""``rerank recover`` on a tiny student exported for real: the weights come back from fp32,
ORT-optimized (fused attention) and int8 graphs, the checkpoint scores like its source, and graphs
it cannot map are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers.tiny_student import save_tiny_student
from training.cli import main as rerank
from training.export.pipeline import ExportOptions, export_student
from training.export.recover import check_agreement, recover_checkpoint, recover_state_dict

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny student and its fp32, ORT-optimized and per-channel int8 graphs."""
    root = tmp_path_factory.mktemp("recover")
    checkpoint = save_tiny_student(root / "student", tcl=False, trained_like=True)
    report = export_student(ExportOptions(
        checkpoint=str(checkpoint), work_dir=str(root / "work"), parity_pairs=8, eval_limit_queries=1,
        per_channel=True, max_int8_drop=1.0, write_repository=False))
    variants = report["variants"]
    return checkpoint, variants["fp32"]["path"], variants["int8"]["path"], variants["optimized"]["path"]


def _original_state(checkpoint) -> dict:
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(str(checkpoint))
    return {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith("position_ids")}


def test_fp32_graph_gives_back_every_weight_exactly(exported, tmp_path):
    checkpoint, fp32, *_ = exported
    arrays, dequantized = recover_state_dict(fp32)
    original = _original_state(checkpoint)
    assert dequantized == 0 and set(arrays) == set(original)
    for name, value in original.items():
        np.testing.assert_allclose(arrays[name], value, atol=1e-7, err_msg=name)

    info = recover_checkpoint(fp32, tmp_path / "rec", config_from=checkpoint)
    assert info["dequantized"] == 0
    agreement = check_agreement(tmp_path / "rec", fp32, pairs=16)
    assert agreement["max_abs_diff"] <= 1e-4 and agreement["rule"] == "max abs diff <= 0.0001"


def test_optimized_graph_gives_back_the_fused_q_k_v(exported, tmp_path):
    import onnx

    checkpoint, _, _, optimized = exported
    graph = onnx.load(optimized).graph
    # ORT packed each layer's Q, K and V into one Attention node: nothing named query/key/value is left
    assert sum(n.op_type == "Attention" for n in graph.node) == 2
    assert not any("attention/self/query" in n.name for n in graph.node)
    assert not any("self.query" in i.name for i in graph.initializer)
    arrays, dequantized = recover_state_dict(optimized)
    original = _original_state(checkpoint)
    assert dequantized == 0 and set(arrays) == set(original)
    for name, value in original.items():
        np.testing.assert_allclose(arrays[name], value, atol=1e-7, err_msg=name)

    recover_checkpoint(optimized, tmp_path / "rec", config_from=checkpoint)
    assert check_agreement(tmp_path / "rec", optimized, pairs=16)["max_abs_diff"] <= 1e-4


def test_fused_attention_without_its_optional_bias_gives_zero_q_k_v_biases(exported, tmp_path):
    import onnx

    checkpoint, _, _, optimized = exported
    model = onnx.load(optimized)
    fused = [n for n in model.graph.node if n.op_type == "Attention"]
    # drop the bias input of one node: the op allows an empty name for an absent optional input
    fused[0].input[2] = ""
    stripped = tmp_path / "no-bias.onnx"
    onnx.save(model, stripped)

    arrays, _ = recover_state_dict(stripped)
    original = _original_state(checkpoint)
    assert set(arrays) == set(original)
    biased = {k for k in original if ".attention.self." in k and k.endswith(".bias")}
    zeroed = {k for k in biased if not np.any(arrays[k])}
    # exactly one layer's three projections lost their bias; everything else is untouched
    assert len(zeroed) == 3 and len({k.split(".attention")[0] for k in zeroed}) == 1
    assert all(np.any(original[k]) for k in zeroed)  # trained_like: the originals were not zero
    for name, value in original.items():
        if name not in zeroed:
            np.testing.assert_allclose(arrays[name], value, atol=1e-7, err_msg=name)

    # a bias named but computed in the graph (not stored) is not "absent": that layer is refused, not zeroed
    fused[0].input[2] = fused[0].input[0]
    onnx.save(model, stripped)
    with pytest.raises(ValueError, match=r"missing \[.*attention\.self\.query\.bias.*\] \(6\)"):
        recover_checkpoint(stripped, tmp_path / "rec", config_from=checkpoint)


def test_int8_graph_gives_back_weights_within_half_a_quantization_step(exported):
    checkpoint, _, int8, _ = exported
    import onnx
    from onnx import numpy_helper

    arrays, dequantized = recover_state_dict(int8)
    original = _original_state(checkpoint)
    assert set(arrays) == set(original)
    # 2 layers x (Q, K, V, attention output, intermediate, output) + pooler + classifier, and the
    # three embedding tables (quantized here: no --int8-keep-float 'embeddings/')
    assert dequantized == 17
    scales = {i.name: numpy_helper.to_array(i) for i in onnx.load(int8).graph.initializer if i.name.endswith("_scale")}
    step = max(float(s.max()) for s in scales.values())
    moved = [name for name in original if not np.array_equal(arrays[name], original[name])]
    assert {"bert.encoder.layer.0.attention.self.query.weight", "classifier.weight",
            "bert.embeddings.word_embeddings.weight"} <= set(moved)
    assert all(name.endswith(".weight") for name in moved)  # biases and LayerNorms stay fp32
    for name in moved:
        assert np.abs(arrays[name] - original[name]).max() <= step / 2 + 1e-6, name


def test_cli_writes_a_checkpoint_that_student_scorers_and_training_load(exported, tmp_path):
    checkpoint, _, int8, _ = exported
    out = tmp_path / "rec"
    assert rerank(["recover", "--model", int8, "--out", str(out), "--config-from", str(checkpoint),
                   "--check-pairs", "0"]) == 0
    meta = json.loads((out / "student.json").read_text())
    assert meta["max_length"] == 64 and meta["tcl"]["enabled"] is False  # the exported length; no TCL
    assert meta["recovered"]["recovered_from"] == int8 and meta["recovered"]["dequantized"] == 17
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= {p.name for p in out.iterdir()}

    from training.student.model import RRABert
    from training.student.config import StudentConfig

    # a student trained from it says where its weights came from in its model card
    from training.export.model_card import _licence_line, base_weights_line

    stage = [{"base_model": str(out), "labels": ["live.jsonl"]}]
    assert base_weights_line(str(out), stage) == (
        f"- Base weights: `{out}`, rebuilt by `rerank recover` from `{int8}` (model_version None; "
        "that version's MODEL_CARD.md says how it was trained).")
    assert _licence_line(str(out), stage) == f"- Base weights: those of `{int8}`: see the licences in its MODEL_CARD.md."

    config = StudentConfig.load(out)
    config.tcl.enabled = True  # a further stage may train a fresh TCL on top
    model = RRABert.from_base(out, config)
    ids = torch.tensor([[101, 2054, 102, 3000, 102]])
    assert model(ids, torch.ones_like(ids), torch.tensor([[0, 0, 0, 1, 1]])).score.shape == (1,)


def test_agreement_check_fails_against_another_model(exported, tmp_path):
    checkpoint, fp32, *_ = exported
    other = save_tiny_student(tmp_path / "other", tcl=False, seed=7)
    report = export_student(ExportOptions(checkpoint=str(other), work_dir=str(tmp_path / "work"), parity_pairs=4,
                                          eval_limit_queries=1, optimize=False, quantize=False,
                                          write_repository=False))
    recover_checkpoint(report["variants"]["fp32"]["path"], tmp_path / "rec", config_from=checkpoint)
    with pytest.raises(ValueError, match="disagrees"):
        check_agreement(tmp_path / "rec", fp32, pairs=16)


def test_a_graph_without_the_weights_is_refused_with_the_missing_names(exported, tmp_path):
    import onnx

    _, fp32, *_ = exported
    model = onnx.load(fp32)
    weight = next(n.input[1] for n in model.graph.node if n.name == "/bert/encoder/layer.1/attention/self/query/MatMul")
    kept = [i for i in model.graph.initializer if i.name != weight]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    broken = tmp_path / "broken.onnx"
    onnx.save(model, broken)
    with pytest.raises(ValueError, match=r"missing \['bert\.encoder\.layer\.1\.attention\.self\.query\.weight'\] \(1\)"):
        recover_checkpoint(broken, tmp_path / "rec", config_from=exported[0])
    assert rerank(["recover", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
