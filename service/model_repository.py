"""The model repository: one layout shared by the export code, the embedded backend and Triton.

::

    model_repository/
      <model>/                      e.g. rerank-student
        config.pbtxt                production Triton config (onnxruntime backend, GPU, TensorRT FP16)
        <version>/                  integer versions: 1, 2, ... (several are served side by side)
          model.onnx                int64 input_ids/attention_mask/token_type_ids [batch, seq] -> logits f32 [batch, 1]
          tokenizer.json            the tokenizer the service must use for this version
          rerank.json               facts about the version (max_length, model_version, base_model, ...)

The production ``config.pbtxt`` targets the NGC Triton container. For machines without a GPU (and for
the tests) ``build_cpu_repository`` derives a second repository with the SAME model name, tensors
and batching, served by Triton's ``python`` backend that runs ONNX Runtime on CPU
(``service/triton_cpu/model.py``). No heavy imports here: the service and the training export both
use this module.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_MODEL_NAME = "rerank-student"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "rerank.json"
CONFIG_FILE = "config.pbtxt"
VERSION_FILES = (MODEL_FILE, TOKENIZER_FILE, META_FILE)
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"
CPU_MODEL_SOURCE = Path(__file__).resolve().parent / "triton_cpu" / "model.py"


@dataclass(frozen=True)
class TritonModelConfig:
    """What a rendered ``config.pbtxt`` says; the GPU and CPU renderings share every field but the
    backend, the instance kind and the accelerator."""

    name: str = DEFAULT_MODEL_NAME
    max_batch_size: int = 64
    preferred_batch_sizes: tuple[int, ...] = (8, 16, 32, 64)
    # Long enough to merge concurrent requests, short next to a ~10 ms forward pass.
    max_queue_delay_us: int = 2000
    # None: serve every version in the folder (A/B between student versions); N: the newest N.
    latest_versions: int | None = None
    instance_count: int = 1
    # Production (GPU) only.
    tensorrt_fp16: bool = True
    tensorrt_workspace_bytes: int = 1 << 30
    tensorrt_cache_path: str = "/tmp/trt-cache"
    # CPU (python backend) only: ONNX Runtime threads per instance.
    cpu_threads: int = 1
    extra_parameters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if any(b < 1 or b > self.max_batch_size for b in self.preferred_batch_sizes):
            raise ValueError(f"preferred_batch_sizes must lie in 1..{self.max_batch_size}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _io_block(config: TritonModelConfig) -> list[str]:
    lines = ["input ["]
    for i, name in enumerate(INPUT_NAMES):
        sep = "," if i < len(INPUT_NAMES) - 1 else ""
        lines.append(f"  {{ name: {_quote(name)} data_type: TYPE_INT64 dims: [ -1 ] }}{sep}")
    lines += ["]", "output [", f"  {{ name: {_quote(OUTPUT_NAME)} data_type: TYPE_FP32 dims: [ 1 ] }}", "]"]
    return lines


def _common_tail(config: TritonModelConfig, kind: str, parameters: dict[str, str]) -> list[str]:
    preferred = ", ".join(str(b) for b in config.preferred_batch_sizes)
    policy = "all { }" if config.latest_versions is None else f"latest {{ num_versions: {config.latest_versions} }}"
    lines = [
        f"version_policy: {{ {policy} }}",
        f"instance_group [ {{ kind: {kind} count: {config.instance_count} }} ]",
        "dynamic_batching {",
        f"  preferred_batch_size: [ {preferred} ]",
        f"  max_queue_delay_microseconds: {config.max_queue_delay_us}",
        "}",
    ]
    for key, value in {**parameters, **config.extra_parameters}.items():
        lines.append(f"parameters {{ key: {_quote(key)} value: {{ string_value: {_quote(value)} }} }}")
    return lines


def render_gpu_config(config: TritonModelConfig = TritonModelConfig()) -> str:
    """Production ``config.pbtxt``: NGC Triton's ``onnxruntime`` backend on GPU with ORT's TensorRT
    execution provider in FP16 (CUDA EP runs whatever TensorRT cannot)."""
    precision = "FP16" if config.tensorrt_fp16 else "FP32"
    lines = [
        f"name: {_quote(config.name)}",
        'backend: "onnxruntime"',
        f"max_batch_size: {config.max_batch_size}",
        *_io_block(config),
        *_common_tail(config, "KIND_GPU", {}),
        "optimization {",
        "  execution_accelerators {",
        "    gpu_execution_accelerator: [ {",
        '      name: "tensorrt"',
        f'      parameters {{ key: "precision_mode" value: "{precision}" }}',
        f'      parameters {{ key: "max_workspace_size_bytes" value: "{config.tensorrt_workspace_bytes}" }}',
        # Building engines takes minutes; the cache makes restarts (and new replicas) fast.
        '      parameters { key: "trt_engine_cache_enable" value: "1" }',
        f"      parameters {{ key: \"trt_engine_cache_path\" value: {_quote(config.tensorrt_cache_path)} }}",
        "    } ]",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_cpu_config(config: TritonModelConfig = TritonModelConfig()) -> str:
    """The same model for Triton's ``python`` backend on CPU (``service/triton_cpu/model.py``)."""
    lines = [
        f"name: {_quote(config.name)}",
        'backend: "python"',
        f"max_batch_size: {config.max_batch_size}",
        *_io_block(config),
        *_common_tail(config, "KIND_CPU", {"intra_op_thread_count": str(config.cpu_threads)}),
    ]
    return "\n".join(lines) + "\n"


def parse_config(text: str):
    """Parse ``config.pbtxt`` text into Triton's own ``ModelConfig`` protobuf (via tritonclient), so a
    misspelt field fails here rather than at server start."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


def config_from_pbtxt(text: str, name: str | None = None) -> TritonModelConfig:
    """The ``TritonModelConfig`` a (production) ``config.pbtxt`` describes, defaults elsewhere."""
    parsed = parse_config(text)
    defaults = TritonModelConfig()
    batching = parsed.dynamic_batching
    policy = parsed.version_policy.WhichOneof("policy_choice")
    accelerators = parsed.optimization.execution_accelerators.gpu_execution_accelerator
    trt = dict(accelerators[0].parameters) if accelerators else {}
    return TritonModelConfig(
        name=name or parsed.name or defaults.name,
        max_batch_size=parsed.max_batch_size or defaults.max_batch_size,
        preferred_batch_sizes=tuple(batching.preferred_batch_size) or defaults.preferred_batch_sizes,
        max_queue_delay_us=batching.max_queue_delay_microseconds or defaults.max_queue_delay_us,
        latest_versions=parsed.version_policy.latest.num_versions if policy == "latest" else None,
        instance_count=parsed.instance_group[0].count if parsed.instance_group else defaults.instance_count,
        tensorrt_fp16=trt.get("precision_mode", "FP16") == "FP16",
        tensorrt_workspace_bytes=int(trt.get("max_workspace_size_bytes", defaults.tensorrt_workspace_bytes)),
        tensorrt_cache_path=trt.get("trt_engine_cache_path", defaults.tensorrt_cache_path),
    )


def version_dir(repository: Path, model: str, version: int | str) -> Path:
    return Path(repository) / model / str(version)


def model_versions(repository: Path, model: str = DEFAULT_MODEL_NAME) -> list[int]:
    """Integer versions of ``model`` that hold a ``model.onnx``, ascending."""
    root = Path(repository) / model
    if not root.is_dir():
        return []
    return sorted(
        int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / MODEL_FILE).is_file()
    )


def latest_version(repository: Path, model: str = DEFAULT_MODEL_NAME) -> int:
    versions = model_versions(repository, model)
    if not versions:
        raise FileNotFoundError(f"no {model}/<version>/{MODEL_FILE} under {repository}")
    return versions[-1]


def resolve_version_dir(repository: Path, model: str = DEFAULT_MODEL_NAME, version: int | str | None = None) -> Path:
    """The version folder to serve: ``version`` if given (``None``/``"latest"``/``""`` = newest)."""
    if version in (None, "", "latest"):
        version = latest_version(repository, model)
    path = version_dir(repository, model, version)
    if not (path / MODEL_FILE).is_file():
        raise FileNotFoundError(path / MODEL_FILE)
    return path


def model_names(repository: Path) -> list[str]:
    """Models in the repository that have at least one servable version."""
    root = Path(repository)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and model_versions(root, p.name))


def write_production_config(
    repository: Path, config: TritonModelConfig = TritonModelConfig()
) -> Path:
    """Write ``<repository>/<name>/config.pbtxt`` for the NGC container."""
    path = Path(repository) / config.name / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_gpu_config(config))
    return path


def _link_or_copy(src: Path, dst: Path) -> None:
    # Hard links keep a 100 MB model from being copied per test/run; fall back across filesystems.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_cpu_repository(
    source: Path,
    target: Path,
    models: list[str] | None = None,
    config: TritonModelConfig | None = None,
    overrides: dict | None = None,
) -> list[str]:
    """Derive a CPU (python backend) repository in ``target`` from the repository ``source``.

    Each served version gets its ``model.onnx``/``tokenizer.json``/``rerank.json`` plus a copy of
    ``service/triton_cpu/model.py``; each model a CPU ``config.pbtxt`` with the same name, tensors
    and batching as production: from ``config`` if given, else from the model's own production
    ``config.pbtxt``, else the defaults; then ``overrides`` (``TritonModelConfig`` fields, e.g.
    ``cpu_threads``) on top. ``target`` is replaced. Returns the model names written.
    """
    source, target = Path(source), Path(target)
    names = models if models is not None else model_names(source)
    if not names:
        raise FileNotFoundError(f"no model with a <version>/{MODEL_FILE} under {source}")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in names:
        versions = model_versions(source, name)
        if not versions:
            raise FileNotFoundError(f"no {name}/<version>/{MODEL_FILE} under {source}")
        for version in versions:
            src_dir, dst_dir = version_dir(source, name, version), version_dir(target, name, version)
            dst_dir.mkdir(parents=True)
            for file in VERSION_FILES:
                if (src_dir / file).is_file():
                    _link_or_copy(src_dir / file, dst_dir / file)
            shutil.copy2(CPU_MODEL_SOURCE, dst_dir / "model.py")
        if config is not None:
            model_config = _renamed(config, name)
        elif (source / name / CONFIG_FILE).is_file():
            # Batching and version policy follow the production config, edits included.
            model_config = config_from_pbtxt((source / name / CONFIG_FILE).read_text(), name)
        else:
            model_config = TritonModelConfig(name=name)
        if overrides:
            model_config = replace(model_config, **overrides)
        (target / name / CONFIG_FILE).write_text(render_cpu_config(model_config))
    return list(names)


def _renamed(config: TritonModelConfig, name: str) -> TritonModelConfig:
    return config if config.name == name else replace(config, name=name)
