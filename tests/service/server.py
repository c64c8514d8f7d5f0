"""Run a real service app under uvicorn on a free 127.0.0.1 port, in a background thread.

    with start_server(Settings(model_repository=repo)) as base_url:
        httpx.post(f"{base_url}/rerank", json=...)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from service.app import create_app
from service.settings import Settings
from tests.helpers.http_server import serve_app


@contextmanager
def start_server(settings: Settings, startup_timeout_s: float = 60.0) -> Iterator[str]:
    with serve_app(create_app(settings), startup_timeout_s, lifespan="on") as base_url:
        yield base_url
