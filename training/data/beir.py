"""BEIR datasets: ``corpus.jsonl`` / ``queries.jsonl`` / ``qrels/<split>.tsv``, from a folder or a .zip."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from training.data.trec import Qrels, read_qrels


@dataclass
class BeirDataset:
    name: str
    corpus: dict[str, str]          # docid -> "title text"
    queries: dict[str, str]         # qid -> query
    qrels: dict[str, Qrels]         # split -> qrels


def doc_text(title: str, text: str) -> str:
    """How a BEIR document is shown to every ranker (BEIR's own convention: title, space, text)."""
    title = (title or "").strip()
    return f"{title} {text}".strip() if title else (text or "").strip()


def _read_jsonl(fh) -> list[dict]:
    return [json.loads(line) for line in fh if line.strip()]


def load_beir(path: str | Path, name: str | None = None) -> BeirDataset:
    """Load a BEIR dataset from its folder or its original .zip archive (one top-level folder)."""
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()

            def find(suffix: str) -> str | None:
                return next((n for n in names if n.endswith(suffix)), None)

            def text(member: str):
                return io.TextIOWrapper(zf.open(member), encoding="utf-8")

            corpus_rows = _read_jsonl(text(find("corpus.jsonl")))
            query_rows = _read_jsonl(text(find("queries.jsonl")))
            qrels = {}
            for n in names:
                if "/qrels/" in n and n.endswith(".tsv"):
                    split = Path(n).stem
                    qrels[split] = _qrels_from_text(text(n).read(), f"{path}:{n}")
    else:
        with (path / "corpus.jsonl").open(encoding="utf-8") as f:
            corpus_rows = _read_jsonl(f)
        with (path / "queries.jsonl").open(encoding="utf-8") as f:
            query_rows = _read_jsonl(f)
        qrels = {p.stem: read_qrels(p) for p in sorted((path / "qrels").glob("*.tsv"))}
    corpus = {str(r["_id"]): doc_text(r.get("title", ""), r.get("text", "")) for r in corpus_rows}
    queries = {str(r["_id"]): r["text"] for r in query_rows}
    return BeirDataset(name=name or path.stem, corpus=corpus, queries=queries, qrels=qrels)


def _qrels_from_text(content: str, origin: str) -> Qrels:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=True, encoding="utf-8") as tmp:
        tmp.write(content)
        tmp.flush()
        try:
            return read_qrels(tmp.name)
        except ValueError as exc:
            raise ValueError(f"{origin}: {exc}") from None
