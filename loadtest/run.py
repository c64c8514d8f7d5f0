"""Bounded, headless load test: start the service on 127.0.0.1, run locust, write a summary.

    python loadtest/run.py --users 8 --duration 30s --docs-per-request 20
    python loadtest/run.py --backend triton      # also starts the bundled Triton (CPU twin)
    python loadtest/run.py --tiny                # no exported student yet: a tiny random model

Writes ``reports/loadtest/<name>.json`` (+ locust's final ``<name>_locust.json`` and CSVs):
throughput, latency percentiles, failures, and the service's own per-stage means from /metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.triton_server import free_port  # noqa: E402  (the project root is on sys.path only now)


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url}/ready not 200 after {timeout_s:.0f}s")


def stop(process: subprocess.Popen, timeout_s: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tiny_repository(root: Path) -> Path:
    from tests.helpers.tiny_model import MODEL_NAME, build_tiny_onnx

    build_tiny_onnx(root / MODEL_NAME / "1")
    return root


def _samples(metrics_text: str) -> list:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client."""
    return [sample for family in text_string_to_metric_families(metrics_text) for sample in family.samples]


def stage_means(metrics_text: str) -> dict[str, float]:
    """Mean seconds per request in each stage, from the service's stage histogram."""
    totals = {"rerank_stage_duration_seconds_sum": {}, "rerank_stage_duration_seconds_count": {}}
    for sample in _samples(metrics_text):
        store = totals.get(sample.name)
        if store is not None and "stage" in sample.labels:
            stage = sample.labels["stage"]
            store[stage] = store.get(stage, 0.0) + sample.value
    sums, counts = totals.values()
    return {stage: round(1000 * sums[stage] / counts[stage], 3) for stage in sums if counts.get(stage)}


def resident_memory_mb(metrics_text: str) -> float | None:
    """The service process's resident memory (MiB) from prometheus_client's process collector."""
    value = next((s.value for s in _samples(metrics_text) if s.name == "process_resident_memory_bytes"), None)
    return None if value is None else round(value / 2**20, 1)


def _percentile(response_times: dict[int, int], q: float) -> float | None:
    total = sum(response_times.values())
    if not total:
        return None
    seen = 0
    for value in sorted(response_times):
        seen += response_times[value]
        if seen >= q * total:
            return float(value)
    return float(max(response_times))


def summarize(entries: list[dict]) -> dict:
    """Totals and latency percentiles (ms) over locust's final per-endpoint entries."""
    times: dict[int, int] = {}
    for entry in entries:
        for value, count in entry["response_times"].items():
            times[int(value)] = times.get(int(value), 0) + count
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    start = min((e["start_time"] for e in entries), default=None)
    end = max((e["last_request_timestamp"] or 0 for e in entries), default=None)
    elapsed = (end - start) if start is not None and end else 0
    return {
        "requests": requests, "failures": failures,
        "rps": round(requests / elapsed, 3) if elapsed > 0 else None,
        "mean_ms": round(sum(e["total_response_time"] for e in entries) / requests, 3) if requests else None,
        **{f"p{int(q * 100)}_ms": _percentile(times, q) for q in (0.5, 0.95, 0.99)},
        "max_ms": max((e["max_response_time"] for e in entries), default=None),
    }


def read_stats(json_file: Path) -> tuple[dict, list[dict]]:
    entries = json.loads(json_file.read_text())
    return summarize(entries), [{"name": e["name"], "method": e["method"], **summarize([e])} for e in entries]


def triton_overrides(args: argparse.Namespace) -> dict:
    """The Triton twin's config fields set on the command line (``TritonModelConfig`` names)."""
    given = {"cpu_threads": args.triton_cpu_threads, "latest_versions": args.triton_latest_versions}
    return {k: v for k, v in given.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["embedded", "triton"], default="embedded")
    parser.add_argument("--model-repository", type=Path, default=None,
                        help="default: RERANK_MODEL_REPOSITORY or <project>/model_repository")
    parser.add_argument("--tiny", action="store_true", help="serve a tiny random model (needs the train extra)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=8)
    parser.add_argument("--duration", default="30s", help="locust --run-time, e.g. 20s, 2m")
    parser.add_argument("--docs-per-request", type=int, default=20)
    parser.add_argument("--query-source", choices=["dl19", "msmarco-dev"], default="dl19")
    parser.add_argument("--top-n", type=int, default=0)
    # The twin's default is one ONNX Runtime thread per instance (several models share a host);
    # a side-by-side with the embedded backend on one box wants the same thread count in both.
    parser.add_argument("--triton-cpu-threads", type=int, default=None,
                        help="ONNX Runtime threads per Triton model instance (default: the twin's, 1)")
    parser.add_argument("--triton-latest-versions", type=int, default=None,
                        help="load only the newest N versions into Triton (default: every version)")
    parser.add_argument("--name", default=None, help="report name (default: <backend>_<docs>docs_<users>u)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "reports" / "loadtest")
    parser.add_argument("--startup-timeout", type=float, default=120)
    args = parser.parse_args(argv)

    name = args.name or f"{args.backend}_{args.docs_per_request}docs_{args.users}u"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    with ExitStack() as stack:
        repository = args.model_repository or Path(os.environ.get("RERANK_MODEL_REPOSITORY", ROOT / "model_repository"))
        if args.tiny:
            repository = tiny_repository(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-repo-"))))
        from service.model_repository import model_versions

        if not model_versions(repository, "rerank-student"):
            parser.error(f"no rerank-student/<version>/model.onnx under {repository}: export a student or pass --tiny")

        env = {**os.environ, "RERANK_MODEL_REPOSITORY": str(repository), "RERANK_BACKEND": args.backend}
        triton_info = None
        if args.backend == "triton":
            from service.triton_server import TritonServer

            overrides = triton_overrides(args)
            triton = stack.enter_context(
                TritonServer(repository, http_port=0, grpc_port=0, metrics_port=0, overrides=overrides))
            env["RERANK_TRITON_URL"] = triton.grpc_url
            triton_info = {**triton.describe(), "overrides": overrides}

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        service = subprocess.Popen(
            [str(bin_dir / "rerank"), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=ROOT)
        stack.callback(stop, service)
        wait_ready(url, service, args.startup_timeout)
        info = json.loads(urllib.request.urlopen(f"{url}/info", timeout=10).read())

        csv_prefix = args.out_dir / name
        locust = subprocess.run([
            str(bin_dir / "locust"), "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
            "--host", url, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
            "--run-time", args.duration, "--stop-timeout", "10", "--only-summary",
            # The JSON file (locust adds ".json") holds the final stats; the CSV is a periodic snapshot.
            "--json-file", f"{csv_prefix}_locust", "--csv", str(csv_prefix),
            "--docs-per-request", str(args.docs_per_request),
            "--query-source", args.query_source, "--top-n", str(args.top_n),
            "--exit-code-on-error", "0",
        ], cwd=ROOT)
        metrics_text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()

    aggregated, per_request = read_stats(Path(f"{csv_prefix}_locust.json"))
    summary = {
        "name": name, "backend": args.backend, "users": args.users, "duration": args.duration,
        "docs_per_request": args.docs_per_request, "query_source": args.query_source,
        "model": {k: info.get(k) for k in ("model", "version", "model_version", "max_length")},
        "triton": triton_info, "locust_exit_code": locust.returncode,
        "aggregated": aggregated,
        "requests": per_request,
        "service_stage_mean_ms": stage_means(metrics_text),
        # After the run, of the `rerank serve` process only (with Triton the model lives in Triton).
        "service_rss_mb": resident_memory_mb(metrics_text),
    }
    out = args.out_dir / f"{name}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["aggregated"]), f"\nsummary: {out}")
    return 0 if locust.returncode == 0 and aggregated["requests"] and not aggregated["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
