"""TritonBackend against the real server: parity, batching, readiness and failure behaviour."""

from __future__ import annotations

import asyncio
import socket
import threading

import numpy as np
import pytest

from service.backends.base import BackendUnavailable
from service.backends.triton import TritonBackend
from service.settings import Settings
from service.triton_server import TritonServer, free_port
from tests.helpers.tiny_model import MODEL_NAME
from tests.triton.test_server import DOCUMENTS, onnx_logits, tokenized

pytestmark = pytest.mark.slow


def settings_for(url: str, repository, **overrides) -> Settings:
    values = dict(backend="triton", triton_url=url, model_repository=repository, model_name=MODEL_NAME,
                  triton_timeout_s=5.0)
    values.update(overrides)
    return Settings(**values)


async def _with_backend(settings, action, model_version=None):
    backend = TritonBackend(settings, model_version=model_version)
    await backend.start()
    try:
        return await action(backend)
    finally:
        await backend.close()


def run(settings, action, model_version=None):
    # wait_for: a hang becomes a failure instead of a stuck test run.
    return asyncio.run(asyncio.wait_for(_with_backend(settings, action, model_version), timeout=120))


def _feed_args(feed):
    return feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_infer_matches_onnxruntime(triton_server, triton_model_repository, protocol):
    url = triton_server.grpc_url if protocol == "grpc" else triton_server.http_url
    version_dir = triton_model_repository / MODEL_NAME / "2"
    feed = tokenized(version_dir)
    settings = settings_for(url, triton_model_repository, triton_protocol=protocol)

    async def action(backend):
        assert await backend.ready()
        return await backend.infer(*_feed_args(feed))

    logits = run(settings, action)
    assert logits.shape == (len(DOCUMENTS),) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, onnx_logits(version_dir, feed)[:, 0], atol=1e-5, rtol=0)


def test_pinned_version_and_batches_above_max_batch_size(triton_server, triton_model_repository):
    """70 rows > max_batch_size 64: split into requests Triton accepts, rows kept in order."""
    version_dir = triton_model_repository / MODEL_NAME / "1"
    documents = [f"{d} variant {i}" for i in range(14) for d in DOCUMENTS]
    feed = tokenized(version_dir, documents=documents)
    settings = settings_for(triton_server.grpc_url, triton_model_repository)
    logits = run(settings, lambda b: b.infer(*_feed_args(feed)), model_version="1")
    assert logits.shape == (70,)
    np.testing.assert_allclose(logits, onnx_logits(version_dir, feed)[:, 0], atol=1e-5, rtol=0)


def test_parity_with_embedded_backend(triton_server, triton_model_repository):
    embedded = pytest.importorskip("service.backends.embedded")
    version_dir = triton_model_repository / MODEL_NAME / "2"
    feed = tokenized(version_dir)
    settings = settings_for(triton_server.grpc_url, triton_model_repository)
    triton_logits = run(settings, lambda b: b.infer(*_feed_args(feed)))

    async def embedded_scores():
        from service.backends import create_backend

        backend = create_backend(settings.model_copy(update={"backend": "embedded"}))
        assert isinstance(backend, embedded.EmbeddedBackend)
        await backend.start()
        try:
            return await backend.infer(*_feed_args(feed))
        finally:
            await backend.close()

    np.testing.assert_allclose(triton_logits, asyncio.run(embedded_scores()), atol=1e-5, rtol=0)


def test_factory_builds_the_triton_backend(triton_model_repository):
    backends = pytest.importorskip("service.backends")
    if not hasattr(backends, "create_backend"):
        pytest.skip("backend factory not written yet")
    backend = backends.create_backend(settings_for("127.0.0.1:1", triton_model_repository))
    assert isinstance(backend, TritonBackend)
    assert backend.describe()["backend"] == "triton"


def test_unknown_model_is_not_ready_and_cannot_score(triton_server, triton_model_repository):
    settings = settings_for(triton_server.grpc_url, triton_model_repository, model_name="no-such-model")
    feed = tokenized(triton_model_repository / MODEL_NAME / "1")

    async def action(backend):
        assert not await backend.ready()
        with pytest.raises(BackendUnavailable):
            await backend.infer(*_feed_args(feed))

    run(settings, action)


def test_server_down_means_not_ready_and_unavailable(triton_model_repository):
    """A server that was serving and then stopped: no hang, BackendUnavailable, ready() False."""
    feed = tokenized(triton_model_repository / MODEL_NAME / "1")
    server = TritonServer(triton_model_repository, http_port=0, grpc_port=0, metrics_port=0)
    settings = settings_for(server.grpc_url, triton_model_repository)

    async def action(backend):
        with server:
            assert await backend.ready()
            assert (await backend.infer(*_feed_args(feed))).shape == (len(DOCUMENTS),)
        assert not await backend.ready()
        with pytest.raises(BackendUnavailable):
            await backend.infer(*_feed_args(feed))

    run(settings, action)


def test_unresponsive_server_times_out_as_unavailable(triton_model_repository):
    """A peer that accepts TCP but never answers (hung host): the client timeout must fire."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_ignore():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_ignore, daemon=True)
    thread.start()
    settings = settings_for(f"127.0.0.1:{listener.getsockname()[1]}", triton_model_repository,
                            triton_timeout_s=1.0)
    feed = tokenized(triton_model_repository / MODEL_NAME / "1")

    async def action(backend):
        assert not await backend.ready()
        with pytest.raises(BackendUnavailable):
            await backend.infer(*_feed_args(feed))

    try:
        run(settings, action)
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_not_started_backend_is_unavailable(triton_model_repository):
    backend = TritonBackend(settings_for(f"127.0.0.1:{free_port()}", triton_model_repository))
    assert not asyncio.run(backend.ready())
    with pytest.raises(BackendUnavailable):
        asyncio.run(backend.infer(*_feed_args(tokenized(triton_model_repository / MODEL_NAME / "1"))))


def test_version_is_pinned_to_the_local_newest(triton_server, triton_model_repository, tmp_path):
    """Tokenizer and weights must come from one version: with no version set, the backend pins the
    newest version of the service's own repository; without one, Triton's newest is used."""
    async def describe(backend):
        return backend.describe()["model_version"]

    assert run(settings_for(triton_server.grpc_url, triton_model_repository), describe) == "2"
    assert run(settings_for(triton_server.grpc_url, triton_model_repository, model_version="1"), describe) == "1"
    assert run(settings_for(triton_server.grpc_url, tmp_path / "no-repository"), describe) == "latest"
