"""A tiny but real Llama decoder (random weights, 2 layers, hidden 32) with the real SmolLM2
tokenizer, and a way to run any ASGI app under uvicorn on a free port.

Enough to exercise tokenization, the dense head, training steps, checkpoints and the
OpenAI-compatible server quickly; tests that need language ability use the real SmolLM2.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.helpers.http_server import serve_app  # noqa: F401  (re-exported for the teacher tests)


def build_tiny_llm(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from training.base_models import smollm_path

    tokenizer = AutoTokenizer.from_pretrained(smollm_path())
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def wrap_app(app, fail_first: int = 0, delay_s: float = 0.0):
    """``app`` behind an ASGI wrapper that answers 503 (Retry-After: 0) to the first ``fail_first``
    chat requests, optionally delays each one, and counts requests seen and in flight: what a
    rate-limited or slow provider does. Returns (wrapped app, state dict)."""
    import asyncio

    state = {"seen": 0, "inflight": 0, "max_inflight": 0}
    lock = threading.Lock()

    async def wrapper(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            return await app(scope, receive, send)
        with lock:
            state["seen"] += 1
            n = state["seen"]
            state["inflight"] += 1
            state["max_inflight"] = max(state["max_inflight"], state["inflight"])
        try:
            if n <= fail_first:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"retry-after", b"0"), (b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"overloaded"})
                return
            if delay_s:
                await asyncio.sleep(delay_s)
            await app(scope, receive, send)
        finally:
            with lock:
                state["inflight"] -= 1

    return wrapper, state
