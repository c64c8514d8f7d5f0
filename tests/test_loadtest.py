"""loadtest/: request building from the real shared data, the summary maths, and one short real run."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__import__("training.paths", fromlist=["data_dir"]).data_dir())


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workload():
    return _load("rerank_loadtest_workload", ROOT / "loadtest" / "workload.py")


@pytest.fixture(scope="module")
def runner():
    return _load("rerank_loadtest_run", ROOT / "loadtest" / "run.py")


@pytest.mark.parametrize("source", ["dl19", "msmarco-dev"])
@pytest.mark.parametrize("docs", [5, 150])
def test_requests_use_real_queries_and_passages(workload, source, docs):
    pool, passages = workload.load_pool(str(DATA), source)
    assert len(pool) == (43 if source == "dl19" else 6980)
    body = workload.build_request(random.Random(0), pool, passages, docs, top_n=3)
    assert body["query"].strip() and body["top_n"] == 3
    assert len(body["documents"]) == docs and all(isinstance(d, str) and d for d in body["documents"])
    if source == "dl19":
        query, candidates = next(p for p in pool if p[0] == body["query"])
        assert body["documents"][: min(docs, 100)] == candidates[: min(docs, 100)]  # BM25 order first


def test_summary_percentiles_and_rate(runner):
    entries = [
        {"name": "a", "method": "POST", "num_requests": 4, "num_failures": 1, "total_response_time": 100,
         "max_response_time": 40, "start_time": 10.0, "last_request_timestamp": 12.0,
         "response_times": {"10": 1, "20": 2, "40": 1}},
        {"name": "b", "method": "POST", "num_requests": 6, "num_failures": 0, "total_response_time": 60,
         "max_response_time": 10, "start_time": 11.0, "last_request_timestamp": 15.0,
         "response_times": {"10": 6}},
    ]
    total = runner.summarize(entries)
    assert total["requests"] == 10 and total["failures"] == 1
    assert total["rps"] == pytest.approx(10 / 5)
    assert total["mean_ms"] == pytest.approx(16.0)
    assert (total["p50_ms"], total["p95_ms"], total["p99_ms"], total["max_ms"]) == (10.0, 40.0, 40.0, 40)


def test_stage_means_from_prometheus_text(runner):
    text = "\n".join([
        'rerank_stage_duration_seconds_sum{stage="inference",variant="default"} 0.5',
        'rerank_stage_duration_seconds_count{stage="inference",variant="default"} 10.0',
        'rerank_stage_duration_seconds_sum{stage="inference",variant="b"} 0.5',
        'rerank_stage_duration_seconds_count{stage="inference",variant="b"} 10.0',
        'rerank_stage_duration_seconds_bucket{le="0.1",stage="queue",variant="default"} 3.0',
    ])
    assert runner.stage_means(text) == {"inference": 50.0}


def test_resident_memory_from_the_process_collector(runner):
    text = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n" \
           "process_resident_memory_bytes 3.145728e+08\nprocess_virtual_memory_bytes 9e+09\n"
    assert runner.resident_memory_mb(text) == 300.0
    assert runner.resident_memory_mb("rerank_requests_total 1.0\n") is None


def test_triton_overrides_only_what_was_given(runner):
    import argparse

    both = argparse.Namespace(triton_cpu_threads=2, triton_latest_versions=1)
    assert runner.triton_overrides(both) == {"cpu_threads": 2, "latest_versions": 1}
    assert runner.triton_overrides(argparse.Namespace(triton_cpu_threads=None, triton_latest_versions=None)) == {}
    from service.model_repository import TritonModelConfig

    assert set(runner.triton_overrides(both)) <= set(TritonModelConfig.__dataclass_fields__)


@pytest.mark.slow
def test_short_real_run_writes_a_summary(tmp_path):
    from training.cli import COMMAND_MODULES

    if "service.cli" not in COMMAND_MODULES:
        pytest.skip("`rerank serve` is not registered yet")
    result = subprocess.run(
        [sys.executable, str(ROOT / "loadtest" / "run.py"), "--tiny", "--users", "2", "--duration", "3s",
         "--docs-per-request", "8", "--name", "smoke", "--out-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "smoke.json").read_text())
    assert summary["aggregated"]["requests"] > 0 and summary["aggregated"]["failures"] == 0
    assert summary["model"]["model"] == "rerank-student"
    assert set(summary["service_stage_mean_ms"]) >= {"tokenization", "inference"}
    assert summary["service_rss_mb"] > 0  # the real service's process collector


def test_batch_token_budgets_on_a_tiny_model(tmp_path):
    from tests.helpers.tiny_model import MODEL_NAME, build_tiny_onnx

    build_tiny_onnx(tmp_path / "repo" / MODEL_NAME / "1")
    out = tmp_path / "batch-tokens.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "loadtest" / "batch_tokens.py"), "--model-repository", str(tmp_path / "repo"),
         "--budgets", "4096,128", "--queries", "2", "--passes", "1", "--data-dir", str(DATA), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["requests"] == 2 and report["docs_per_request"] == 20 and report["model"]["version"] == "1"
    big, small = report["budgets"]["4096"], report["budgets"]["128"]
    assert big["median_vs_largest"] == 1.0 and big["batches_per_request"] == 1.0
    # a smaller budget cuts more batches and pads less (never below the real tokens)
    assert small["batches_per_request"] > big["batches_per_request"]
    assert 1.0 <= small["padded_per_real_token"] < big["padded_per_real_token"]
