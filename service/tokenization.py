"""Query-document pairs -> model rows, with the fast ``tokenizers`` library only.

The rows are exactly what ``tokenizer(query, doc, truncation="only_second", max_length=L)`` gives at
training time: the query is never cut, the document is cut to the room left. Two additions:

* ``max_tokens_per_doc`` caps the document first (Cohere's parameter of that name);
* chunking: instead of dropping the tail, a long document becomes overlapping windows, each paired
  with the whole query (the service then keeps the best window's score).

Query and documents are tokenized once each (documents in one parallel batch) and joined with the
tokenizer's own post-processor, so any template ([CLS] q [SEP] d [SEP], <s> q </s></s> d </s>)
works unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InputTooLong, QueryTooLong


@dataclass
class EncodedPairs:
    """One row per (document, window); ``doc_index[r]`` says which input document row r scores."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    doc_index: list[int]
    truncated_documents: int  # documents whose tail was dropped (or, chunking, split past the cap)
    chunked_documents: int  # documents scored as more than one window

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    @property
    def total_tokens(self) -> int:
        return sum(self.lengths)


class PairTokenizer:
    def __init__(self, tokenizer, max_length: int, max_query_tokens: int | None = None):
        padding = tokenizer.padding  # read before switching it off: the pad id the model saw
        self.pad_id = int(padding["pad_id"]) if padding else _find_pad_id(tokenizer)
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.special_tokens = tokenizer.num_special_tokens_to_add(is_pair=True)
        # Leave at least one document token whatever the setting says.
        ceiling = self.max_length - self.special_tokens - 1
        if ceiling < 1:
            raise ValueError(f"max_length {max_length} leaves no room for a query and a document")
        self.max_query_tokens = min(max_query_tokens or self.max_length // 2, ceiling)

    def encode(
        self,
        query: str,
        documents: list[str],
        *,
        max_tokens_per_doc: int | None = None,
        chunk: bool = False,
        chunk_overlap: int = 0,
        max_chunks: int = 1,
        allow_truncation: bool = True,
    ) -> EncodedPairs:
        tok = self.tokenizer
        q = tok.encode(query, add_special_tokens=False)
        if len(q.ids) > self.max_query_tokens:
            raise QueryTooLong(
                f"query has {len(q.ids)} tokens; at most {self.max_query_tokens} are accepted "
                f"(the query is never truncated; the model takes {self.max_length} tokens per pair)"
            )
        room = self.max_length - self.special_tokens - len(q.ids)
        docs = tok.encode_batch(documents, add_special_tokens=False)

        input_ids: list[list[int]] = []
        type_ids: list[list[int]] = []
        doc_index: list[int] = []
        truncated = chunked = 0
        for i, d in enumerate(docs):
            n = len(d.ids)
            cut = False
            if max_tokens_per_doc is not None and n > max_tokens_per_doc:
                d.truncate(max_tokens_per_doc)
                n, cut = max_tokens_per_doc, True
            if n <= room:
                windows = [tok.post_process(q, d, add_special_tokens=True)]
            elif chunk:
                d.truncate(room, stride=min(chunk_overlap, room - 1))
                pieces = [d, *d.overflowing]
                if len(pieces) > max_chunks:
                    if not allow_truncation:
                        raise self._too_long(i, n, len(q.ids), f"even as {max_chunks} windows")
                    pieces, cut = pieces[:max_chunks], True
                # each window joined on its own: the pairs post_process builds from overflowing
                # windows carry wrong token_type_ids (tokenizers 0.22)
                windows = [tok.post_process(q, p, add_special_tokens=True) for p in pieces]
                chunked += 1
            elif not allow_truncation:
                raise self._too_long(i, n, len(q.ids), "")
            else:
                d.truncate(room)
                windows = [tok.post_process(q, d, add_special_tokens=True)]
                cut = True
            truncated += cut
            for w in windows:
                input_ids.append(w.ids)
                type_ids.append(w.type_ids)
                doc_index.append(i)
        return EncodedPairs(input_ids, type_ids, doc_index, truncated, chunked)

    def _too_long(self, i: int, doc_tokens: int, query_tokens: int, how: str) -> InputTooLong:
        total = doc_tokens + query_tokens + self.special_tokens
        return InputTooLong(
            f"texts[{i}]: query and document make {total} tokens, more than the model's {self.max_length}"
            f"{' ' + how if how else ''}; send truncate=true to cut the document"
        )


def _find_pad_id(tokenizer) -> int:
    for token in ("[PAD]", "<pad>", "<|pad|>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0
