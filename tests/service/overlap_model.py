"""A second real ONNX "cross-encoder" whose scores mean something: the logit counts the document
tokens that also occur in the query (minus 2). Same inputs/outputs as the exported student, so the
service cannot tell it apart; used where a test needs relevance it can predict (ranking, a relevant
passage hidden at the end of a long document). Built with the ``onnx`` helper API, no torch.

    logit[b] = sum_i doc[b,i] * max_j(query[b,j] * [ids[b,i] == ids[b,j]]) - 2
    doc   = attention_mask * token_type_ids        (document side, incl. its final [SEP])
    query = attention_mask * (1 - token_type_ids)  (query side, incl. [CLS] and [SEP])

The document's [SEP] always matches the query's, so an unrelated document scores 1 - 2 = -1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def build_overlap_onnx(version_dir: Path, max_length: int = 64) -> Path:
    import onnx
    from onnx import TensorProto, helper

    from training.base_models import minilm_path

    def axes(name, values):
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["token_type_ids"], ["type_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["mask_f", "type_f"], ["doc"]),
        helper.make_node("Sub", ["mask_f", "doc"], ["query"]),
        helper.make_node("Unsqueeze", ["input_ids", "ax2"], ["ids_col"]),  # [B, L, 1]
        helper.make_node("Unsqueeze", ["input_ids", "ax1"], ["ids_row"]),  # [B, 1, L]
        helper.make_node("Equal", ["ids_col", "ids_row"], ["same"]),  # [B, L, L]
        helper.make_node("Cast", ["same"], ["same_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["query", "ax1"], ["query_row"]),
        helper.make_node("Mul", ["same_f", "query_row"], ["in_query"]),
        helper.make_node("ReduceMax", ["in_query"], ["hit"], axes=[2], keepdims=0),  # opset 17: attribute
        helper.make_node("Mul", ["hit", "doc"], ["doc_hit"]),
        helper.make_node("ReduceSum", ["doc_hit", "ax1"], ["count"], keepdims=1),  # [B, 1]
        helper.make_node("Sub", ["count", "two"], ["logits"]),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch_size", "sequence_length"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", 1])
    graph = helper.make_graph(
        nodes, "token_overlap", inputs, [output],
        initializer=[axes("ax1", [1]), axes("ax2", [2]), helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    version_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, version_dir / "model.onnx")
    shutil.copy(minilm_path() / "tokenizer.json", version_dir / "tokenizer.json")
    (version_dir / "rerank.json").write_text(json.dumps(
        {"max_length": max_length, "model_version": "token-overlap-test"}, indent=2))
    return version_dir / "model.onnx"
