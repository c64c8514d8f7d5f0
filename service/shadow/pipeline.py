"""The shadow path: live requests copied to the LLM teacher, answers stored for relabeling.

    /rerank answers -> (after the response is sent) offer(job) -> asyncio.Queue(maxsize)
                    -> N workers: teacher.judge (bounded retries) -> agreement -> SQLite row

The live path never waits on it: ``offer`` is a non-blocking ``put_nowait`` run as a background
task after the response went out; a full queue drops the copy and counts it. Teacher calls run on
the teacher's own threads or async HTTP, store writes on the store's thread.

Which requests: ``X-Rerank-Shadow: 1`` (when ``shadow_allow_header``), else those whose request
id hashes below ``shadow_rate`` (``bucket("shadow:" + salt, request_id) < rate * 10000``), so a
retried request with the same ``X-Request-Id`` gets the same decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from service.metrics import Metrics
from service.settings import Settings
from service.shadow.agreement import agreement
from service.shadow.store import AsyncRelabelStore, ShadowRecord, sha256_text
from service.shadow.teacher import ServiceTeacher, TeacherAnswer, make_service_teacher
from service.variants import BUCKETS, bucket

log = logging.getLogger("service.shadow")

SHADOW_HEADER = "x-rerank-shadow"
_TRUE = {"1", "true", "yes", "on"}


@dataclass
class ShadowJob:
    request_id: str
    created_at: float
    variant: str
    model_name: str
    model_version: str
    model_folder: str
    query: str
    documents: list[str]
    student_scores: list[float]

    @property
    def chars(self) -> int:
        return len(self.query) + sum(len(d) for d in self.documents)


class TeacherFailed(RuntimeError):
    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


class ShadowPipeline:
    def __init__(self, settings: Settings, metrics: Metrics, teacher: ServiceTeacher | None = None,
                 store: AsyncRelabelStore | None = None):
        self.settings, self.metrics = settings, metrics
        self.teacher = teacher if teacher is not None else make_service_teacher(settings)
        self.store = store if store is not None else AsyncRelabelStore(settings.shadow_store_path)
        self.queue: asyncio.Queue[ShadowJob] | None = None
        self._workers: list[asyncio.Task] = []
        self._closing = False
        self._queued_chars = 0  # text held by queued copies (bounded by shadow_queue_max_chars)
        self._threshold = round(settings.shadow_rate * BUCKETS)
        self._salt = "shadow:" + settings.variant_salt

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.store.open()
        await self.teacher.start()
        self.queue = asyncio.Queue(maxsize=self.settings.shadow_queue_size)
        self._workers = [asyncio.create_task(self._worker(), name=f"shadow-worker-{i}")
                         for i in range(self.settings.shadow_workers)]
        log.info("shadow teacher %s, rate %g, queue %d, %d workers, store %s", self.teacher.info["name"],
                 self.settings.shadow_rate, self.settings.shadow_queue_size, self.settings.shadow_workers,
                 self.settings.shadow_store_path)

    async def close(self) -> None:
        self._closing = True
        if self.queue is not None and self._workers:
            try:  # finish what is queued, for a while
                await asyncio.wait_for(self.queue.join(), self.settings.shadow_drain_timeout_s)
            except asyncio.TimeoutError:
                log.warning("shadow: %d queued copies not judged at shutdown", self.queue.qsize())
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self.teacher.close()
        await self.store.close()  # after any write still on the store thread

    # ---- the live side ---------------------------------------------------------------------------
    def wants(self, headers: Mapping[str, str], request_id: str) -> bool:
        if self.settings.shadow_allow_header and headers.get(SHADOW_HEADER, "").strip().lower() in _TRUE:
            return True
        return self._threshold > 0 and bucket(self._salt, request_id) < self._threshold

    def offer(self, job: ShadowJob) -> bool:
        """Queue a copy without ever waiting; False (and counted) when it was dropped."""
        reason = None
        if self._closing or self.queue is None:
            reason = "closed"
        elif len(job.documents) > self.settings.shadow_max_documents:
            reason = "too_many_documents"
        elif self._queued_chars + job.chars > self.settings.shadow_queue_max_chars:
            reason = "queue_full"
        else:
            try:
                self.queue.put_nowait(job)
                self._queued_chars += job.chars
            except asyncio.QueueFull:
                reason = "queue_full"
        if reason is not None:
            self.metrics.shadow_dropped.labels(variant=job.variant, reason=reason).inc()
            return False
        self.metrics.shadow_enqueued.labels(variant=job.variant).inc()
        self.metrics.shadow_queue_depth.set(self.queue.qsize())
        return True

    # ---- the teacher side ------------------------------------------------------------------------
    async def judge(self, query: str, documents: Sequence[str]) -> tuple[TeacherAnswer, int, float]:
        """The teacher's answer with bounded retries -> (answer, attempts, seconds of the good attempt).
        Raises ``TeacherFailed`` after ``1 + teacher_max_retries`` failed attempts."""
        s = self.settings
        attempts = 1 + s.teacher_max_retries
        last = ""
        for attempt in range(1, attempts + 1):
            t0 = time.perf_counter()
            try:
                answer = await self.teacher.judge(query, documents)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.teacher_duration.labels(outcome="error").observe(time.perf_counter() - t0)
                last = f"{type(exc).__name__}: {exc}"
                log.info("shadow: teacher attempt %d/%d failed: %s", attempt, attempts, last)
                if attempt < attempts:
                    await asyncio.sleep(s.teacher_retry_backoff_s * 2 ** (attempt - 1))
                continue
            seconds = time.perf_counter() - t0
            self.metrics.teacher_duration.labels(outcome="ok").observe(seconds)
            return answer, attempt, seconds
        raise TeacherFailed(f"teacher failed {attempts} times; last: {last}"[:2000], attempts)

    async def _worker(self) -> None:
        assert self.queue is not None
        while True:
            job = await self.queue.get()
            self._queued_chars -= job.chars
            self.metrics.shadow_queue_depth.set(self.queue.qsize())
            try:
                await self._process(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad job stop a worker
                log.exception("shadow: job %s not processed", job.request_id)
            finally:
                self.queue.task_done()

    def _record(self, job: ShadowJob, **fields) -> ShadowRecord:
        keep = self.settings.shadow_store_text
        docs = [{"sha256": sha256_text(t), **({"text": t} if keep else {})} for t in job.documents]
        info = self.teacher.info
        return ShadowRecord(
            request_id=job.request_id, created_at=job.created_at, variant=job.variant, model_name=job.model_name,
            model_version=job.model_version, model_folder=job.model_folder, query=job.query if keep else None,
            query_sha256=sha256_text(job.query), documents=docs, text_stored=keep,
            student_scores=job.student_scores, teacher_name=info["name"], teacher_version=info["version"],
            teacher_kind=info["kind"], **fields)

    async def _process(self, job: ShadowJob) -> None:
        try:
            answer, attempts, seconds = await self.judge(job.query, job.documents)
        except TeacherFailed as exc:
            record = self._record(job, status="failed", attempts=exc.attempts, error=str(exc))
        else:
            ndcg, tau = agreement(job.student_scores, answer.order, answer.omitted, answer.scores)
            record = self._record(job, status="completed", attempts=attempts, teacher_order=answer.order,
                                  teacher_omitted=answer.omitted, teacher_scores=answer.scores,
                                  teacher_seconds=seconds, ndcg10=ndcg, kendall_tau=tau)
        try:
            await self.store.insert(record)
        except Exception as exc:
            self.metrics.shadow_store_errors.inc()
            log.error("shadow: record %s not stored: %s", job.request_id, exc)
            return
        # counted once committed: a reader that sees the counter move finds the row
        if record.status == "failed":
            self.metrics.shadow_failed.labels(variant=job.variant).inc()
        else:
            self.metrics.shadow_completed.labels(variant=job.variant).inc()
            if record.ndcg10 is not None:
                self.metrics.agreement_ndcg.labels(variant=job.variant).observe(record.ndcg10)
            if record.kendall_tau is not None:
                self.metrics.agreement_tau.labels(variant=job.variant).observe(record.kendall_tau)

    def info(self) -> dict:
        s = self.settings
        return {"teacher": self.teacher.info, "rate": s.shadow_rate, "header": s.shadow_allow_header,
                "queue_size": s.shadow_queue_size, "queue_depth": self.queue.qsize() if self.queue else 0,
                "workers": s.shadow_workers, "store": str(s.shadow_store_path), "store_text": s.shadow_store_text}
