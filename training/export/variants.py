"""ORT graph optimization and dynamic int8 quantization of the exported fp32 graph (optimum).

- Optimization: ``ORTOptimizer`` at level 2 for CPU (attention, LayerNorm, GELU fusions; no GELU
  approximation, which would change the numbers).
- Quantization: ``ORTQuantizer`` with ``AutoQuantizationConfig.<arch>(is_static=False)``: weights
  int8 at export, activations quantized per batch at run time, so no calibration data is needed.
  It starts from the fp32 graph, not the optimized one: ORT's quantizer cannot infer types through
  the fused contrib ops (ORT still applies its own fusions when it loads the int8 graph).
  The instruction set matters: an avx512_vnni model is fastest on such CPUs, avx2 runs everywhere
  on x86-64; ``auto`` picks what this machine has, so export on a machine like the server's.
- Keeping some nodes in float (``keep_float``: regular expressions on ONNX node names): int8
  error is not spread evenly over a BERT. The FFN output projection (``layer.N/output/dense``)
  reads post-GELU activations with outlier channels, and softmax·V (``attention/self/MatMul_1``)
  reads attention probabilities; a per-batch uint8 scale represents both badly. Keeping those 12
  MatMuls in fp32 let version 3's int8 pass the nDCG guard (README); keeping Q·Kᵀ and
  softmax·V alone did not. The quantizer also stores the embedding tables as int8 (``Gather`` +
  ``DequantizeLinear``): smaller, no faster; version 4 needed those float too (``embeddings/``).
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

QUANT_ARCHES = ("auto", "avx2", "avx512", "avx512_vnni", "arm64")


def detect_arch() -> str:
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "avx2"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def optimize(fp32_dir: Path, out_dir: Path, level: int = 2) -> Path:
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import OptimizationConfig

    optimizer = ORTOptimizer.from_pretrained(str(fp32_dir), file_names=["model.onnx"])
    optimizer.optimize(OptimizationConfig(optimization_level=level, optimize_for_gpu=False), str(out_dir))
    return out_dir / "model_optimized.onnx"


def float_nodes(model_path: Path, patterns: list[str]) -> list[str]:
    """Names of the graph's nodes that match any of ``patterns`` (``re.search``). A pattern that
    matches nothing is an error: a silent no-op would ship the model the user tried to avoid."""
    import onnx

    names = [n.name for n in onnx.load(str(model_path), load_external_data=False).graph.node]
    matched: list[str] = []
    for pattern in patterns:
        hits = [n for n in names if re.search(pattern, n)]
        if not hits:
            raise ValueError(f"--int8-keep-float {pattern!r} matches no node of {model_path.name}")
        matched += [n for n in hits if n not in matched]
    return matched


def quantize(fp32_dir: Path, out_dir: Path, arch: str = "auto", per_channel: bool = False,
             keep_float: list[str] | None = None) -> tuple[Path, str, list[str]]:
    """Dynamic int8 model of ``fp32_dir/model.onnx`` -> (path, the arch used, nodes kept in float)."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if arch not in QUANT_ARCHES:
        raise ValueError(f"unknown quantization arch {arch!r}; choose from {', '.join(QUANT_ARCHES)}")
    arch = detect_arch() if arch == "auto" else arch
    excluded = float_nodes(fp32_dir / "model.onnx", keep_float) if keep_float else []
    config = getattr(AutoQuantizationConfig, arch)(is_static=False, per_channel=per_channel,
                                                   nodes_to_exclude=excluded or None)
    quantizer = ORTQuantizer.from_pretrained(str(fp32_dir), file_name="model.onnx")
    quantizer.quantize(config, str(out_dir))
    return out_dir / "model_quantized.onnx", arch, excluded
