"""Loaders on small fixtures and on the shared data."""

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from training.data import read_hits, read_qrels, read_topics, write_hits
from training.data.beir import load_beir
from training.data.bm25 import bm25_candidates
from training.paths import data_dir

FIXTURES = Path(__file__).parent / "fixtures"
DATA = data_dir()


def test_read_hits_jsonl_fixture():
    qs = read_hits(FIXTURES / "mini_hits.jsonl")
    assert [q.qid for q in qs] == ["1", "2"]
    assert [c.docid for c in qs[0].candidates] == ["a", "b", "c"]
    assert qs[0].candidates[2].rank == 3 and qs[0].candidates[2].score == 9.75
    assert read_hits(FIXTURES / "mini_hits.jsonl", limit_queries=1)[0].query == "what do fleas eat"


def test_hits_round_trip_and_json_array(tmp_path):
    qs = read_hits(FIXTURES / "mini_hits.jsonl")
    write_hits(tmp_path / "out.jsonl", qs)
    assert read_hits(tmp_path / "out.jsonl") == qs
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([json.loads(line) for line in (FIXTURES / "mini_hits.jsonl").read_text().splitlines()]))
    assert read_hits(arr) == qs


def test_read_hits_rejects_records_without_hits(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x"}\n')
    with pytest.raises(ValueError, match="missing key"):
        read_hits(bad)


def test_qrels_trec_and_beir_formats():
    assert read_qrels(FIXTURES / "mini.qrels") == {"1": {"a": 3, "b": 0, "c": 2}, "2": {"p": 2, "f": 1}}
    assert read_qrels(FIXTURES / "mini_beir/qrels/test.tsv") == {"q1": {"d1": 2, "d3": 1}, "q2": {"d4": 1}}


def test_beir_folder_and_zip_load_the_same(tmp_path):
    folder = load_beir(FIXTURES / "mini_beir")
    archive = tmp_path / "mini_beir.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in (FIXTURES / "mini_beir").rglob("*"):
            if p.is_file():
                zf.write(p, Path("mini_beir") / p.relative_to(FIXTURES / "mini_beir"))
    zipped = load_beir(archive)
    assert zipped.corpus == folder.corpus and zipped.queries == folder.queries and zipped.qrels == folder.qrels
    assert folder.corpus["d1"].startswith("Vitamin D Vitamin D deficiency")
    assert folder.corpus["d3"] == "Sunlight exposure helps the skin produce vitamin D."
    assert set(folder.qrels) == {"test", "train"}


def test_bm25_candidates_rank_the_matching_document_first():
    ds = load_beir(FIXTURES / "mini_beir")
    cands = {q.qid: q for q in bm25_candidates(ds, "test", top_k=3)}
    assert set(cands) == {"q1", "q2"}  # only the split's judged queries
    assert cands["q2"].candidates[0].docid == "d4"
    assert [c.rank for c in cands["q1"].candidates] == [1, 2, 3]
    scores = [c.score for c in cands["q1"].candidates]
    assert scores == sorted(scores, reverse=True)


def test_shared_dl19_and_noveleval():
    dl19 = read_hits(DATA / "trec-dl/dl19_bm25_top100.jsonl")
    assert len(dl19) == 43 and all(len(q.candidates) == 100 for q in dl19)
    qrels = read_qrels(DATA / "trec-dl/qrels.dl19-passage.txt")
    assert len(qrels) == 43 and sum(len(d) for d in qrels.values()) == 9260
    assert len(read_topics(DATA / "trec-dl/topics.dl19-passage.txt")) >= 43
    novel = read_hits(DATA / "noveleval/data.json")
    assert len(novel) == 21 and all(len(q.candidates) == 20 for q in novel)


def test_shared_beir_sets():
    nf = load_beir(DATA / "beir/nfcorpus.zip")
    assert len(nf.corpus) == 3633 and len(nf.qrels["test"]) == 323 and len(nf.qrels["train"]) == 2590
    sf = load_beir(DATA / "beir/scifact")
    assert len(sf.corpus) == 5183 and len(sf.qrels["test"]) == 300
