"""Every Prometheus metric the service exports, declared once.

Each app gets its own ``CollectorRegistry`` so several apps (tests, A/B in one process) never share
or double-register series. Latency and error series all carry ``variant`` (A/B arms come later;
until then it is the ``variant`` setting, "default").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# 1 ms .. 10 s: the tiny CPU model answers in a few ms, a 1,000-document request on CPU in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DOCUMENT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
TOKEN_BUCKETS = tuple(2**k for k in range(6, 21))  # 64 .. ~1M
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
STAGES = ("tokenization", "queue", "inference", "postprocess")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True):
        r = self.registry = registry if registry is not None else CollectorRegistry()
        if process:
            ProcessCollector(registry=r)
        self.request_duration = Histogram(
            "rerank_request_duration_seconds", "HTTP request latency, from first byte in to response start",
            ["route", "variant", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage_duration = Histogram(
            "rerank_stage_duration_seconds",
            "Time per rerank request in each stage (queue and inference summed over its micro-batches)",
            ["stage", "variant"], buckets=LATENCY_BUCKETS, registry=r)
        self.documents = Histogram(
            "rerank_request_documents", "Documents per rerank request", ["variant"],
            buckets=DOCUMENT_BUCKETS, registry=r)
        self.tokens = Histogram(
            "rerank_request_tokens", "Model tokens per rerank request (all pairs, unpadded)", ["variant"],
            buckets=TOKEN_BUCKETS, registry=r)
        self.batch_size = Histogram(
            "rerank_batch_size", "Rows per micro-batch sent to the backend", ["variant"],
            buckets=BATCH_BUCKETS, registry=r)
        self.truncated = Counter(
            "rerank_truncated_documents", "Documents cut to fit the model (tail dropped)", ["variant"], registry=r)
        self.chunked = Counter(
            "rerank_chunked_documents", "Documents scored as several overlapping windows", ["variant"], registry=r)
        self.in_flight = Gauge(
            "rerank_requests_in_flight", "Rerank requests being processed now", ["variant"], registry=r)
        self.errors = Counter(
            "rerank_errors", "Error responses by type", ["type", "variant"], registry=r)
        self.backend_info = Gauge(
            "rerank_backend_info", "The served model (value 1)",
            ["model", "version", "model_version", "backend"], registry=r)
        self.backend_ready = Gauge(
            "rerank_backend_ready", "1 when the last readiness check passed", registry=r)

    def set_backend_info(self, model: str, version: str, model_version: str, backend: str) -> None:
        self.backend_info.clear()
        self.backend_info.labels(model=model, version=version, model_version=model_version, backend=backend).set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
