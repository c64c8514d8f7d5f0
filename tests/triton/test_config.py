"""config.pbtxt rendering: parsed with Triton's own ModelConfig protobuf, not by string matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import model_repository as mr
from service.model_repository import TritonModelConfig, parse_config, render_cpu_config, render_gpu_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _io(config):
    return (
        [(i.name, i.data_type, list(i.dims)) for i in config.input],
        [(o.name, o.data_type, list(o.dims)) for o in config.output],
    )


def test_production_config_fields():
    from tritonclient.grpc import model_config_pb2 as pb

    config = parse_config(render_gpu_config())
    assert config.name == "rerank-student"
    assert config.backend == "onnxruntime"
    assert config.max_batch_size == 64
    inputs, outputs = _io(config)
    assert inputs == [(n, pb.TYPE_INT64, [-1]) for n in ("input_ids", "attention_mask", "token_type_ids")]
    assert outputs == [("logits", pb.TYPE_FP32, [1])]
    assert [g.kind for g in config.instance_group] == [pb.ModelInstanceGroup.KIND_GPU]
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16, 32, 64]
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert config.version_policy.WhichOneof("policy_choice") == "all"
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    # Only keys the onnxruntime backend accepts for TensorRT; any other key fails the model load.
    assert set(accelerator.parameters) <= {
        "precision_mode", "max_workspace_size_bytes", "int8_calibration_table_name",
        "int8_use_native_calibration_table", "trt_engine_cache_enable", "trt_engine_cache_path",
    }
    assert accelerator.parameters["precision_mode"] == "FP16"


def test_fp32_and_latest_versions_options():
    config = parse_config(render_gpu_config(TritonModelConfig(tensorrt_fp16=False, latest_versions=2)))
    assert config.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters["precision_mode"] == "FP32"
    assert config.version_policy.WhichOneof("policy_choice") == "latest"
    assert config.version_policy.latest.num_versions == 2


def test_cpu_variant_is_the_same_model_on_the_python_backend():
    from tritonclient.grpc import model_config_pb2 as pb

    gpu = parse_config(render_gpu_config())
    cpu = parse_config(render_cpu_config(TritonModelConfig(cpu_threads=3)))
    assert cpu.backend == "python"
    assert [g.kind for g in cpu.instance_group] == [pb.ModelInstanceGroup.KIND_CPU]
    assert not cpu.optimization.execution_accelerators.gpu_execution_accelerator
    assert cpu.parameters["intra_op_thread_count"].string_value == "3"
    # What a client sees must not differ between the two.
    assert (cpu.name, cpu.max_batch_size, _io(cpu)) == (gpu.name, gpu.max_batch_size, _io(gpu))
    assert cpu.dynamic_batching == gpu.dynamic_batching
    assert cpu.version_policy == gpu.version_policy


def test_committed_production_config_is_the_rendered_one():
    committed = PROJECT_ROOT / "model_repository" / "rerank-student" / "config.pbtxt"
    assert committed.read_text() == render_gpu_config(), "regenerate with: rerank triton write-config"


def test_names_with_quotes_are_escaped():
    config = parse_config(render_cpu_config(TritonModelConfig(name='odd"name')))
    assert config.name == 'odd"name'


@pytest.mark.parametrize("kwargs", [{"max_batch_size": 0}, {"preferred_batch_sizes": (8, 128)}])
def test_invalid_batching_is_rejected(kwargs):
    with pytest.raises(ValueError):
        TritonModelConfig(**kwargs)


def _version(root: Path, model: str, version: str, with_model: bool = True) -> None:
    folder = root / model / version
    folder.mkdir(parents=True)
    (folder / "tokenizer.json").write_text("{}")
    (folder / "rerank.json").write_text('{"max_length": 64}')
    if with_model:
        (folder / "model.onnx").write_bytes(b"onnx-" + version.encode())


def test_versions_and_cpu_repository_layout(tmp_path):
    source = tmp_path / "repo"
    _version(source, "rerank-student", "1")
    _version(source, "rerank-student", "10")
    _version(source, "rerank-student", "3", with_model=False)  # an unfinished export is not a version
    (source / "rerank-student" / "notes").mkdir()
    _version(source, "other", "2")
    (source / "empty-model").mkdir()

    assert mr.model_versions(source, "rerank-student") == [1, 10]  # numeric, not lexical
    assert mr.latest_version(source, "rerank-student") == 10
    assert mr.resolve_version_dir(source, "rerank-student", None) == source / "rerank-student" / "10"
    assert mr.resolve_version_dir(source, "rerank-student", "1") == source / "rerank-student" / "1"
    with pytest.raises(FileNotFoundError):
        mr.resolve_version_dir(source, "rerank-student", "3")
    assert mr.model_names(source) == ["other", "rerank-student"]

    target = tmp_path / "cpu"
    (target / "stale").mkdir(parents=True)
    assert mr.build_cpu_repository(source, target) == ["other", "rerank-student"]
    assert not (target / "stale").exists()
    for model, versions in (("rerank-student", ["1", "10"]), ("other", ["2"])):
        config = parse_config((target / model / "config.pbtxt").read_text())
        assert config.name == model and config.backend == "python"
        assert sorted(p.name for p in (target / model).iterdir() if p.is_dir()) == versions
        for version in versions:
            folder = target / model / version
            assert (folder / "model.onnx").read_bytes() == f"onnx-{version}".encode()
            assert (folder / "model.py").read_text() == mr.CPU_MODEL_SOURCE.read_text()
            assert (folder / "tokenizer.json").is_file() and (folder / "rerank.json").is_file()


def test_cpu_repository_of_an_empty_source_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        mr.build_cpu_repository(tmp_path / "nothing", tmp_path / "cpu")


def test_write_production_config(tmp_path):
    path = mr.write_production_config(tmp_path, TritonModelConfig(name="student-b"))
    assert path == tmp_path / "student-b" / "config.pbtxt"
    assert parse_config(path.read_text()).name == "student-b"


def test_config_round_trips_through_pbtxt():
    config = TritonModelConfig(name="s", max_batch_size=16, preferred_batch_sizes=(4, 16), max_queue_delay_us=500,
                               latest_versions=3, instance_count=2, tensorrt_fp16=False,
                               tensorrt_workspace_bytes=1 << 28, tensorrt_cache_path="/cache/trt")
    assert mr.config_from_pbtxt(render_gpu_config(config)) == config


def test_cpu_twin_follows_the_production_config_then_overrides(tmp_path):
    source = tmp_path / "repo"
    _version(source, "rerank-student", "1")
    mr.write_production_config(source, TritonModelConfig(max_batch_size=16, preferred_batch_sizes=(4, 16),
                                                         latest_versions=1))
    mr.build_cpu_repository(source, tmp_path / "cpu", overrides={"cpu_threads": 2})
    cpu = parse_config((tmp_path / "cpu" / "rerank-student" / "config.pbtxt").read_text())
    assert cpu.backend == "python" and cpu.max_batch_size == 16
    assert list(cpu.dynamic_batching.preferred_batch_size) == [4, 16]
    assert cpu.version_policy.latest.num_versions == 1
    assert cpu.parameters["intra_op_thread_count"].string_value == "2"


def test_cli_write_config_and_cpu_repo(tmp_path, capsys):
    from training.cli import main

    _version(tmp_path, "rerank-student", "1")
    assert main(["triton", "write-config", "--model-repository", str(tmp_path), "--latest-versions", "2"]) == 0
    production = parse_config((tmp_path / "rerank-student" / "config.pbtxt").read_text())
    assert production.backend == "onnxruntime" and production.version_policy.latest.num_versions == 2
    out = tmp_path / "cpu"
    assert main(["triton", "cpu-repo", "--model-repository", str(tmp_path), "--out", str(out),
                 "--max-queue-delay-us", "100"]) == 0
    cpu = parse_config((out / "rerank-student" / "config.pbtxt").read_text())
    assert cpu.version_policy.latest.num_versions == 2  # from the production config
    assert cpu.dynamic_batching.max_queue_delay_microseconds == 100  # from the flag
    assert (out / "rerank-student" / "1" / "model.py").is_file()
