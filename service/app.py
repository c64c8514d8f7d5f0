"""App factory: ``create_app(settings)`` wires settings, metrics, backend, routes and middleware.

The backend starts and stops with the app (lifespan). A model that is missing or broken does not
stop the app: ``/health`` answers, ``/ready`` and ``/rerank`` say 503 until it loads.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.router import router
from service.backends import create_backend
from service.errors import install_error_handlers
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.serving import RerankService
from service.settings import Settings

log = logging.getLogger("service")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = RerankService(settings, create_backend(settings), metrics)
        app.state.service = service
        await service.start()
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="LLM-distilled reranker",
        description="Cross-encoder re-ranking. Cohere/Jina and TEI request shapes on `POST /rerank`.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(router)
    # added last = runs first: the request id and latency cover the body check too
    app.add_middleware(BodyLimitMiddleware, metrics=metrics, variant=settings.variant,
                       max_body_bytes=settings.max_body_bytes, read_timeout_s=settings.body_read_timeout_s)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, variant=settings.variant,
                       paths=frozenset(route.path for route in router.routes))
    return app
