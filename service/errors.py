"""Every error the service returns, and the handlers that turn them into one JSON shape:
``{"error": {"type": ..., "message": ...}}`` with a fitting status code. Client mistakes are
4xx, an unavailable backend 503; a 500 only ever means a bug in the service."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("service.errors")


class ServiceError(Exception):
    status_code = 500
    type = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidJSON(ServiceError):
    status_code, type = 400, "invalid_json"


class UnknownVariant(ServiceError):
    """``X-Rerank-Variant`` names an arm that is not configured."""

    status_code, type = 400, "unknown_variant"


class RequestTimeout(ServiceError):
    status_code, type = 408, "request_timeout"


class PayloadTooLarge(ServiceError):
    status_code, type = 413, "payload_too_large"


class TooManyDocuments(ServiceError):
    status_code, type = 413, "too_many_documents"


class InputTooLong(ServiceError):
    """A TEI-style request with ``truncate: false`` holding a pair longer than the model takes."""

    status_code, type = 413, "input_too_long"


class UnsupportedMediaType(ServiceError):
    status_code, type = 415, "unsupported_media_type"


class InvalidRequest(ServiceError):
    status_code, type = 422, "invalid_request"


class QueryTooLong(ServiceError):
    """The query is never truncated, so one that leaves too little room for documents is refused."""

    status_code, type = 422, "query_too_long"


class BackendUnavailableError(ServiceError):
    status_code, type = 503, "backend_unavailable"


class ModelNotReady(ServiceError):
    status_code, type = 503, "model_not_ready"


class ScoringTimeout(ServiceError):
    status_code, type = 503, "timeout"


class TeacherUnavailable(ServiceError):
    """``POST /teacher/rerank``: the teacher failed after its retries."""

    status_code, type = 503, "teacher_unavailable"


_HTTP_TYPES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
               413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request",
               503: "service_unavailable"}


def error_body(type_: str, message: str) -> dict:
    return {"error": {"type": type_, "message": message}}


def _validation_message(errors) -> tuple[str, str]:
    """(type, message) for pydantic errors; malformed JSON is a 400 of its own."""
    for err in errors:
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "malformed JSON")
            return InvalidJSON.type, f"request body is not valid JSON: {detail} (at position {err['loc'][-1]})"
    parts = []
    for err in errors:
        # drop FastAPI's "body" prefix and the union tags (cohere/tei) from the location
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "cohere", "tei")]
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "validation_error", "; ".join(parts[:10]) + ("" if len(parts) <= 10 else f" (and {len(parts) - 10} more)")


def _count(request: Request, type_: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        # the arm the request was assigned to (service.variants), else the `variant` setting
        variant = getattr(request.state, "variant", None) or request.app.state.settings.variant
        metrics.errors.labels(type=type_, variant=variant).inc()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        _count(request, exc.type)
        return JSONResponse(error_body(exc.type, exc.message), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        type_, message = _validation_message(exc.errors())
        _count(request, type_)
        status = InvalidJSON.status_code if type_ == InvalidJSON.type else 422
        return JSONResponse(error_body(type_, message), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        type_ = _HTTP_TYPES.get(exc.status_code, "http_error")
        _count(request, type_)
        return JSONResponse(error_body(type_, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        _count(request, "internal_error")
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)
