"""A small client for any OpenAI-compatible ``/v1/chat/completions`` endpoint.

- retries with exponential backoff and jitter on connection errors, timeouts, 429 and 5xx
  (a ``Retry-After`` header is honoured), never on other 4xx;
- a concurrency limit (a semaphore) shared by every thread that uses the client;
- an on-disk SQLite cache keyed by (model, sha256 of the canonical request), so a rerun of a
  labeling job costs no request; only successful answers are cached;
- counters: requests, cache hits, retries, failures, prompt and completion tokens.

Deterministic requests (temperature 0) are what make the cache sound; the key includes the
temperature and max_tokens, so a different setting is a different entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path


class APIError(RuntimeError):
    pass


@dataclass
class Counters:
    requests: int = 0          # HTTP requests sent (retries included)
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0          # calls that gave up
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class ResponseCache:
    """(model, key) -> answer text in SQLite; safe across threads and processes (WAL)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS responses (model TEXT, key TEXT, response TEXT, "
                               "created REAL, PRIMARY KEY (model, key))")
            self._conn.commit()

    def get(self, model: str, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT response FROM responses WHERE model=? AND key=?", (model, key)).fetchone()
        return row[0] if row else None

    def put(self, model: str, key: str, response: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", (model, key, response, time.time()))
            self._conn.commit()

    def put_many(self, model: str, items: list[tuple[str, str]]) -> None:
        """(key, response) pairs in one transaction."""
        now = time.time()
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                                   [(model, key, response, now) for key, response in items])
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def request_key(messages: list[dict], temperature: float, max_tokens: int) -> str:
    canonical = json.dumps({"messages": messages, "temperature": temperature, "max_tokens": max_tokens},
                           sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ChatClient:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, cache: str | Path | None = None,
                 max_concurrency: int = 4, max_retries: int = 4, backoff_s: float = 0.5, max_backoff_s: float = 20.0,
                 timeout_s: float = 120.0, temperature: float = 0.0, max_tokens: int = 256):
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.temperature, self.max_tokens = temperature, max_tokens
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers)
        self._sem = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self.cache = ResponseCache(cache) if cache else None
        self.counters = Counters()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                setattr(self.counters, k, getattr(self.counters, k) + v)

    def _url(self) -> str:
        # accept both ".../v1" and a bare host
        return f"{self.base_url}/chat/completions" if self.base_url.endswith("/v1") else f"{self.base_url}/v1/chat/completions"

    def chat(self, messages: list[dict]) -> str:
        """The assistant's answer text (from the cache when this exact request was answered before)."""
        import httpx

        key = request_key(messages, self.temperature, self.max_tokens)
        if self.cache is not None:
            hit = self.cache.get(self.model, key)
            if hit is not None:
                self._count(cache_hits=1)
                return hit
        body = {"model": self.model, "messages": messages, "temperature": self.temperature, "max_tokens": self.max_tokens}
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count(retries=1)
            wait = None
            with self._sem:
                self._count(requests=1)
                try:
                    resp = self._http.post(self._url(), json=body)
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    if resp.status_code == 200:
                        text, usage = _answer(resp)
                        self._count(prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
                                    completion_tokens=int(usage.get("completion_tokens", 0) or 0))
                        if self.cache is not None:
                            self.cache.put(self.model, key, text)
                        return text
                    last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    if resp.status_code != 429 and resp.status_code < 500:
                        self._count(failures=1)
                        raise APIError(last_error)
                    wait = _retry_after(resp.headers.get("retry-after"))
            if attempt < self.max_retries:
                # sleep outside the semaphore so others can use the slot
                delay = wait if wait is not None else min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                time.sleep(delay * (1 + 0.25 * random.random()))
        self._count(failures=1)
        raise APIError(f"gave up after {self.max_retries + 1} attempts: {last_error}")

    def close(self) -> None:
        self._http.close()
        if self.cache is not None:
            self.cache.close()


def _answer(resp) -> tuple[str, dict]:
    try:
        data = resp.json()
        text = data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise APIError(f"malformed completion: {resp.text[:200]}") from exc
    return text, data.get("usage") or {}


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
