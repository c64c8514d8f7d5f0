"""``POST /teacher/rerank``: the LLM teacher behind the ``/rerank`` schema, for debugging and offline
jobs. Only mounted when the ``teacher_route`` setting is on (404 otherwise, absent from OpenAPI).

Scores: a point-wise teacher's own scores; a list-wise teacher only ranks, so each document it
ranked gets ``(m + 1 - rank) / m`` (1.0 for its best of ``m``), and one it left out gets 0.0.
``raw_scores``, ``max_tokens_per_doc`` and ``long_document_strategy`` do not apply (the teacher
sees each document's first 300 words); ``usage.total_tokens`` is 0 (the service does not
tokenize for the teacher). Teacher errors are retried like the shadow path's, then 503
``teacher_unavailable``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from service.api.protocol import (
    AnyRerankRequest, AnyRerankResponse, DocumentText, RerankMeta, RerankResponse, RerankResult, TeiRank,
    TeiRerankRequest, Usage,
)
from service.api.router import _ERRORS, require_json
from service.errors import TeacherUnavailable, TooManyDocuments

TEACHER_PATH = "/teacher/rerank"
TEACHER_VARIANT = "teacher"

teacher_router = APIRouter()


def display_scores(n: int, order: list[int], omitted: list[int], scores: list[float] | None) -> list[float]:
    if scores is not None:
        return list(scores)
    left_out = set(omitted)
    ranked = [d for d in order if d not in left_out]
    m = len(ranked)
    out = [0.0] * n
    for r, d in enumerate(ranked, 1):
        out[d] = (m + 1 - r) / m
    return out


@teacher_router.post(
    TEACHER_PATH, response_model=AnyRerankResponse, response_model_exclude_none=True, responses=_ERRORS,
    tags=["teacher"], summary="Rerank with the LLM teacher (same schema as /rerank)",
)
async def teacher_rerank(body: AnyRerankRequest, request: Request, response: Response,
                         _json: None = Depends(require_json)) -> AnyRerankResponse:
    from service.shadow.pipeline import TeacherFailed

    state = request.app.state
    pipeline = state.shadow
    tei = isinstance(body, TeiRerankRequest)
    texts = body.texts if tei else body.texts()
    if len(texts) > state.settings.max_documents:
        raise TooManyDocuments(f"{len(texts)} documents; at most {state.settings.max_documents} per request")
    try:
        answer, attempts, seconds = await pipeline.judge(body.query, texts)
    except TeacherFailed as exc:
        raise TeacherUnavailable(str(exc)) from None
    info = pipeline.teacher.info
    scores = display_scores(len(texts), answer.order, answer.omitted, answer.scores)
    position = {d: i for i, d in enumerate(answer.order)}
    order = sorted(range(len(texts)), key=lambda d: (-scores[d], position[d]))
    response.headers["x-rerank-variant"] = TEACHER_VARIANT
    response.headers["x-model-version"] = info["version"]
    response.headers["x-teacher"] = info["name"]
    response.headers["x-teacher-attempts"] = str(attempts)
    response.headers["x-teacher-time"] = f"{seconds * 1000:.3f}"
    if tei:
        return [TeiRank(index=d, score=scores[d], text=texts[d] if body.return_text else None) for d in order]
    return RerankResponse(
        id=request.state.request_id, model=info["name"],
        results=[RerankResult(index=d, relevance_score=scores[d],
                              document=DocumentText(text=texts[d]) if body.return_documents else None)
                 for d in order[: body.top_n or len(texts)]],
        usage=Usage(total_tokens=0),
        meta=RerankMeta(model_version=info["version"], variant=TEACHER_VARIANT, backend=info["kind"],
                        long_document_strategy="truncate", truncated_documents=0, chunked_documents=0),
    )
