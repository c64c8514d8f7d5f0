"""Export the student's inference graph to ONNX with optimum (``main_export``, text-classification).

Only the Hugging Face files of the checkpoint are staged for export (config, weights, tokenizer),
so the Term Control Layer (``tcl.pt``) cannot reach the graph: what is exported is exactly the
``BertForSequenceClassification`` whose [CLS] score was served during training evaluation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HF_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "vocab.txt")
EXPECTED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def stage_inference_files(checkpoint: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in HF_FILES:
        if (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, target / name)
    return target


def export_onnx(checkpoint: Path, out_dir: Path, opset: int | None = None) -> Path:
    """``out_dir/model.onnx``: inputs int64 [batch, sequence] x3, output ``logits`` float [batch, 1]."""
    from optimum.exporters.onnx import main_export

    staged = stage_inference_files(checkpoint, out_dir.parent / "hf")
    main_export(
        str(staged), str(out_dir), task="text-classification", opset=opset, device="cpu",
        local_files_only=True, library_name="transformers", do_validation=True,
    )
    path = out_dir / "model.onnx"
    check_signature(path)
    return path


def check_signature(path: Path) -> dict:
    """Fail unless the graph has the served signature with dynamic batch and sequence axes."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {i.name: dims(i) for i in model.graph.input}
    outputs = {o.name: dims(o) for o in model.graph.output}
    if tuple(sorted(inputs)) != tuple(sorted(EXPECTED_INPUTS)):
        raise RuntimeError(f"{path}: inputs {sorted(inputs)} != {sorted(EXPECTED_INPUTS)}")
    for name, shape in inputs.items():
        if len(shape) != 2 or not all(isinstance(d, str) for d in shape):
            raise RuntimeError(f"{path}: input {name} has shape {shape}, expected dynamic [batch, sequence]")
    if list(outputs) != ["logits"] or len(outputs["logits"]) != 2 or outputs["logits"][1] != 1 \
            or not isinstance(outputs["logits"][0], str):
        raise RuntimeError(f"{path}: outputs {outputs}, expected logits [batch, 1]")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"inputs": inputs, "outputs": outputs, "opset": opset}
