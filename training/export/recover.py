"""A trainable checkpoint rebuilt from an exported student (``rerank recover``): the reverse of export.

The repository commits only what it serves (``model_repository/<model>/<version>/model.onnx``), not
the PyTorch checkpoints behind it, so a clone that wants to retrain the served student (on shadow
labels, or one more stage) has to start from the ONNX graph. Every weight of the exported
``BertForSequenceClassification`` is still in it:

- embeddings, LayerNorms and biases keep their PyTorch names as initializers (or as Identity
  outputs, where the exporter stored equal tensors once);
- a linear layer is a ``MatMul`` (or, after int8 quantization, a ``MatMulInteger``) whose node name
  carries the module path (``/bert/encoder/layer.0/attention/self/query/MatMul_quant``) and whose
  weight initializer is the PyTorch weight transposed to ``[in, out]``;
- an int8 weight is ``<name>_quantized`` with ``<name>_scale`` and ``<name>_zero_point`` (per output
  channel or per tensor): it is dequantized as ``(q - zero_point) * scale``.

An int8 source gives back the int8-rounded weights, not the fp32 ones it was quantized from; a
further training stage starts from them as from any checkpoint. ``check_agreement`` scores real
pairs with both: a float source must match to 1e-4 (the same bar as export's parity); an int8 one
also quantizes activations at run time, so only the ranking must agree (Spearman >= 0.99: a
mis-mapped tensor scores near 0). An ORT-optimized graph (the ``optimized`` variant, served when
int8 is refused) fuses each layer's Q, K and V projections into one ``Attention`` node whose weight
is ``[in, 3 * out]`` (Q, K, V side by side) and bias ``[3 * out]``; the layer is the one whose
attention output projection reads the node's output, and the three are split back out. Any other
graph that does not fill the model is refused with the names that could not be mapped.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from training.evaluate.scorers.onnx_runtime import DEFAULT_MAX_LENGTH, resolve_onnx
from training.student.config import student_json_block

QUANT_SUFFIX = "_quantized"
FLOAT_TOLERANCE = 1e-4
MIN_INT8_SPEARMAN = 0.99
_PARAM = re.compile(r"^(bert|classifier)\.")  # a BertForSequenceClassification parameter name
# "/bert/encoder/layer.0/attention/self/query/MatMul_quant" -> "bert.encoder.layer.0.attention.self.query"
_LINEAR_NODE = re.compile(r"^/(?P<module>.+)/(?:Gemm_)?MatMul(?:_quant)?$")


def recovered_info(checkpoint) -> dict | None:
    """The ``recovered`` block of a checkpoint's ``student.json`` (None unless ``rerank recover`` made it)."""
    return student_json_block(checkpoint, "recovered")


def recover_state_dict(onnx_file: str | Path) -> tuple[dict, int]:
    """PyTorch parameter name -> float32 numpy array for every weight the graph holds, and how many
    of them were dequantized from int8."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_file))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    # the exporter stores equal tensors once (a fresh model's zero biases, unit LayerNorm weights)
    # and names the other parameters through Identity nodes
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            inits[node.output[0]] = inits[node.input[0]]

    def is_quantized(name: str) -> bool:
        return name.endswith(QUANT_SUFFIX) and f"{name[: -len(QUANT_SUFFIX)]}_scale" in inits

    def dequantize(name: str, axis: int = 1):
        base = name[: -len(QUANT_SUFFIX)]
        q = inits[name].astype(np.float32)
        scale = inits[f"{base}_scale"].astype(np.float32)
        zero = inits.get(f"{base}_zero_point", np.zeros_like(scale)).astype(np.float32)
        if scale.size > 1:  # one scale per channel along `axis`
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return (q - zero) * scale

    axes = {node.input[0]: next((a.i for a in node.attribute if a.name == "axis"), 1)
            for node in model.graph.node if node.op_type == "DequantizeLinear"}
    state, dequantized = {}, 0
    # tensors stored under their PyTorch name: float, or int8 behind a DequantizeLinear (lookup tables)
    for name, array in inits.items():
        param = name[: -len(QUANT_SUFFIX)] if is_quantized(name) else name
        if not _PARAM.match(param) or param.endswith(("_Transposed", "_scale", "_zero_point")):
            continue
        state[param] = dequantize(name, axes.get(name, 1)) if param != name else array.astype(np.float32)
        dequantized += param != name
    # linear layers: the weight is the MatMul's second input, [in, out], named after the node
    for node in model.graph.node:
        match = _LINEAR_NODE.match(node.name) if node.op_type in ("MatMul", "MatMulInteger") else None
        name = node.input[1] if match else None
        if name not in inits or inits[name].ndim != 2:
            continue  # an activation-activation MatMul (Q·Kᵀ, softmax·V)
        w = dequantize(name) if is_quantized(name) else inits[name].astype(np.float32)
        state[match.group("module").replace("/", ".") + ".weight"] = np.ascontiguousarray(w.T)
        dequantized += is_quantized(name)
    state.update(_unfused_attention(model, inits))
    return state, dequantized


def _unfused_attention(model, inits: dict) -> dict:
    """Q/K/V weights and biases of every fused ``Attention`` node (ORT optimization), under the
    PyTorch names of the layer whose ``attention/output/dense`` MatMul consumes the node's output."""
    import numpy as np

    readers = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    state = {}
    for node in model.graph.node:
        if node.op_type != "Attention":
            continue
        # the bias input is optional in the op: an empty name means the projections had none
        bias_name = node.input[2] if len(node.input) > 2 else ""
        if node.input[1] not in inits or (bias_name and bias_name not in inits):
            continue  # weight or bias computed in the graph, not stored: their names stay missing
        modules = [m.group("module") for r in readers.get(node.output[0], [])
                   if (m := _LINEAR_NODE.match(r.name)) and m.group("module").endswith("/attention/output/dense")]
        if len(modules) != 1:
            continue  # not a BERT self-attention we can place: its names stay missing
        prefix = modules[0].removesuffix("/output/dense").replace("/", ".") + ".self"
        weight = inits[node.input[1]].astype(np.float32)
        bias = inits[bias_name].astype(np.float32) if bias_name else np.zeros(weight.shape[1], np.float32)
        for part, w, b in zip(("query", "key", "value"), np.split(weight, 3, axis=1), np.split(bias, 3)):
            state[f"{prefix}.{part}.weight"] = np.ascontiguousarray(w.T)
            state[f"{prefix}.{part}.bias"] = b
    return state


def recover_checkpoint(source: str | Path, out_dir: str | Path, config_from: str | Path) -> dict:
    """Write a Hugging Face folder (``config.json``, ``model.safetensors``, tokenizer) that
    ``rerank train --base-model`` and ``student:DIR`` load. ``config_from``: a BERT folder with the
    same architecture (all-MiniLM-L6-v2), whose config supplies what weights cannot (head count).
    Fails unless the recovered tensors fill the model exactly, name for name and shape for shape."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from training.student.config import StudentConfig

    onnx_file = resolve_onnx(source)
    arrays, dequantized = recover_state_dict(onnx_file)
    config = BertConfig.from_pretrained(str(config_from), num_labels=1)
    model = BertForSequenceClassification(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    got = {k: tuple(v.shape) for k, v in arrays.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing or unexpected or wrong:
        raise ValueError(f"{onnx_file}: cannot rebuild BertForSequenceClassification from this graph: "
                         f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), "
                         f"wrong shape {[(k, got[k], expected[k]) for k in wrong[:3]]} "
                         "(is it an export of a BertForSequenceClassification student?)")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (Path(config_from) / name).is_file():
            shutil.copy2(Path(config_from) / name, out / name)
    served_file = onnx_file.with_name("rerank.json")
    served = json.loads(served_file.read_text(encoding="utf-8")) if served_file.is_file() else {}
    # student.json lets `student:DIR` score it at the served length; the graph holds no TCL.
    student = StudentConfig(base_model=str(onnx_file), max_length=int(served.get("max_length", DEFAULT_MAX_LENGTH)))
    student.tcl.enabled = False
    info = {"recovered_from": str(onnx_file), "served_model_version": served.get("model_version"),
            "tensors": len(arrays), "dequantized": dequantized}
    student.save(out, {"recovered": info})
    return info


def check_agreement(checkpoint: str | Path, source: str | Path, pairs: int, batch_size: int = 32) -> dict:
    """The recovered checkpoint (PyTorch) against its source graph (ONNX Runtime) on ``pairs`` real
    DL19 pairs; raises ValueError when they disagree beyond what the source's int8 explains."""
    import numpy as np
    from scipy.stats import spearmanr

    from training.export import parity
    from training.student.config import StudentConfig
    from training.student.encoding import PairEncoder, load_tokenizer

    checkpoint = Path(checkpoint)
    config = StudentConfig.load(checkpoint)
    encoder = PairEncoder(load_tokenizer(checkpoint), config.max_length)
    real = parity.real_pairs(pairs)
    recovered = parity.torch_scores(checkpoint, real, encoder, batch_size)
    served = parity.onnx_scores(resolve_onnx(source), real, encoder, batch_size)
    diff = parity.compare(served, recovered, FLOAT_TOLERANCE)
    rho = float(spearmanr(served, recovered).correlation) if len(real) > 1 else 1.0
    quantized = bool((recovered_info(checkpoint) or {}).get("dequantized"))
    result = {"pairs": diff.pairs, "max_abs_diff": diff.max_abs_diff, "mean_abs_diff": diff.mean_abs_diff,
              "spearman": rho, "source_int8": quantized,
              "rule": f"spearman >= {MIN_INT8_SPEARMAN}" if quantized else f"max abs diff <= {FLOAT_TOLERANCE:g}"}
    ok = rho >= MIN_INT8_SPEARMAN if quantized else diff.ok
    if not ok or not np.isfinite(recovered).all():
        raise ValueError(f"recovered checkpoint disagrees with {source}: {result}")
    return result
