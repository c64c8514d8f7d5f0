"""Two pure-ASGI middlewares (no per-request task or body copy beyond what they guard):

* ``RequestContextMiddleware``: request id (echoes a sane ``X-Request-Id``, else makes one),
  the A/B arm of a rerank request (``service.variants``; before the body is read, so even a 413
  or 422 is labelled with its arm), ``x-total-time``, and the request latency histogram labelled
  by route template, variant and status.
* ``BodyLimitMiddleware``: reads the body up to ``max_body_bytes`` (refusing early on a larger
  ``Content-Length``) and within ``body_read_timeout_s``, then replays it to the app. So an
  oversized or stalled upload is answered 413/408 without being held in memory.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

from service.errors import PayloadTooLarge, RequestTimeout, ServiceError, error_body
from service.metrics import Metrics

# An oversized upload is read and dropped up to this many times the limit before the 413.
DISCARD_FACTOR = 4
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app, metrics: Metrics, variant: str, paths: frozenset[str] = frozenset(),
                 assign=None, assign_paths: frozenset[str] = frozenset()):
        # paths: the API's route templates, to label requests answered before routing (413, 408)
        # assign(headers, request_id) -> Choice for requests to assign_paths (raises ValueError for
        # an unknown explicit arm: the route answers 400)
        self.app, self.metrics, self.variant, self.paths = app, metrics, variant, paths
        self.assign, self.assign_paths = assign, assign_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        if self.assign is not None and scope["path"] in self.assign_paths:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                choice = self.assign(headers, request_id)
                state["variant"], state["variant_source"] = choice.name, choice.source
            except ValueError as exc:
                state["variant_error"] = str(exc)
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            route = scope.get("route")
            # the route template, never the raw path: unknown paths must not mint new series
            label = getattr(route, "path", None) or (scope["path"] if scope["path"] in self.paths else "unmatched")
            variant = state.get("variant") or self.variant
            self.metrics.request_duration.labels(route=label, variant=variant, status=str(status)).observe(
                time.perf_counter() - start)

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-total-time", _ms(time.perf_counter() - start).encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()  # before the last byte leaves: a client that reads /metrics next sees it
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            record()


class BodyLimitMiddleware:
    def __init__(self, app, metrics: Metrics, variant: str, max_body_bytes: int, read_timeout_s: float):
        self.app, self.metrics, self.variant = app, metrics, variant
        self.max_body_bytes, self.read_timeout_s = max_body_bytes, read_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        try:
            body = await self._read(scope, receive)
        except ServiceError as exc:
            variant = scope.get("state", {}).get("variant") or self.variant
            self.metrics.errors.labels(type=exc.type, variant=variant).inc()
            return await _send_error(send, exc)
        if body is None:  # client went away
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)

    async def _read(self, scope, receive) -> bytes | None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        deadline = time.monotonic() + self.read_timeout_s
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            # A client that asked "Expect: 100-continue" has sent nothing yet: answer at once.
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await self._discard(receive, deadline)
            raise self._too_large()
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise RequestTimeout(f"request body not received within {self.read_timeout_s:g} s") from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:  # chunked upload without a Content-Length
                chunks.clear()
                if message.get("more_body", False):
                    await self._discard(receive, deadline)
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _discard(self, receive, deadline: float) -> None:
        """Read and drop what the client is still sending ("lingering close", as nginx does), so it
        reads our 413 instead of a connection reset. Bounded in bytes and time; nothing is kept."""
        budget = DISCARD_FACTOR * self.max_body_bytes
        while budget > 0:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                return
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return
            budget -= len(message.get("body", b""))

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")


async def _send_error(send, exc: ServiceError) -> None:
    payload = json.dumps(error_body(exc.type, exc.message)).encode()
    await send({"type": "http.response.start", "status": exc.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"
