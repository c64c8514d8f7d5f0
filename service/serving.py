"""The rerank logic behind the routes: limits the schema cannot know, tokenization, length-sorted
micro-batches through the backend, chunk scores folded per document, results in order.

Backend-agnostic: it hands int64 arrays to ``Backend.infer`` and gets logits back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from service.api.protocol import (
    DocumentText, RerankMeta, RerankRequest, RerankResponse, RerankResult, TeiRank, TeiRerankRequest, Usage,
)
from service.backends.base import Backend, BackendUnavailable
from service.batching import pad_rows, plan_micro_batches
from service.errors import BackendUnavailableError, ModelNotReady, ScoringTimeout, TooManyDocuments
from service.metrics import Metrics
from service.model_files import ModelFiles, ModelFilesError, load_tokenizer, model_files_from_settings
from service.settings import Settings
from service.tokenization import EncodedPairs, PairTokenizer

log = logging.getLogger("service.serving")

READY_CHECK_TIMEOUT_S = 5.0


@dataclass
class Scored:
    logits: np.ndarray  # float32 [n_documents], input order
    encoded: EncodedPairs
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large |x|
    return (0.5 * (1.0 + np.tanh(0.5 * x.astype(np.float64)))).astype(np.float32)


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one (start, end) interval. A request's micro-batches may run
    one after another or side by side: its inference stage is the wall time the backend was
    working on it, and its queue stage the rest (waiting for a slot), so the stages add up."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


class RerankService:
    def __init__(self, settings: Settings, backend: Backend, metrics: Metrics):
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.variant = settings.variant
        self.files: ModelFiles | None = None
        self.tokenizer: PairTokenizer | None = None
        self.load_error: str | None = None
        self._last_load = -math.inf
        self._load_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(settings.max_concurrent_batches)

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await self._load_model_files()
        try:
            await self.backend.start()
        except Exception as exc:  # a broken backend must not take /health down with it
            log.error("backend %s failed to start: %s", self.backend.name, exc)

    async def close(self) -> None:
        await self.backend.close()

    async def _load_model_files(self) -> None:
        self._last_load = time.monotonic()
        try:
            files = await asyncio.to_thread(model_files_from_settings, self.settings)
            tokenizer = await asyncio.to_thread(load_tokenizer, files)
            self.tokenizer = PairTokenizer(tokenizer, files.max_length, self.settings.max_query_tokens)
            self.files, self.load_error = files, None
            self.metrics.set_backend_info(self.settings.model_name, files.version, files.model_version,
                                          self.backend.name, self.variant)
            log.info("serving %s version %s (%s), max_length %d", files.name, files.version,
                     files.model_version, files.max_length)
        except (ModelFilesError, ValueError) as exc:
            self.load_error = str(exc)
            log.warning("model not loaded: %s", exc)

    async def _ensure_model(self) -> bool:
        """Retry a failed load at most every ``load_retry_interval_s``: a model volume that is
        mounted late turns the service ready without a restart."""
        if self.tokenizer is not None:
            return True
        async with self._load_lock:
            if self.tokenizer is None and time.monotonic() - self._last_load >= self.settings.load_retry_interval_s:
                await self._load_model_files()
        return self.tokenizer is not None

    async def readiness(self) -> tuple[bool, str | None]:
        reason = None
        if not await self._ensure_model():
            reason = f"model not loaded: {self.load_error}"
        else:
            try:
                if not await asyncio.wait_for(self.backend.ready(), READY_CHECK_TIMEOUT_S):
                    reason = f"backend {self.backend.name} not ready"
            except Exception as exc:  # includes the timeout
                reason = f"backend {self.backend.name} not ready: {exc!r}"
        self.metrics.backend_ready.labels(variant=self.variant).set(reason is None)
        return reason is None, reason

    def info(self) -> dict:
        s, f = self.settings, self.files
        try:
            backend = self.backend.describe()
        except Exception as exc:
            backend = {"backend": self.backend.name, "error": repr(exc)}
        return {
            "model": s.model_name,
            "version": f.version if f else None,
            "model_version": f.model_version if f else None,
            "model_meta": f.meta if f else None,
            "max_length": f.max_length if f else None,
            "max_query_tokens": self.tokenizer.max_query_tokens if self.tokenizer else None,
            "variant": s.variant,
            "backend": backend,
            "load_error": self.load_error,
            "limits": {
                "max_documents": s.max_documents,
                "max_body_bytes": s.max_body_bytes,
                "max_batch_size": s.max_batch_size,
                "max_batch_tokens": s.max_batch_tokens,
                "max_concurrent_batches": s.max_concurrent_batches,
                "request_timeout_s": s.request_timeout_s,
            },
            "long_documents": {
                "default_strategy": s.long_document_strategy,
                "chunk_overlap_tokens": s.chunk_overlap_tokens,
                "max_chunks_per_document": s.max_chunks_per_document,
                "auto_truncate": s.auto_truncate,
            },
        }

    # ---- scoring -------------------------------------------------------------------------------
    async def score(
        self, query: str, documents: list[str], *, max_tokens_per_doc: int | None, strategy: str,
        allow_truncation: bool,
    ) -> Scored:
        if len(documents) > self.settings.max_documents:
            raise TooManyDocuments(f"{len(documents)} documents; at most {self.settings.max_documents} per request")
        if not await self._ensure_model():
            raise ModelNotReady(f"model not loaded: {self.load_error}")
        tokenizer, s = self.tokenizer, self.settings

        t0 = time.perf_counter()
        encoded = await asyncio.to_thread(
            tokenizer.encode, query, documents, max_tokens_per_doc=max_tokens_per_doc,
            chunk=strategy == "chunk", chunk_overlap=s.chunk_overlap_tokens,
            max_chunks=s.max_chunks_per_document, allow_truncation=allow_truncation,
        )
        t_tok = time.perf_counter() - t0

        plan = plan_micro_batches(encoded.lengths, s.max_batch_size, s.max_batch_tokens)
        t_sent = time.perf_counter()
        tasks = [asyncio.ensure_future(self._run_batch(encoded, rows, tokenizer.pad_id)) for rows in plan]
        try:
            outcomes = await asyncio.wait_for(asyncio.gather(*tasks), s.request_timeout_s)
        except asyncio.TimeoutError:
            raise ScoringTimeout(f"scoring took longer than {s.request_timeout_s:g} s") from None
        except BackendUnavailable as exc:
            raise BackendUnavailableError(f"backend {self.backend.name} unavailable: {exc}") from None
        finally:
            for task in tasks:  # one batch failed: do not leave its siblings running
                task.cancel()

        t1 = time.perf_counter()
        running = busy_time([(start, done) for _, _, start, done in outcomes])
        row_logits = np.empty(len(encoded.doc_index), dtype=np.float32)
        for rows, logits, _, _ in outcomes:
            row_logits[rows] = logits
        # a chunked document scores as its best window
        logits = np.full(len(documents), -np.inf, dtype=np.float32)
        np.maximum.at(logits, np.asarray(encoded.doc_index, dtype=np.int64), row_logits)
        timings = {
            "tokenization": t_tok,
            "queue": max(0.0, (t1 - t_sent) - running),
            "inference": running,
            "postprocess": time.perf_counter() - t1,
        }
        return Scored(logits, encoded, timings)

    async def _run_batch(self, encoded: EncodedPairs, rows: list[int], pad_id: int):
        ids, mask, types = pad_rows(encoded.input_ids, encoded.token_type_ids, rows, pad_id)
        async with self._slots:
            t_start = time.perf_counter()
            logits = await self.backend.infer(ids, mask, types)
            t_done = time.perf_counter()
        logits = np.asarray(logits, dtype=np.float32).reshape(-1)
        if logits.shape[0] != len(rows):
            raise BackendUnavailable(f"backend returned {logits.shape[0]} scores for {len(rows)} rows")
        self.metrics.batch_size.labels(variant=self.variant).observe(len(rows))
        return rows, logits, t_start, t_done

    def _observe(self, scored: Scored, n_documents: int) -> None:
        m, v = self.metrics, self.variant
        m.documents.labels(variant=v).observe(n_documents)
        m.tokens.labels(variant=v).observe(scored.encoded.total_tokens)
        if scored.encoded.truncated_documents:
            m.truncated.labels(variant=v).inc(scored.encoded.truncated_documents)
        if scored.encoded.chunked_documents:
            m.chunked.labels(variant=v).inc(scored.encoded.chunked_documents)
        for stage, seconds in scored.timings.items():
            m.stage_duration.labels(stage=stage, variant=v).observe(seconds)

    # ---- the two request shapes --------------------------------------------------------------
    # Each returns (response, stage timings, logits of every document in input order); the logits
    # are what the shadow teacher path compares with the teacher (top_n does not cut them).
    async def rerank(self, req: RerankRequest, request_id: str) -> tuple[RerankResponse, dict[str, float], np.ndarray]:
        texts = req.texts()
        strategy = req.long_document_strategy or self.settings.long_document_strategy
        scored = await self.score(req.query, texts, max_tokens_per_doc=req.max_tokens_per_doc,
                                  strategy=strategy, allow_truncation=True)
        t0 = time.perf_counter()
        scores = scored.logits if req.raw_scores else sigmoid(scored.logits)
        order = np.argsort(-scores, kind="stable")[: req.top_n or len(texts)]
        results = [
            RerankResult(index=int(i), relevance_score=float(scores[i]),
                         document=DocumentText(text=texts[i]) if req.return_documents else None)
            for i in order
        ]
        response = RerankResponse(
            id=request_id, model=self.settings.model_name, results=results,
            usage=Usage(total_tokens=scored.encoded.total_tokens),
            meta=RerankMeta(
                model_version=self.files.model_version, variant=self.variant, backend=self.backend.name,
                long_document_strategy=strategy, truncated_documents=scored.encoded.truncated_documents,
                chunked_documents=scored.encoded.chunked_documents,
            ),
        )
        scored.timings["postprocess"] += time.perf_counter() - t0
        self._observe(scored, len(texts))
        return response, scored.timings, scored.logits

    async def rerank_tei(self, req: TeiRerankRequest) -> tuple[list[TeiRank], dict[str, float], np.ndarray]:
        strategy = req.long_document_strategy or self.settings.long_document_strategy
        truncate = self.settings.auto_truncate if req.truncate is None else req.truncate
        scored = await self.score(req.query, req.texts, max_tokens_per_doc=None, strategy=strategy,
                                  allow_truncation=truncate)
        t0 = time.perf_counter()
        scores = scored.logits if req.raw_scores else sigmoid(scored.logits)
        order = np.argsort(-scores, kind="stable")
        ranks = [TeiRank(index=int(i), score=float(scores[i]), text=req.texts[i] if req.return_text else None)
                 for i in order]
        scored.timings["postprocess"] += time.perf_counter() - t0
        self._observe(scored, len(req.texts))
        return ranks, scored.timings, scored.logits
