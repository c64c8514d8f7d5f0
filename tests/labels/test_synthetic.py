"""InPars-style synthetic queries: prompt pieces, cleaning, BM25 candidates, and real SmolLM2 generation."""

from pathlib import Path

import pytest

from training.data import read_hits
from training.data.beir import load_beir
from training.labels.synthetic import (
    SynthConfig, clean_query, few_shot_examples, generate_queries, messages_for, write_synthetic_hits,
)

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini_beir"


def test_few_shot_uses_train_judgments_only():
    import random

    ds = load_beir(MINI, name="mini")
    examples = few_shot_examples(ds, 5, random.Random(0), 50)
    train_queries = {ds.queries[q] for q in ds.qrels["train"]}
    assert examples and {q for q, _ in examples} <= train_queries
    msgs = messages_for("Some passage.", examples)
    assert msgs[-1] == {"role": "user", "content": "Document: Some passage."}
    assert [m["role"] for m in msgs[1:3]] == ["user", "assistant"]


@pytest.mark.parametrize("raw, expected", [
    ("Query: vitamin d and bone health\nExplanation: ...", "vitamin d and bone health"),
    ('"does coffee raise blood sugar"', "does coffee raise blood sugar"),
    ("", None), ("ok", None), ("word " * 40, None),
])
def test_clean_query(raw, expected):
    assert clean_query(raw, 24) == expected


def test_candidates_are_retrieved_from_the_whole_corpus(tmp_path):
    ds = load_beir(MINI, name="mini")
    docid = sorted(ds.corpus)[0]
    out = tmp_path / "synth.jsonl"
    assert write_synthetic_hits(ds, {"synth-mini-0": ("vitamin d bone fractures", docid)}, out, top_k=3) == 1
    (qc,) = read_hits(out)
    assert qc.qid == "synth-mini-0" and len(qc.candidates) == 3
    assert qc.candidates[0].docid == "d1"   # "Vitamin D deficiency is linked to bone loss and fractures."
    with pytest.raises(ValueError, match="no usable"):
        write_synthetic_hits(ds, {}, out, top_k=3)


@pytest.mark.slow
def test_real_smollm_writes_queries(tmp_path):
    from training.teacher.zero_shot import ZeroShotTeacher

    llm = ZeroShotTeacher()
    ds = load_beir(MINI, name="mini")
    cfg = SynthConfig(num=2, shots=1, max_new_tokens=16)
    queries = generate_queries(ds, lambda m: llm.generate(m, max_new_tokens=cfg.max_new_tokens)[0], cfg,
                               progress=False)
    assert queries, "SmolLM2 should write at least one usable query for two passages"
    for qid, (query, docid) in queries.items():
        assert qid.startswith("synth-mini-") and docid in ds.corpus
        assert 3 <= len(query) and len(query.split()) <= cfg.max_query_words
