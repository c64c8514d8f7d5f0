"""In-process ONNX Runtime: ``model_repository/<model>/<version>/model.onnx`` in this process.

``session.run`` releases the GIL, so it runs on a small thread pool of its own and the event loop
keeps serving while a batch computes. ONNX Runtime sessions are safe to run from several threads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from service.backends.base import Backend, BackendUnavailable
from service.model_files import ModelFiles, model_files_from_settings

log = logging.getLogger("service.backends.embedded")

REQUIRED_INPUTS = ("input_ids", "attention_mask")


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, settings):
        self.settings = settings
        self._session = None
        self._inputs: tuple[str, ...] = ()
        self._output: str | None = None
        self._files: ModelFiles | None = None
        self._error: str | None = "not started"
        self._last_attempt = -math.inf
        self._lock: asyncio.Lock | None = None
        # one worker per micro-batch the service lets in at once
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_batches or 1,
                                            thread_name_prefix="ort")

    async def start(self) -> None:
        self._lock = asyncio.Lock()
        await self._load()

    async def _load(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            files = model_files_from_settings(self.settings)
            loop = asyncio.get_running_loop()
            session = await loop.run_in_executor(self._executor, self._make_session, files)
        except Exception as exc:  # missing or corrupt model: not ready, retried later
            self._error = f"{type(exc).__name__}: {exc}"
            log.warning("ONNX model not loaded: %s", self._error)
            return
        names = {i.name for i in session.get_inputs()}
        self._session, self._files, self._error = session, files, None
        self._inputs = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names)
        self._output = session.get_outputs()[0].name
        log.info("ONNX Runtime session on %s (%s)", files.model_path, ", ".join(session.get_providers()))

    def _make_session(self, files: ModelFiles):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.settings.ort_intra_op_threads
        options.inter_op_num_threads = self.settings.ort_inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = list(self.settings.ort_providers) or _default_providers(ort.get_available_providers())
        session = ort.InferenceSession(str(files.model_path), sess_options=options, providers=providers)
        names = {i.name for i in session.get_inputs()}
        missing = [n for n in REQUIRED_INPUTS if n not in names]
        if missing:
            raise ValueError(f"{files.model_path} lacks inputs {missing}; has {sorted(names)}")
        return session

    async def _maybe_reload(self) -> None:
        if self._lock is None or time.monotonic() - self._last_attempt < self.settings.load_retry_interval_s:
            return
        async with self._lock:
            if self._session is None and time.monotonic() - self._last_attempt >= self.settings.load_retry_interval_s:
                await self._load()

    async def ready(self) -> bool:
        if self._session is None:
            await self._maybe_reload()
        return self._session is not None

    async def infer(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        if self._session is None:
            await self._maybe_reload()
        session = self._session
        if session is None:
            raise BackendUnavailable(self._error or "model not loaded")
        arrays = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {name: arrays[name] for name in self._inputs}
        loop = asyncio.get_running_loop()
        try:
            (out,) = await loop.run_in_executor(self._executor, session.run, [self._output], feed)
        except RuntimeError as exc:  # executor shut down while closing
            raise BackendUnavailable(str(exc)) from exc
        out = np.asarray(out, dtype=np.float32).reshape(len(input_ids), -1)
        if out.shape[1] != 1:
            raise BackendUnavailable(f"model gives {out.shape[1]} outputs per row; a cross-encoder gives one logit")
        return out[:, 0]

    async def close(self) -> None:
        self._session = None
        self._error = "closed"
        self._executor.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> dict:
        info = {"backend": self.name, "model": self.settings.model_name, "error": self._error}
        if self._files is not None:
            info |= {"version": self._files.version, "model_version": self._files.model_version,
                     "path": str(self._files.model_path)}
        if self._session is not None:
            info |= {"providers": self._session.get_providers(),
                     "intra_op_threads": self.settings.ort_intra_op_threads,
                     "inter_op_threads": self.settings.ort_inter_op_threads}
        return info


def _default_providers(available: list[str]) -> list[str]:
    preferred = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return preferred or available
