"""Shared fixtures for the service tests (HTTP, embedded and Triton backends).

* ``tiny_model_repository``: a model repository root holding ``rerank-student/1/`` with the tiny
  random BERT cross-encoder (``tests/helpers/tiny_model.py``), built once per session.
* ``overlap_model_repository``: same layout, with the token-overlap ONNX model
  (``tests/service/overlap_model.py``) whose scores are predictable; max_length 64.
* ``start_server`` (``tests/service/server.py``): the app under uvicorn on a free port.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_model import MODEL_NAME, build_tiny_onnx
from tests.service.overlap_model import build_overlap_onnx


@pytest.fixture(scope="session")
def tiny_model_repository(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("model_repository")
    build_tiny_onnx(root / MODEL_NAME / "1")
    return root


@pytest.fixture(scope="session")
def overlap_model_repository(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("overlap_repository")
    build_overlap_onnx(root / MODEL_NAME / "1")
    return root
