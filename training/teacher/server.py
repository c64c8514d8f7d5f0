"""``rerank teacher serve``: the local teacher behind an OpenAI-compatible chat API.

Routes:
- ``POST /v1/chat/completions``: a RankGPT permutation prompt (``listwise.parse_prompt`` recognises
  it) is answered, with ``listwise="score"`` (default), by *scoring* the listed passages with the
  teacher (dense head, point-wise) and emitting the permutation string ``[3] > [1] > [2]``:
  deterministic, one forward pass per passage, every passage listed. With
  ``listwise="generate"`` the LLM writes the permutation itself, as RankGPT does (a 135M model
  repeats, skips and invents ids, which the client's parser has to survive). Any other
  conversation is answered by generating with the teacher's LLM (greedy unless ``temperature`` > 0).
- ``POST /v1/score``: ``{"query", "documents"}`` -> ``{"scores"}`` (the point-wise scores).
- ``GET /v1/models``, ``GET /health``.

``model`` in a request is informational: the server has one teacher. Usage counts tokens with
the teacher's tokenizer. The app is built by ``create_app(teacher)`` so tests and the shadow
route can run it in-process.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from training.teacher.listwise import format_permutation, parse_prompt


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | None = ""


class ChatRequest(BaseModel):
    model: str = "teacher"
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    n: int = Field(1, ge=1, le=1)
    stream: bool = False


class ScoreRequest(BaseModel):
    query: str
    documents: list[str] = Field(min_length=1, max_length=1000)


def create_app(teacher, model_name: str | None = None, default_max_tokens: int = 128, listwise: str = "score"):
    import asyncio

    from fastapi import FastAPI, HTTPException

    if listwise not in ("score", "generate"):
        raise ValueError(f"listwise must be 'score' or 'generate', not {listwise!r}")
    app = FastAPI(title="rerank teacher (OpenAI-compatible)")
    name = model_name or teacher.info.name
    tokenizer = getattr(teacher, "tokenizer", None)

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False)) if tokenizer is not None else len(text.split())

    def complete(req: ChatRequest) -> dict[str, Any]:
        messages = [m.model_dump() for m in req.messages]
        prompt = parse_prompt(messages) if listwise == "score" else None
        if prompt is not None:
            query, passages = prompt
            scores = teacher.score(query, passages)
            text = format_permutation(sorted(range(len(scores)), key=lambda i: -scores[i]))
            prompt_tokens = sum(count(m["content"] or "") for m in messages)
            completion_tokens = count(text)
        else:
            if not hasattr(teacher, "generate"):
                raise HTTPException(400, "this teacher only answers permutation prompts")
            text, prompt_tokens, completion_tokens = teacher.generate(
                messages, max_new_tokens=req.max_tokens or default_max_tokens, temperature=req.temperature)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        if req.stream:
            raise HTTPException(400, "streaming is not supported")
        # the model runs in a worker thread: the event loop keeps answering /health meanwhile
        return await asyncio.to_thread(complete, req)

    @app.post("/v1/score")
    async def score(req: ScoreRequest):
        scores = await asyncio.to_thread(teacher.score, req.query, req.documents)
        return {"model": name, "scores": scores}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "local",
                                            "version": teacher.info.version}]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "teacher": teacher.info.as_dict()}

    return app


def serve(teacher, host: str = "127.0.0.1", port: int = 8100, model_name: str | None = None,
          listwise: str = "score") -> None:
    import uvicorn

    uvicorn.run(create_app(teacher, model_name, listwise=listwise), host=host, port=port, log_level="info")
