"""Pair tokenization and micro-batching, without a server."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from tokenizers import Tokenizer

from service.batching import pad_rows, plan_micro_batches
from service.errors import InputTooLong, QueryTooLong
from service.tokenization import PairTokenizer
from service.serving import busy_time
from training.base_models import minilm_path

TOKENIZER_JSON = minilm_path() / "tokenizer.json"
QUERY = "what do cats eat at night"
LONG_DOC = " ".join(f"word{i}" for i in range(300))


@pytest.fixture(scope="module")
def pair_tokenizer() -> PairTokenizer:
    return PairTokenizer(Tokenizer.from_file(str(TOKENIZER_JSON)), max_length=48)


def reference(query: str, doc: str, max_length: int):
    """What training code gets: the tokenizer's own pair encoding with only_second truncation."""
    tok = Tokenizer.from_file(str(TOKENIZER_JSON))
    tok.no_padding()
    tok.enable_truncation(max_length, strategy="only_second")
    return tok.encode(query, doc)


@pytest.mark.parametrize("doc", ["cats eat mice", "", LONG_DOC, "ünïcödé text — with dashes " * 20])
def test_rows_match_only_second_truncation(pair_tokenizer, doc):
    enc = pair_tokenizer.encode(QUERY, [doc])
    ref = reference(QUERY, doc, 48)
    assert enc.input_ids == [ref.ids]
    assert enc.token_type_ids == [ref.type_ids]
    assert enc.doc_index == [0]
    assert len(enc.input_ids[0]) <= 48
    assert enc.truncated_documents == (1 if len(ref.overflowing) else 0)


def test_saved_padding_is_switched_off_and_pad_id_kept():
    tok = Tokenizer.from_file(str(TOKENIZER_JSON))
    assert tok.padding is not None  # the MiniLM file pads to 128 ...
    pt = PairTokenizer(tok, max_length=48)
    assert pt.tokenizer.padding is None  # ... which the service must not do per row
    assert pt.pad_id == tok.token_to_id("[PAD]")


def test_chunks_cover_the_whole_document_with_overlap(pair_tokenizer):
    enc = pair_tokenizer.encode(QUERY, ["short doc", LONG_DOC], chunk=True, chunk_overlap=8, max_chunks=100)
    query_ids = pair_tokenizer.tokenizer.encode(QUERY, add_special_tokens=False).ids
    doc_ids = pair_tokenizer.tokenizer.encode(LONG_DOC, add_special_tokens=False).ids
    windows = [ids for ids, d in zip(enc.input_ids, enc.doc_index) if d == 1]
    assert enc.doc_index[0] == 0 and len(windows) > 1
    assert enc.chunked_documents == 1 and enc.truncated_documents == 0
    types = [t for t, d in zip(enc.token_type_ids, enc.doc_index) if d == 1]
    pieces = []
    for ids, type_ids in zip(windows, types):
        assert len(ids) <= 48
        # segment ids: 0 for [CLS] q [SEP], 1 for the window and its [SEP]
        assert type_ids == [0] * (len(query_ids) + 2) + [1] * (len(ids) - len(query_ids) - 2)
        assert ids[1:1 + len(query_ids)] == query_ids  # every window carries the whole query
        pieces.append(ids[len(query_ids) + 2:-1])  # strip [CLS] q [SEP] ... [SEP]
    for a, b in zip(pieces, pieces[1:]):
        assert a[-8:] == b[:8]  # consecutive windows overlap by chunk_overlap tokens
    rebuilt = pieces[0] + [t for p in pieces[1:] for t in p[8:]]
    assert rebuilt == doc_ids


def test_max_chunks_caps_windows_and_counts_as_truncated(pair_tokenizer):
    enc = pair_tokenizer.encode(QUERY, [LONG_DOC], chunk=True, chunk_overlap=4, max_chunks=3)
    assert enc.doc_index == [0, 0, 0]
    assert enc.truncated_documents == 1


def test_max_tokens_per_doc_cuts_the_document_only(pair_tokenizer):
    enc = pair_tokenizer.encode(QUERY, [LONG_DOC, "cats"], max_tokens_per_doc=5)
    query_len = len(pair_tokenizer.tokenizer.encode(QUERY, add_special_tokens=False).ids)
    assert len(enc.input_ids[0]) == query_len + 5 + 3
    assert enc.truncated_documents == 1
    assert enc.input_ids[1] == reference(QUERY, "cats", 48).ids


def test_query_is_never_truncated(pair_tokenizer):
    with pytest.raises(QueryTooLong):
        pair_tokenizer.encode("cats " * 40, ["doc"])
    assert pair_tokenizer.max_query_tokens == 24  # default: half of max_length


def test_truncation_refused_when_not_allowed(pair_tokenizer):
    with pytest.raises(InputTooLong):
        pair_tokenizer.encode(QUERY, ["fits", LONG_DOC], allow_truncation=False)
    ok = pair_tokenizer.encode(QUERY, ["fits"], allow_truncation=False)
    assert ok.truncated_documents == 0


@hsettings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=120),
    max_batch_size=st.integers(1, 40),
    max_batch_tokens=st.integers(1, 5000),
)
def test_micro_batches_partition_rows_within_limits(lengths, max_batch_size, max_batch_tokens):
    batches = plan_micro_batches(lengths, max_batch_size, max_batch_tokens)
    flat = [r for b in batches for r in b]
    assert sorted(flat) == list(range(len(lengths)))  # every row exactly once
    assert [lengths[r] for r in flat] == sorted(lengths)  # length-sorted
    for b in batches:
        assert 1 <= len(b) <= max_batch_size
        assert len(b) == 1 or len(b) * max(lengths[r] for r in b) <= max_batch_tokens


def test_pad_rows():
    ids = [[101, 5, 102], [101, 6, 7, 8, 102]]
    types = [[0, 0, 1], [0, 0, 1, 1, 1]]
    input_ids, mask, token_types = pad_rows(ids, types, [1, 0], pad_id=0)
    assert input_ids.dtype == np.int64 and input_ids.shape == (2, 5)
    assert input_ids.tolist() == [[101, 6, 7, 8, 102], [101, 5, 102, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert token_types.tolist() == [[0, 0, 1, 1, 1], [0, 0, 1, 0, 0]]


def test_busy_time_counts_overlapping_batches_once():
    assert busy_time([]) == 0
    assert busy_time([(0.0, 1.0), (1.0, 3.0)]) == 3.0  # one after another
    assert busy_time([(0.0, 2.0), (1.0, 3.0)]) == 3.0  # side by side
    assert busy_time([(5.0, 6.0), (0.0, 4.0), (1.0, 2.0)]) == 5.0  # nested, out of order, with a gap
