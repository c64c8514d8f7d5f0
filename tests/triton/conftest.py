"""A real model repository (tiny ONNX BERT, two versions) and a real tritonserver serving it."""

from __future__ import annotations

import pytest

from tests.helpers.tiny_model import MODEL_NAME, build_tiny_onnx


@pytest.fixture(scope="session")
def triton_model_repository(tmp_path_factory):
    """``<tmp>/rerank-student/{1,2}/`` — two versions with different weights (served side by side)."""
    root = tmp_path_factory.mktemp("triton-model-repository")
    build_tiny_onnx(root / MODEL_NAME / "1", seed=0)
    build_tiny_onnx(root / MODEL_NAME / "2", seed=1)
    return root


@pytest.fixture(scope="session")
def triton_server(triton_model_repository, tmp_path_factory):
    """The bundled tritonserver on free ports; stopped (by its PID) at the end of the session."""
    from service.triton_server import TritonServer

    server = TritonServer(
        triton_model_repository, http_port=0, grpc_port=0, metrics_port=0,
        work_dir=tmp_path_factory.mktemp("triton-work"),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
