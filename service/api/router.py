"""Routes only; the work is in ``service.serving``."""

from __future__ import annotations

import email.message

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from service.api.protocol import AnyRerankRequest, AnyRerankResponse, ErrorResponse, TeiRerankRequest
from service.errors import UnsupportedMediaType, error_body
from service.serving import RerankService

router = APIRouter()

RERANK_PATHS = ("/rerank", "/v1/rerank", "/v2/rerank")
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 408, 413, 415, 422, 503)}


def _service(request: Request) -> RerankService:
    return request.app.state.service


def require_json(request: Request) -> None:
    """415 for a body that is not declared JSON (runs before the body is validated)."""
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    if message.get_content_maintype() != "application" or not (
        message.get_content_subtype() == "json" or message.get_content_subtype().endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.headers.get('content-type') or 'none'!r}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


async def rerank(
    body: AnyRerankRequest, request: Request, response: Response, _json: None = Depends(require_json),
) -> AnyRerankResponse:
    """Score each document against the query; results best first.

    Cohere/Jina body (`documents`) -> `{id, model, results, usage, meta}`;
    TEI body (`texts`) -> TEI's bare array `[{index, score, text?}]`.
    """
    service = _service(request)
    variant = service.variant
    with service.metrics.in_flight.labels(variant=variant).track_inprogress():
        if isinstance(body, TeiRerankRequest):
            result, timings = await service.rerank_tei(body)
        else:
            result, timings = await service.rerank(body, request.state.request_id)
    for stage in ("tokenization", "queue", "inference", "postprocess"):
        response.headers[f"x-{stage}-time"] = _ms(timings[stage])
    response.headers["x-variant"] = variant
    return result


for _path in RERANK_PATHS:
    router.add_api_route(
        _path, rerank, methods=["POST"], response_model=AnyRerankResponse, response_model_exclude_none=True,
        responses=_ERRORS, summary="Rerank documents" + ("" if _path == "/rerank" else f" (alias of /rerank)"),
        operation_id="rerank" + _path.replace("/", "_").removesuffix("_rerank"), tags=["rerank"],
    )


@router.get("/health", tags=["ops"], summary="Liveness: the process answers")
async def health() -> dict:
    return {"status": "ok"}


@router.get("/ready", tags=["ops"], summary="Readiness: model loaded and backend reachable (503 if not)",
            responses={503: {"model": ErrorResponse}})
async def ready(request: Request):
    ok, reason = await _service(request).readiness()
    if ok:
        return {"status": "ready"}
    return JSONResponse(error_body("not_ready", reason or "not ready"), status_code=503)


@router.get("/info", tags=["ops"], summary="Model, version, backend, max length and limits")
async def info(request: Request) -> dict:
    service = _service(request)
    ok, _ = await service.readiness()
    return {**service.info(), "ready": ok}


@router.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    payload, content_type = request.app.state.metrics.render()
    return Response(payload, media_type=content_type)
