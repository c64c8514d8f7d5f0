"""The durable relabel store: one SQLite file (WAL, ``synchronous=FULL``), one row per shadowed request.

A row is written once, in one transaction, after the teacher answered or gave up: it is committed
whole or absent (a killed process leaves no partial row; SQLite's journal rolls an interrupted
transaction back on the next open). CHECK constraints refuse a row that would be incomplete.

Columns (JSON lists as TEXT):

- ``request_id``, ``created_at`` (unix s, the live answer), ``judged_at``, ``variant``,
  ``model_name``, ``model_version`` (the served ``rerank.json`` label), ``model_folder`` (version folder);
- ``query`` (NULL when text is not stored), ``query_sha256``, ``documents``: ``[{"sha256", "text"?}]``,
  ``n_documents``, ``text_stored`` (0/1);
- ``student_scores``: the student's logits, input order;
- ``teacher_name``, ``teacher_version``, ``teacher_kind``, ``teacher_order`` (indices best first),
  ``teacher_omitted``, ``teacher_scores`` (NULL for a list-wise teacher);
- ``status`` (``completed`` | ``failed``), ``attempts``, ``error``, ``teacher_seconds``,
  ``ndcg10``, ``kendall_tau`` (agreement, ``service.shadow.agreement``).

All blocking SQLite work of the service runs on the store's one thread (``AsyncRelabelStore``),
never on the event loop. Readers (``rerank relabel export``) open their own connection; WAL lets
them read while the service writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

SCHEMA_VERSION = 1
STATUSES = ("completed", "failed")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS shadow_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    judged_at REAL NOT NULL,
    variant TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    model_folder TEXT NOT NULL,
    query TEXT,
    query_sha256 TEXT NOT NULL,
    documents TEXT NOT NULL CHECK (json_valid(documents) AND json_array_length(documents) = n_documents),
    n_documents INTEGER NOT NULL CHECK (n_documents >= 1),
    text_stored INTEGER NOT NULL CHECK (text_stored IN (0, 1) AND (text_stored = 0 OR query IS NOT NULL)),
    student_scores TEXT NOT NULL CHECK (json_valid(student_scores)
                                        AND json_array_length(student_scores) = n_documents),
    teacher_name TEXT NOT NULL,
    teacher_version TEXT NOT NULL,
    teacher_kind TEXT NOT NULL,
    teacher_order TEXT CHECK (teacher_order IS NULL OR (json_valid(teacher_order)
                                                        AND json_array_length(teacher_order) = n_documents)),
    teacher_omitted TEXT CHECK (teacher_omitted IS NULL OR json_valid(teacher_omitted)),
    teacher_scores TEXT CHECK (teacher_scores IS NULL OR (json_valid(teacher_scores)
                                                          AND json_array_length(teacher_scores) = n_documents)),
    status TEXT NOT NULL CHECK (status IN {STATUSES!r}),
    attempts INTEGER NOT NULL CHECK (attempts >= 1),
    error TEXT,
    teacher_seconds REAL,
    ndcg10 REAL,
    kendall_tau REAL,
    CHECK (status = 'failed' OR (teacher_order IS NOT NULL AND teacher_omitted IS NOT NULL)),
    CHECK (status = 'completed' OR error IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS shadow_records_created ON shadow_records (created_at);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ShadowRecord:
    request_id: str
    created_at: float
    variant: str
    model_name: str
    model_version: str
    model_folder: str
    query: str | None
    query_sha256: str
    documents: list[dict]
    text_stored: bool
    student_scores: list[float]
    teacher_name: str
    teacher_version: str
    teacher_kind: str
    status: str
    attempts: int
    teacher_order: list[int] | None = None
    teacher_omitted: list[int] | None = None
    teacher_scores: list[float] | None = None
    error: str | None = None
    teacher_seconds: float | None = None
    ndcg10: float | None = None
    kendall_tau: float | None = None
    judged_at: float | None = None
    id: int | None = None

    @property
    def n_documents(self) -> int:
        return len(self.documents)

    def texts(self) -> list[str] | None:
        if not self.text_stored:
            return None
        return [d["text"] for d in self.documents]


_JSON_COLUMNS = ("documents", "student_scores", "teacher_order", "teacher_omitted", "teacher_scores")
_COLUMNS = ("request_id", "created_at", "judged_at", "variant", "model_name", "model_version", "model_folder",
            "query", "query_sha256", "documents", "n_documents", "text_stored", "student_scores", "teacher_name",
            "teacher_version", "teacher_kind", "teacher_order", "teacher_omitted", "teacher_scores", "status",
            "attempts", "error", "teacher_seconds", "ndcg10", "kendall_tau")


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"relabel store {path} does not exist")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut, not only a kill
        with conn:
            conn.executescript(SCHEMA)
            conn.execute("INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.row_factory = sqlite3.Row
    return conn


class RelabelStore:
    """Synchronous access (one thread at a time)."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.conn = connect(self.path, readonly=readonly)

    def insert(self, record: ShadowRecord) -> int:
        values = asdict(record)
        values["judged_at"] = values["judged_at"] if values["judged_at"] is not None else time.time()
        values["n_documents"] = record.n_documents
        values["text_stored"] = int(record.text_stored)
        for col in _JSON_COLUMNS:
            if values[col] is not None:
                values[col] = json.dumps(values[col], ensure_ascii=False, allow_nan=False)
        sql = (f"INSERT INTO shadow_records ({', '.join(_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in _COLUMNS)})")
        with self.conn:  # one transaction: committed whole or rolled back
            cur = self.conn.execute(sql, [values[c] for c in _COLUMNS])
        return int(cur.lastrowid)

    def records(self, *, since: float | None = None, until: float | None = None, status: str | None = None,
                variant: str | None = None) -> Iterator[ShadowRecord]:
        where, args = [], []
        for clause, value in (("created_at >= ?", since), ("created_at < ?", until), ("status = ?", status),
                              ("variant = ?", variant)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = "SELECT * FROM shadow_records" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        for row in self.conn.execute(sql, args):
            yield row_to_record(row)

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM shadow_records").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


def row_to_record(row: sqlite3.Row) -> ShadowRecord:
    d = dict(row)
    for col in _JSON_COLUMNS:
        if d[col] is not None:
            d[col] = json.loads(d[col])
    d.pop("n_documents")
    d["text_stored"] = bool(d["text_stored"])
    return ShadowRecord(**d)


class AsyncRelabelStore:
    """The service's handle: every SQLite call on one dedicated thread (the connection never
    crosses threads), awaited from the event loop."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relabel-store")
        self._store: RelabelStore | None = None

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        def _open():
            self._store = RelabelStore(self.path)
        await self._run(_open)

    async def insert(self, record: ShadowRecord) -> int:
        return await self._run(lambda: self._store.insert(record))

    async def count(self) -> int:
        return await self._run(lambda: self._store.count())

    async def close(self) -> None:
        if self._store is not None:
            await self._run(self._store.close)
        self._executor.shutdown(wait=True)
