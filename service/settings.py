"""All service configuration in one object, read from ``RERANK_*`` environment variables.

``rerank serve`` flags override the environment; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RERANK_", extra="ignore", protected_namespaces=())

    # --- which model, served how -------------------------------------------------------------
    backend: Literal["embedded", "triton"] = "embedded"
    model_repository: Path = PROJECT_ROOT / "model_repository"
    model_name: str = "rerank-student"
    # None = the highest numeric version folder holding a model.onnx.
    model_version: str | None = None
    # A/B variants arrive later; every latency/error metric already carries this label.
    variant: str = "default"

    host: str = "127.0.0.1"
    port: int = 8080

    # --- request limits ----------------------------------------------------------------------
    max_documents: int = Field(1000, ge=1)
    # Enforced while the body streams in, so an oversized upload is never held in memory.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # A client that stops sending its body mid-way gets 408 instead of holding a connection.
    body_read_timeout_s: float = Field(10.0, gt=0)
    # Whole scoring stage (queue + inference) of one request; past it: 503, never a hang.
    request_timeout_s: float = Field(30.0, gt=0)
    # The query is never truncated; longer ones are rejected. None = half the model's max length.
    max_query_tokens: int | None = Field(None, ge=1)

    # --- long documents ----------------------------------------------------------------------
    long_document_strategy: Literal["truncate", "chunk"] = "truncate"
    chunk_overlap_tokens: int = Field(32, ge=0)
    max_chunks_per_document: int = Field(8, ge=1)
    # TEI's --auto-truncate: what a TEI-style body without "truncate" gets.
    auto_truncate: bool = True

    # --- batching ----------------------------------------------------------------------------
    max_batch_size: int = Field(32, ge=1)
    # Padded tokens per micro-batch (rows x longest row): bounds memory per forward pass.
    max_batch_tokens: int = Field(16384, ge=1)
    # Micro-batches in flight to the backend at once (all requests together).
    # None = 1 for embedded (one ORT run already uses every core), 8 for Triton (it batches itself).
    max_concurrent_batches: int | None = Field(None, ge=1)

    # --- embedded backend (ONNX Runtime) -----------------------------------------------------
    ort_intra_op_threads: int = Field(0, ge=0)  # 0 = ONNX Runtime's default (one per core)
    ort_inter_op_threads: int = Field(0, ge=0)
    # Empty = CUDA when onnxruntime-gpu sees a GPU, else CPU.
    ort_providers: list[str] = Field(default_factory=list)
    # How often a backend/model that failed to load is retried (readiness turns green by itself).
    load_retry_interval_s: float = Field(10.0, ge=0)

    # --- triton backend ----------------------------------------------------------------------
    triton_url: str = "127.0.0.1:8001"
    triton_protocol: Literal["grpc", "http"] = "grpc"
    # Every Triton call (readiness, config, infer) gives up after this: a hung server -> 503, not a hang.
    triton_timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _defaults_by_backend(self) -> "Settings":
        if self.max_concurrent_batches is None:
            self.max_concurrent_batches = 1 if self.backend == "embedded" else 8
        return self
