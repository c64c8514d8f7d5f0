#!/usr/bin/env bash
# Build (and time) a TensorRT FP16 engine of the exported student with trtexec, inside the NGC
# Triton container, so the engine matches the TensorRT version that Triton will load it with.
#
#   training/tensorrt/build_engine.sh ONNX [OUT.plan]
#
# ONNX: the fp32 graph from `rerank export` (artifacts/export/<model>-v<N>/fp32/model.onnx, or a
#       version's model.onnx when that version serves fp32/optimized). An int8 model from ORT's
#       dynamic quantizer (MatMulInteger) is refused: TensorRT has its own INT8 path.
# OUT:  default: model.plan beside ONNX. trtexec's log (with latency/throughput) goes to OUT.log.
#
# Shapes: one optimisation profile for the three int64 inputs [batch, sequence]; batch up to
# Triton's max_batch_size (64), sequence up to the model's max_length (rerank.json, default 256).
# Override with MIN_BATCH OPT_BATCH MAX_BATCH MIN_LEN OPT_LEN MAX_LEN. Other settings:
#   TRITON_IMAGE  NGC image (default nvcr.io/nvidia/tritonserver:24.08-py3: TensorRT 10.3, which
#                 takes int64 inputs as they are). Use the image your Triton runs.
#                 If trtexec is missing from it, use the TensorRT image of the same release,
#                 e.g. nvcr.io/nvidia/tensorrt:24.08-py3.
#   WORKSPACE_MB  builder memory pool (default 4096)
#   NO_DOCKER=1   run trtexec directly (already inside the container)
#   EXTRA_ARGS    appended to trtexec (e.g. "--layerPrecisions=*LayerNorm*:fp32 --precisionConstraints=obey"
#                 if FP16 LayerNorm overflows on a model whose scores drift)
#
# Requires an NVIDIA GPU with the NVIDIA container toolkit. Not run in CI (no GPU there).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  sed -n '2,12p' "$0" >&2
  exit 64
fi
onnx=$(realpath "$1")
out=$(realpath -m "${2:-$(dirname "$onnx")/model.plan}")
[[ -f "$onnx" ]] || { echo "no such file: $onnx" >&2; exit 66; }
if grep -q -a "MatMulInteger" "$onnx"; then
  echo "$onnx is an ORT dynamic-int8 graph; give the fp32 export (…/fp32/model.onnx)" >&2
  exit 65
fi

meta="$(dirname "$onnx")/rerank.json"
max_length=256
if [[ -f "$meta" ]]; then
  max_length=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("max_length", 256))' "$meta")
fi
MIN_BATCH=${MIN_BATCH:-1}; OPT_BATCH=${OPT_BATCH:-32}; MAX_BATCH=${MAX_BATCH:-64}
MAX_LEN=${MAX_LEN:-$max_length}
OPT_LEN=${OPT_LEN:-$(( MAX_LEN < 128 ? MAX_LEN : 128 ))}
MIN_LEN=${MIN_LEN:-$(( OPT_LEN < 8 ? OPT_LEN : 8 ))}
WORKSPACE_MB=${WORKSPACE_MB:-4096}
TRITON_IMAGE=${TRITON_IMAGE:-nvcr.io/nvidia/tritonserver:24.08-py3}

shape() {  # shape BATCH LEN -> input_ids:BxL,attention_mask:BxL,token_type_ids:BxL
  local s=""
  for name in input_ids attention_mask token_type_ids; do s+="${s:+,}${name}:$1x$2"; done
  echo "$s"
}

in_dir=$(dirname "$onnx"); out_dir=$(dirname "$out")
mkdir -p "$out_dir"
if [[ "${NO_DOCKER:-0}" == "1" ]]; then in_at=$in_dir; out_at=$out_dir; else in_at=/in; out_at=/out; fi
args=(
  --onnx="$in_at/$(basename "$onnx")"
  --saveEngine="$out_at/$(basename "$out")"
  --fp16
  --minShapes="$(shape "$MIN_BATCH" "$MIN_LEN")"
  --optShapes="$(shape "$OPT_BATCH" "$OPT_LEN")"
  --maxShapes="$(shape "$MAX_BATCH" "$MAX_LEN")"
  --memPoolSize=workspace:"${WORKSPACE_MB}"M
  # timing at the optimal shape: the numbers in OUT.log are what to compare with ORT
  --shapes="$(shape "$OPT_BATCH" "$OPT_LEN")"
)
# shellcheck disable=SC2206
args+=(${EXTRA_ARGS:-})

# inside the container trtexec is on PATH or in /usr/src/tensorrt/bin
runner='t=$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec); exec "$t" "$@"'
echo "building $out (FP16, batch ${MIN_BATCH}/${OPT_BATCH}/${MAX_BATCH}, length ${MIN_LEN}/${OPT_LEN}/${MAX_LEN})" >&2
if [[ "${NO_DOCKER:-0}" == "1" ]]; then
  bash -c "$runner" trtexec "${args[@]}" 2>&1 | tee "$out.log"
else
  docker run --rm --gpus all -v "$in_dir":/in:ro -v "$out_dir":/out "$TRITON_IMAGE" \
    bash -c "$runner" trtexec "${args[@]}" 2>&1 | tee "$out.log"
fi
echo "engine: $out  log: $out.log" >&2
