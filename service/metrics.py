"""Every Prometheus metric the service exports, declared once.

Each app gets its own ``CollectorRegistry`` so several apps (tests, A/B in one process) never share
or double-register series. Latency and error series all carry ``variant``: the A/B arm that
answered (``service.variants``); requests outside the rerank routes carry the ``variant`` setting.
The ``rerank_shadow_*`` series describe the shadow teacher path (``service.shadow``).
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
# An LLM teacher call: a fraction of a second (a local server) to minutes (a big remote model).
TEACHER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
NDCG_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0)
TAU_BUCKETS = (-0.5, -0.25, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True):
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self._backend_info_labels: dict[str, tuple[str, ...]] = {}
        if process:
            ProcessCollector(registry=r)
        self.request_duration = Histogram(
            "rerank_request_duration_seconds", "HTTP request latency, from first byte in to response start",
            ["route", "variant", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage_duration = Histogram(
            "rerank_stage_duration_seconds",
            "Time per rerank request in each stage (inference: wall time its micro-batches ran; queue: waiting for a slot)",
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
            "rerank_backend_info", "The served model of each variant (value 1)",
            ["model", "version", "model_version", "backend", "variant"], registry=r)
        self.backend_ready = Gauge(
            "rerank_backend_ready", "1 when the variant's last readiness check passed", ["variant"], registry=r)

        # --- shadow teacher path (service.shadow) ------------------------------------------------
        self.shadow_enqueued = Counter(
            "rerank_shadow_enqueued", "Live requests copied into the shadow queue", ["variant"], registry=r)
        self.shadow_dropped = Counter(
            "rerank_shadow_dropped", "Shadow copies not queued (queue_full, too_many_documents, closed)",
            ["variant", "reason"], registry=r)
        self.shadow_completed = Counter(
            "rerank_shadow_completed", "Shadow copies judged by the teacher and stored", ["variant"], registry=r)
        self.shadow_failed = Counter(
            "rerank_shadow_failed", "Shadow copies the teacher failed on after every retry (stored as failed)",
            ["variant"], registry=r)
        self.shadow_store_errors = Counter(
            "rerank_shadow_store_errors", "Shadow records the relabel store could not write", registry=r)
        self.shadow_queue_depth = Gauge(
            "rerank_shadow_queue_depth", "Shadow copies waiting for a worker", registry=r)
        self.teacher_duration = Histogram(
            "rerank_shadow_teacher_duration_seconds", "One teacher call (an attempt), by outcome",
            ["outcome"], buckets=TEACHER_BUCKETS, registry=r)
        self.agreement_ndcg = Histogram(
            "rerank_shadow_agreement_ndcg10",
            "nDCG@10 of the student's order graded by the teacher's ranking (1 = same top 10)",
            ["variant"], buckets=NDCG_BUCKETS, registry=r)
        self.agreement_tau = Histogram(
            "rerank_shadow_agreement_kendall_tau", "Kendall tau-b between student and teacher over all documents",
            ["variant"], buckets=TAU_BUCKETS, registry=r)

    def set_backend_info(self, model: str, version: str, model_version: str, backend: str,
                         variant: str = "default") -> None:
        previous = self._backend_info_labels.pop(variant, None)  # this variant's old series only
        if previous is not None:
            self.backend_info.remove(*previous)
        labels = (model, version, model_version, backend, variant)
        self.backend_info.labels(*labels).set(1)
        self._backend_info_labels[variant] = labels

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
