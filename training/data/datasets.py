"""Named evaluation and training sets: where their candidates and judgments are.

TREC DL and NovelEval ship candidates; BEIR candidates are built once with BM25 (``rerank bm25``)
into the artifacts folder and reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training import paths


@dataclass(frozen=True)
class EvalSet:
    name: str
    candidates: Path
    qrels: Path
    rel_level: int        # minimum grade counted as relevant for MRR / Recall
    beir: str | None = None   # BEIR dataset to build candidates from, when they are not shipped
    split: str | None = None


BEIR_SOURCES = {"nfcorpus": "beir/nfcorpus.zip", "scifact": "beir/scifact"}


def beir_source(name: str) -> Path:
    return paths.data_dir() / BEIR_SOURCES[name]


def bm25_candidates_path(beir_name: str, split: str, top_k: int = 100) -> Path:
    return paths.artifacts_dir() / "candidates" / f"{beir_name}_{split}_bm25_top{top_k}.jsonl"


def beir_qrels_path(beir_name: str, split: str) -> Path:
    """A plain TREC qrels copy of a BEIR split (written next to the candidates on first use)."""
    return paths.artifacts_dir() / "candidates" / f"{beir_name}_{split}.qrels"


def eval_sets() -> dict[str, EvalSet]:
    d = paths.data_dir()
    sets = {
        "dl19": EvalSet("dl19", d / "trec-dl/dl19_bm25_top100.jsonl", d / "trec-dl/qrels.dl19-passage.txt", 2),
        "noveleval": EvalSet("noveleval", d / "noveleval/data.json", d / "noveleval/qrels.txt", 1),
    }
    for beir_name in BEIR_SOURCES:
        for split in ("test", "train"):
            name = f"{beir_name}-{split}"
            sets[name] = EvalSet(
                name, bm25_candidates_path(beir_name, split), beir_qrels_path(beir_name, split), 1,
                beir=beir_name, split=split,
            )
    return sets


def build_beir_candidates(
    beir_name: str, split: str, out: Path, qrels_out: Path, top_k: int = 100, beir_path: str | Path | None = None
) -> int:
    """BM25 top-k candidates of a BEIR split plus a TREC qrels copy; returns the number of queries."""
    from training.data.beir import load_beir
    from training.data.bm25 import build_bm25_file
    from training.data.trec import write_qrels

    ds = load_beir(beir_path or beir_source(beir_name), name=beir_name)
    if split not in ds.qrels:
        raise ValueError(f"{beir_name} has no split {split!r}; it has {', '.join(ds.qrels)}")
    build_bm25_file(ds, split, out, top_k=top_k)
    write_qrels(qrels_out, ds.qrels[split])
    return len(ds.qrels[split])


def ensure_candidates(es: EvalSet, top_k: int = 100) -> EvalSet:
    """Build BM25 candidates and the qrels copy for a BEIR set if they are not there yet."""
    if es.beir is not None and not (es.candidates.exists() and es.qrels.exists()):
        build_beir_candidates(es.beir, es.split, es.candidates, es.qrels, top_k=top_k)
    return es
