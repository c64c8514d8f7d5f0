"""Score through a Triton Inference Server (gRPC asyncio by default, HTTP optional).

The service keeps tokenization; Triton runs the same ``model.onnx`` (TensorRT FP16 on GPU in
production, the python-backend CPU twin in development) and batches across service replicas.
Every failure to reach or use the server becomes ``BackendUnavailable`` within
``triton_timeout_s``, so a dead Triton turns into a 503, never a hung request.
"""

from __future__ import annotations

import asyncio

import numpy as np

from service.backends.base import Backend, BackendUnavailable
from service.model_repository import INPUT_NAMES, OUTPUT_NAME, resolve_version_dir


class TritonBackend(Backend):
    name = "triton"

    def __init__(self, settings, model_version: str | None = None) -> None:
        self.settings = settings
        self.url = settings.triton_url
        self.protocol = settings.triton_protocol
        self.model_name = settings.model_name
        self.model_version = str(model_version or settings.model_version or "")
        self.timeout_s = float(settings.triton_timeout_s)
        self._client = None
        self._max_batch_size: int | None = None

    def _new_client(self):
        if self.protocol == "http":
            import tritonclient.http.aio as client_module

            return client_module, client_module.InferenceServerClient(self.url, conn_timeout=self.timeout_s)
        import tritonclient.grpc.aio as client_module

        return client_module, client_module.InferenceServerClient(self.url)

    async def start(self) -> None:
        if not self.model_version:
            # Pin the version whose tokenizer the service loads (the newest in its repository), so
            # tokens and weights match even when Triton serves several versions. Without a local
            # repository, "" lets Triton choose its newest.
            try:
                self.model_version = resolve_version_dir(
                    self.settings.model_repository, self.model_name, self.settings.model_version).name
            except (FileNotFoundError, ValueError):
                self.model_version = ""
        # Creating the client does not connect: a server that is down now is not an error here.
        self._module, self._client = self._new_client()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.close()
            except Exception:  # closing a channel to a dead server must not fail shutdown
                pass

    async def _call(self, coro_factory):
        """Run one client call under the timeout; any failure -> BackendUnavailable."""
        if self._client is None:
            raise BackendUnavailable("triton backend not started")
        from tritonclient.utils import InferenceServerException

        try:
            return await asyncio.wait_for(coro_factory(), timeout=self.timeout_s)
        except asyncio.TimeoutError as exc:
            raise BackendUnavailable(f"triton at {self.url}: no answer within {self.timeout_s:g}s") from exc
        except InferenceServerException as exc:
            raise BackendUnavailable(f"triton at {self.url}: {exc.message() or exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise BackendUnavailable(f"triton at {self.url}: {exc}") from exc

    def _timeout_kwargs(self) -> dict:
        # gRPC also gets a deadline of its own so the server side stops working on it too.
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    async def ready(self) -> bool:
        try:
            live = await self._call(lambda: self._client.is_server_live(**self._timeout_kwargs()))
            if not live:
                return False
            return bool(await self._call(lambda: self._client.is_model_ready(
                self.model_name, self.model_version, **self._timeout_kwargs())))
        except BackendUnavailable:
            return False

    async def _batch_limit(self) -> int:
        """The model's ``max_batch_size``, read once from the server (requests above it are split)."""
        if self._max_batch_size is None:
            config = await self._call(lambda: self._client.get_model_config(
                self.model_name, self.model_version, **({"as_json": True} if self.protocol == "grpc" else {}),
                **self._timeout_kwargs()))
            config = config.get("config", config)
            self._max_batch_size = int(config.get("max_batch_size", 0) or 0)
        return self._max_batch_size

    async def _infer_one(self, arrays: list[np.ndarray]) -> np.ndarray:
        module = self._module
        inputs = []
        for name, array in zip(INPUT_NAMES, arrays):
            tensor = module.InferInput(name, list(array.shape), "INT64")
            tensor.set_data_from_numpy(np.ascontiguousarray(array, dtype=np.int64))
            inputs.append(tensor)
        outputs = [module.InferRequestedOutput(OUTPUT_NAME)]
        result = await self._call(lambda: self._client.infer(
            self.model_name, inputs, model_version=self.model_version, outputs=outputs,
            **self._timeout_kwargs()))
        logits = result.as_numpy(OUTPUT_NAME)
        if logits is None:
            raise BackendUnavailable(f"triton response has no {OUTPUT_NAME!r} output")
        return logits.reshape(-1).astype(np.float32, copy=False)

    async def infer(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray
    ) -> np.ndarray:
        arrays = [input_ids, attention_mask, token_type_ids]
        rows = int(input_ids.shape[0])
        if rows == 0:
            return np.zeros(0, dtype=np.float32)
        limit = await self._batch_limit()
        if limit <= 0 or rows <= limit:
            return await self._infer_one(arrays)
        parts = await asyncio.gather(*[
            self._infer_one([a[start:start + limit] for a in arrays]) for start in range(0, rows, limit)
        ])
        return np.concatenate(parts)

    def describe(self) -> dict:
        return {
            "backend": self.name, "triton_url": self.url, "protocol": self.protocol,
            "model_name": self.model_name, "model_version": self.model_version or "latest",
        }
