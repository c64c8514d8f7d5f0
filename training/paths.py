"""Where data, artifacts and caches live. One place, so every command agrees.

Defaults are relative to the project root so a clean clone with ``../shared`` beside it works;
each can be moved with an environment variable (and most commands also take a flag).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Shared benchmark data (read-only): ``RERANK_DATA_DIR`` or ``../shared/data``."""
    return Path(os.environ.get("RERANK_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


def artifacts_dir() -> Path:
    """Generated, re-creatable outputs (candidates, checkpoints, caches): ``RERANK_ARTIFACTS_DIR``."""
    return Path(os.environ.get("RERANK_ARTIFACTS_DIR", PROJECT_ROOT / "artifacts"))


def cache_dir() -> Path:
    """Converted model weights and other caches: ``RERANK_CACHE_DIR``."""
    return Path(os.environ.get("RERANK_CACHE_DIR", artifacts_dir() / "cache"))


def reports_dir() -> Path:
    return PROJECT_ROOT / "reports"


def model_repository_dir() -> Path:
    return Path(os.environ.get("RERANK_MODEL_REPOSITORY", PROJECT_ROOT / "model_repository"))
