"""Routes only; the work is in ``service.serving``."""

from __future__ import annotations

import email.message
import time

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.responses import JSONResponse

from service.api.protocol import AnyRerankRequest, AnyRerankResponse, ErrorResponse, TeiRerankRequest
from service.errors import UnknownVariant, UnsupportedMediaType, error_body
from service.metrics import STAGES

router = APIRouter()

RERANK_PATHS = ("/rerank", "/v1/rerank", "/v2/rerank")
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 408, 413, 415, 422, 503)}


def chosen_variant(request: Request) -> str:
    """The arm ``RequestContextMiddleware`` assigned (service.variants); 400 for an unknown
    ``X-Rerank-Variant`` (a dependency, so it comes before body validation)."""
    error = getattr(request.state, "variant_error", None)
    if error:
        raise UnknownVariant(error)
    return getattr(request.state, "variant", None) or request.app.state.variants.names[0]


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
    body: AnyRerankRequest, request: Request, response: Response, background: BackgroundTasks,
    _json: None = Depends(require_json), variant: str = Depends(chosen_variant),
) -> AnyRerankResponse:
    """Score each document against the query; results best first.

    Cohere/Jina body (`documents`) -> `{id, model, results, usage, meta}`;
    TEI body (`texts`) -> TEI's bare array `[{index, score, text?}]`.
    The A/B arm: `X-Rerank-Variant: NAME`, else sticky by `X-User-Id` / `X-Session-Id`, else by
    request id; it answers in the `X-Rerank-Variant` and `X-Model-Version` headers (and `meta`).
    """
    service = request.app.state.variants[variant]
    request_id = request.state.request_id
    with service.metrics.in_flight.labels(variant=variant).track_inprogress():
        if isinstance(body, TeiRerankRequest):
            result, timings, logits = await service.rerank_tei(body)
            query, texts = body.query, body.texts
        else:
            result, timings, logits = await service.rerank(body, request_id)
            query, texts = body.query, body.texts()
    for stage in STAGES:
        response.headers[f"x-{stage}-time"] = _ms(timings[stage])
    files = service.files
    response.headers["x-variant"] = variant
    response.headers["x-rerank-variant"] = variant
    response.headers["x-model-version"] = files.model_version
    shadow = request.app.state.shadow
    if shadow is not None and shadow.wants(request.headers, request_id):
        from service.shadow.pipeline import ShadowJob

        # runs after the response is sent; never waits (a full queue drops the copy)
        background.add_task(shadow.offer, ShadowJob(
            request_id=request_id, created_at=time.time(), variant=variant, model_name=files.name,
            model_version=files.model_version, model_folder=files.version, query=query, documents=list(texts),
            student_scores=[float(x) for x in logits]))
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
    ok, reason, _ = await request.app.state.variants.readiness()
    if ok:
        return {"status": "ready"}
    return JSONResponse(error_body("not_ready", reason or "not ready"), status_code=503)


@router.get("/info", tags=["ops"], summary="Model, version, backend, max length and limits; A/B variants; shadow")
async def info(request: Request) -> dict:
    state = request.app.state
    ok, _, per = await state.variants.readiness()
    return {**state.variants.primary.info(), "ready": ok, "variants": state.variants.info(per),
            "assignment": state.variants.table.describe(),
            "shadow": state.shadow.info() if state.shadow is not None else None,
            "teacher_route": state.settings.teacher_route}


@router.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    payload, content_type = request.app.state.metrics.render()
    return Response(payload, media_type=content_type)
