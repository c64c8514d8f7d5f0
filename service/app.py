"""App factory: ``create_app(settings)`` wires settings, metrics, backends, routes and middleware.

Every A/B arm's backend starts and stops with the app (lifespan), and so does the shadow teacher
path when a teacher is configured. A model that is missing or broken does not stop the app:
``/health`` answers, ``/ready`` and ``/rerank`` say 503 until it loads.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.router import RERANK_PATHS, router
from service.errors import install_error_handlers
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.settings import Settings
from service.variants import AssignmentTable, VariantSet

log = logging.getLogger("service")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = Metrics()

    table = AssignmentTable.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        variants = VariantSet(settings, metrics, table)
        app.state.variants = variants
        app.state.service = variants.primary  # the first (in a plain setup the only) arm
        shadow = None
        if settings.teacher:
            from service.shadow.pipeline import ShadowPipeline

            shadow = ShadowPipeline(settings, metrics)
        await variants.start()
        try:
            if shadow is not None:
                await shadow.start()
            app.state.shadow = shadow
            yield
        finally:
            try:
                if shadow is not None:
                    await shadow.close()
            finally:
                await variants.close()

    app = FastAPI(
        title="LLM-distilled reranker",
        description="Cross-encoder re-ranking. Cohere/Jina and TEI request shapes on `POST /rerank`.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.shadow = None
    install_error_handlers(app)
    app.include_router(router)
    paths = {route.path for route in router.routes}
    if settings.teacher_route:
        from service.api.teacher import teacher_router

        app.include_router(teacher_router)
        paths |= {route.path for route in teacher_router.routes}
    # added last = runs first: the request id and latency cover the body check too
    app.add_middleware(BodyLimitMiddleware, metrics=metrics, variant=settings.variant,
                       max_body_bytes=settings.max_body_bytes, read_timeout_s=settings.body_read_timeout_s)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, variant=settings.variant,
                       paths=frozenset(paths), assign=table.choose, assign_paths=frozenset(RERANK_PATHS))
    return app
