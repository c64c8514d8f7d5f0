"""training/tensorrt/build_engine.sh with a stand-in trtexec (no GPU here): the profile it asks
TensorRT for, and its refusal of ORT int8 graphs. The real build needs an NVIDIA GPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "training" / "tensorrt" / "build_engine.sh"


def _run(tmp_path, onnx: Path, env: dict | None = None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "trtexec"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$TRT_ARGS_OUT"\n')
    fake.chmod(0o755)
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NO_DOCKER": "1",
               "TRT_ARGS_OUT": str(tmp_path / "args.txt"), **(env or {})}
    return subprocess.run(["bash", str(SCRIPT), str(onnx)], capture_output=True, text=True, env=environ, timeout=60)


def test_profile_follows_max_length_and_overrides(tmp_path):
    model = tmp_path / "fp32" / "model.onnx"
    model.parent.mkdir()
    model.write_bytes(b"\x08\x07MatMul Gemm")  # the script only inspects op names
    (model.parent / "rerank.json").write_text(json.dumps({"max_length": 64}))
    proc = _run(tmp_path, model)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args.txt").read_text().split()
    assert f"--onnx={model}" in args and f"--saveEngine={model.parent / 'model.plan'}" in args and "--fp16" in args
    names = ("input_ids", "attention_mask", "token_type_ids")
    assert "--minShapes=" + ",".join(f"{n}:1x8" for n in names) in args
    assert "--optShapes=" + ",".join(f"{n}:32x64" for n in names) in args
    assert "--maxShapes=" + ",".join(f"{n}:64x64" for n in names) in args

    _run(tmp_path, model, {"MAX_BATCH": "128", "MAX_LEN": "512", "OPT_LEN": "256"})
    args = (tmp_path / "args.txt").read_text().split()
    assert "--maxShapes=" + ",".join(f"{n}:128x512" for n in names) in args
    assert "--optShapes=" + ",".join(f"{n}:32x256" for n in names) in args


def test_refuses_an_ort_int8_graph(tmp_path):
    model = tmp_path / "model_quantized.onnx"
    model.write_bytes(b"\x08\x07DynamicQuantizeLinear MatMulInteger")
    proc = _run(tmp_path, model)
    assert proc.returncode == 65 and "int8" in proc.stderr
    assert not (tmp_path / "args.txt").exists()
