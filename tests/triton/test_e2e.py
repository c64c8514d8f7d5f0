"""POST /rerank through the real service: backend=triton must score exactly as backend=embedded."""

from __future__ import annotations

import httpx
import pytest

from service.settings import Settings
from tests.service.server import start_server
from tests.triton.test_server import DOCUMENTS, QUERY

pytestmark = pytest.mark.slow


def _rerank(base_url: str, **extra) -> dict:
    body = {"query": QUERY, "documents": DOCUMENTS, "raw_scores": True, **extra}
    response = httpx.post(f"{base_url}/rerank", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_rerank_through_triton_equals_embedded(triton_server, triton_model_repository):
    common = dict(model_repository=triton_model_repository, max_batch_size=2)  # several micro-batches
    with start_server(Settings(backend="triton", triton_url=triton_server.grpc_url, **common)) as url:
        assert httpx.get(f"{url}/ready", timeout=30).status_code == 200
        info = httpx.get(f"{url}/info", timeout=30).json()
        via_triton = _rerank(url)
        top_two = _rerank(url, top_n=2)
    with start_server(Settings(backend="embedded", **common)) as url:
        via_embedded = _rerank(url)

    assert info["backend"]["backend"] == "triton" and info["backend"]["model_version"] == info["version"] == "2"
    scores = lambda body: {r["index"]: r["relevance_score"] for r in body["results"]}  # noqa: E731
    triton_scores, embedded_scores = scores(via_triton), scores(via_embedded)
    assert sorted(triton_scores) == list(range(len(DOCUMENTS)))
    for index, score in embedded_scores.items():
        assert triton_scores[index] == pytest.approx(score, abs=1e-5)
    assert [r["index"] for r in top_two["results"]] == [r["index"] for r in via_triton["results"]][:2]


def test_triton_down_gives_not_ready_and_503(triton_model_repository):
    from service.triton_server import free_port

    settings = Settings(backend="triton", triton_url=f"127.0.0.1:{free_port()}",
                        model_repository=triton_model_repository, triton_timeout_s=2.0)
    with start_server(settings) as url:
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        assert httpx.get(f"{url}/ready", timeout=30).status_code == 503
        response = httpx.post(f"{url}/rerank", json={"query": QUERY, "documents": DOCUMENTS}, timeout=60)
        assert response.status_code == 503
