"""All service configuration in one object, read from ``RERANK_*`` environment variables.

``rerank serve`` flags override the environment; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class VariantConfig(BaseModel):
    """One A/B arm (docs/ab-and-shadow.md). Unset fields inherit the top-level setting."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    share: float = Field(..., ge=0, le=100, description="percent of the traffic; all arms sum to 100")
    model_name: str | None = None
    model_version: str | None = None
    backend: Literal["embedded", "triton"] | None = None
    model_repository: Path | None = None
    triton_url: str | None = None


# Settings whose default depends on the backend (an unset value takes the backend's).
BACKEND_DEFAULTS: dict[str, dict[str, int]] = {
    "embedded": {"max_batch_tokens": 1024, "max_concurrent_batches": 1},
    "triton": {"max_batch_tokens": 16384, "max_concurrent_batches": 8},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RERANK_", extra="ignore", protected_namespaces=())

    # --- which model, served how -------------------------------------------------------------
    backend: Literal["embedded", "triton"] = "embedded"
    model_repository: Path = PROJECT_ROOT / "model_repository"
    model_name: str = "rerank-student"
    # None = the highest numeric version folder holding a model.onnx.
    model_version: str | None = None
    # The one arm's name when no A/B variants are configured; also the metric label of requests
    # that belong to no arm (/health, /metrics, ...).
    variant: str = "default"

    # --- A/B variants (docs/ab-and-shadow.md) -------------------------------------------------
    # name -> arm; JSON in RERANK_VARIANTS, or a JSON/TOML file. Empty: one arm, `variant`, 100 %.
    variants: dict[str, VariantConfig] = Field(default_factory=dict)
    variants_file: Path | None = None
    # bucket = sha256(salt + ":" + key) mod 10000; changing the salt reshuffles every user.
    variant_salt: str = "rerank-ab-v1"
    # First of these headers that is present keys the sticky bucket; else the request id does.
    variant_headers: list[str] = Field(default_factory=lambda: ["X-User-Id", "X-Session-Id"])

    # --- LLM teacher: shadow relabeling and POST /teacher/rerank (docs/ab-and-shadow.md) ------
    # openai:MODEL@URL (any OpenAI-compatible chat API, list-wise) | score:URL (`rerank teacher
    # serve`'s point-wise /v1/score) | dense:PATH | zero-shot[:DIR] (in-process, loads torch).
    teacher: str | None = None
    teacher_api_key: SecretStr | None = None  # else $OPENAI_API_KEY
    teacher_timeout_s: float = Field(120.0, gt=0)
    teacher_max_retries: int = Field(2, ge=0)  # attempts = 1 + retries, then the record is "failed"
    teacher_retry_backoff_s: float = Field(1.0, ge=0)  # doubles per retry
    teacher_window: int = Field(20, ge=2)  # list-wise sliding window
    teacher_step: int = Field(10, ge=1)
    teacher_max_tokens: int = Field(256, ge=1)
    teacher_route: bool = False  # POST /teacher/rerank; 404 when off
    # Fraction of live rerank requests copied to the teacher (X-Rerank-Shadow: 1 forces one).
    shadow_rate: float = Field(0.0, ge=0.0, le=1.0)
    shadow_allow_header: bool = True
    shadow_queue_size: int = Field(1000, ge=1)
    # Text characters (query + documents) held by queued copies at most; past it: dropped (queue_full).
    shadow_queue_max_chars: int = Field(64 * 1024 * 1024, ge=1)
    shadow_workers: int = Field(2, ge=1)
    shadow_max_documents: int = Field(100, ge=1)  # larger requests are not shadowed (counted)
    shadow_store_path: Path = PROJECT_ROOT / "artifacts" / "relabel" / "shadow.sqlite"
    shadow_store_text: bool = True  # false: only sha256 of the query and documents are stored
    # On shutdown, finish queued shadow work for up to this long.
    shadow_drain_timeout_s: float = Field(5.0, ge=0)

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
    # Padded tokens per micro-batch (rows x longest row). None = the backend's default
    # (BACKEND_DEFAULTS): on CPU every padded token costs compute, so small length-sorted batches
    # are faster (reports/loadtest/batch-tokens.json); a GPU wants big ones.
    max_batch_tokens: int | None = Field(None, ge=1)
    # Micro-batches in flight to the backend at once (all requests together). None = the backend's
    # default: 1 for embedded (one ORT run already uses every core), 8 for Triton (it batches itself).
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
        for key, value in BACKEND_DEFAULTS[self.backend].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        return self

    @model_validator(mode="after")
    def _check_variants(self) -> "Settings":
        if self.variants_file is not None:
            if self.variants:
                raise ValueError("set either variants or variants_file, not both")
            self.variants = _read_variants_file(self.variants_file)
        for name in [self.variant, *self.variants]:
            if not VARIANT_NAME.match(name):
                raise ValueError(f"variant name {name!r} must match {VARIANT_NAME.pattern}")
        if self.variants:
            total = sum(v.share for v in self.variants.values())
            if abs(total - 100.0) > 1e-6:
                shares = ", ".join(f"{n}={v.share:g}" for n, v in self.variants.items())
                raise ValueError(f"variant shares must sum to 100, got {total:g} ({shares})")
            for name, v in self.variants.items():
                if abs(v.share * 100 - round(v.share * 100)) > 1e-6:
                    raise ValueError(f"variant {name!r}: share {v.share:g} is not a multiple of 0.01")
        if not self.variant_headers or any(not h.strip() for h in self.variant_headers):
            raise ValueError("variant_headers must name at least one header, none blank")
        if (self.shadow_rate > 0 or self.teacher_route) and not self.teacher:
            raise ValueError("shadow_rate > 0 and teacher_route need a teacher (RERANK_TEACHER)")
        if self.teacher and self.teacher.partition(":")[0] not in ("openai", "score", "dense", "zero-shot"):
            raise ValueError(f"unknown teacher {self.teacher!r}; expected openai:MODEL@URL | score:URL | "
                             "dense:PATH | zero-shot[:DIR]")
        return self


def _read_variants_file(path: Path) -> dict[str, VariantConfig]:
    """The variants mapping from a JSON or TOML file (``{"NAME": {"share": ..., ...}, ...}``; in
    TOML one ``[NAME]`` table per arm). A top-level ``variants`` key holding it is accepted too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"variants_file {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("variants"), dict):
        data = data["variants"]
    if not isinstance(data, dict):
        raise ValueError(f"variants_file {path}: expected a mapping of variant name -> settings")
    return {str(k): VariantConfig.model_validate(v) for k, v in data.items()}
