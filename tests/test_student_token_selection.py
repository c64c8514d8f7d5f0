"""Token Selection on hand-made query/document pairs, with MiniLM's real word-piece embeddings."""

from __future__ import annotations

import pytest
import torch

from training.student.encoding import PairEncoder, load_tokenizer
from training.student.token_selection import content_token_mask, is_content_piece, select_tokens


@pytest.fixture(scope="module")
def minilm():
    from safetensors import safe_open

    from training.base_models import minilm_path

    path = minilm_path()
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        embeddings = f.get_tensor("embeddings.word_embeddings.weight")
    tokenizer = load_tokenizer(path)
    return tokenizer, embeddings, content_token_mask(tokenizer.get_vocab(), embeddings.shape[0])


def _select(minilm, query, docs, threshold=0.45, embeddings=None, exact_match=True):
    tokenizer, emb, mask = minilm
    batch = {k: torch.from_numpy(v) for k, v in PairEncoder(tokenizer, 64).encode(query, docs).items()}
    sel = select_tokens(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                        emb if embeddings is None else embeddings, mask, threshold=threshold, exact_match=exact_match)
    tokens = [[tokenizer.id_to_token(int(t)) for t in row] for row in batch["input_ids"]]
    picked = [{tok for tok, s in zip(row, sel.selected[i]) if s} for i, row in enumerate(tokens)]
    keys = [[tok for tok, k in zip(row, sel.query_keys[i]) if k] for i, row in enumerate(tokens)]
    return sel, picked, keys, batch


def test_content_pieces():
    assert is_content_piece("vehicle")
    assert is_content_piece("##ology")
    for piece in ("the", "is", "What", "[CLS]", "[SEP]", "[PAD]", ",", "?", "##s", "##ed"):
        assert not is_content_piece(piece), piece


def test_synonyms_and_inflections_are_selected_unrelated_words_are_not(minilm):
    sel, picked, keys, _ = _select(minilm, "what is the price of a used car", [
        "Buying a second-hand vehicle: automobile costs and prices vary by model.",
        "The river bank was flooded after heavy rain in spring.",
    ])
    assert keys[0] == ["price", "used", "car"]  # stopwords and special tokens are not keys
    assert {"vehicle", "automobile", "prices"} <= picked[0]
    assert not picked[0] & {"buying", "river", "model", "the", "a", "and", "by", "[SEP]"}
    assert picked[1] == set()
    assert sel.coverage[1] == 0 and sel.num_selected[1] == 0
    # price and car found matches, "used" did not: coverage 2/3
    assert sel.coverage[0] == pytest.approx(2 / 3)


def test_exact_match_counts_even_without_similar_embeddings(minilm):
    tokenizer, emb, _ = minilm
    random = torch.randn_like(emb)  # near-orthogonal pieces: only identical ids can reach 0.45
    sel, picked, _, batch = _select(minilm, "telephone inventor", ["Bell built the telephone; phones spread."],
                                    embeddings=random)
    assert picked[0] == {"telephone"}
    assert sel.weight[0][sel.selected[0]].tolist() == [1.0]
    sel, picked, _, _ = _select(minilm, "telephone inventor", ["Bell built the telephone."],
                                embeddings=random, exact_match=False, threshold=1.01)
    assert picked[0] == set()


def test_query_tokens_and_padding_are_never_selected(minilm):
    sel, _, _, batch = _select(minilm, "car car car", ["car", "a long document about a car and another car"])
    in_doc = (batch["token_type_ids"] == 1) & batch["attention_mask"].bool()
    assert not (sel.selected & ~in_doc).any()
    assert sel.selected[0].sum() == 1 and sel.selected[1].sum() == 2


def test_higher_threshold_selects_a_subset(minilm):
    docs = ["Second-hand automobile costs rose last year because new vehicles were scarce.",
            "Used car prices depend on mileage, age and the condition of the vehicle."]
    previous = None
    for threshold in (0.3, 0.45, 0.6, 0.8, 1.0):
        sel, *_ = _select(minilm, "price of a used car", docs, threshold=threshold)
        if previous is not None:
            assert not (sel.selected & ~previous).any()
        previous = sel.selected
    # at 1.0 only exact matches remain
    _, picked, _, _ = _select(minilm, "price of a used car", docs, threshold=1.0)
    assert picked[0] == set() and picked[1] == {"used", "car"}
