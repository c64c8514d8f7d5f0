"""``llm-qlm``: query likelihood log P(query | document) from a causal LM, batched and right-padded."""

import pytest

from tests.helpers.tiny_llm import build_tiny_llm
from training.data.hits import Candidate
from training.evaluate.scorers import make_scorer


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    return build_tiny_llm(tmp_path_factory.mktemp("qlm-llm"))


def _cands(texts):
    return [Candidate(docid=str(i), text=t, rank=i + 1, score=0.0) for i, t in enumerate(texts)]


def _one_by_one(scorer, query, texts):
    """The same log-likelihood computed the plain way: one unpadded sequence, full logits."""
    import torch

    seqs, q = scorer.sequences(query, texts)
    out = []
    with torch.inference_mode():
        for seq in seqs:
            logits = scorer.model(input_ids=torch.tensor([seq])).logits[0].float()
            logp = torch.log_softmax(logits[len(seq) - len(q) - 1 : len(seq) - 1], dim=-1)
            out.append(float(logp[torch.arange(len(q)), torch.tensor(q)].sum()))
    return out


def test_batched_scores_equal_the_unbatched_log_likelihood(tiny_llm):
    # lengths differ, so rows are padded in every batch of 2; the order is not the length order
    texts = ["a much longer passage about fleas and the blood of mammals and birds " * 3,
             "short", "medium length passage about flea markets", "x " * 40, "fleas"]
    scorer = make_scorer(f"llm-qlm:question?model={tiny_llm}", batch_size=2)
    got = scorer.score("what do fleas eat", _cands(texts))
    assert got == pytest.approx(_one_by_one(scorer, "what do fleas eat", texts), abs=1e-4)
    assert all(s < 0 for s in got)  # sums of log-probabilities


def test_document_is_cut_and_prompts_and_options_are_checked(tiny_llm):
    scorer = make_scorer(f"llm-qlm:plain?model={tiny_llm}&max_doc_tokens=5")
    seqs, q = scorer.sequences("fleas", ["one two three four five six seven eight", "one"])
    before, between = len(scorer._before), len(scorer._between)
    assert len(seqs[0]) == before + 5 + between + len(q) and seqs[0][-len(q):] == q
    assert len(seqs[1]) < len(seqs[0]) and scorer.name == f"llm-qlm:plain?model={tiny_llm}"
    with pytest.raises(ValueError, match="unknown llm-qlm prompt"):
        make_scorer(f"llm-qlm:nope?model={tiny_llm}")
    for bad in ("max_doc_tokens=0", "max_doc_tokens=x", "length=5"):
        with pytest.raises(ValueError, match="max_doc_tokens"):
            make_scorer(f"llm-qlm:plain?{bad}")
    with pytest.raises(ValueError, match="non-empty query"):
        scorer.score("", _cands(["text"]))


@pytest.mark.slow
def test_real_smollm2_finds_the_query_likelier_after_the_passage_that_answers_it():
    scorer = make_scorer("llm-qlm")
    docs = ["The flea market opens on Sunday and sells old furniture.",
            "Adult fleas feed on the blood of mammals and birds.",
            "Paris is the capital of France."]
    scores = scorer.score("what do fleas eat", _cands(docs))
    assert scores[1] == max(scores), scores
