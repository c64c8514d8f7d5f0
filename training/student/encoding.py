"""Query/document pair encoding, shared by training, the PyTorch scorer, the parity check and the
ONNX scorer so that every path feeds the model the same ids.

``[CLS] query [SEP] document [SEP]``, token types 0/1, truncation of the document only
(``only_second``) to ``max_length``, padding to the longest pair of the batch. A query so long that
no document token would fit falls back to ``longest_first`` for that pair only (the tokenizers
library refuses ``only_second`` there). Needs ``tokenizers`` and numpy only, no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def load_tokenizer(path: str | Path):
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` (or a folder holding one), with the
    padding/truncation saved in the file switched off (MiniLM's pads every input to 128)."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class PairEncoder:
    def __init__(self, tokenizer, max_length: int = 256):
        if not hasattr(tokenizer, "encode_batch"):
            tokenizer = load_tokenizer(tokenizer)
        self.max_length = max_length
        self._only_second = _configured(tokenizer, max_length, "only_second")
        self._longest_first = _configured(tokenizer, max_length, "longest_first")
        pad = tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        """int64 arrays ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape [n, length]."""
        pairs = [(q, d) for q, d in pairs]
        try:
            encodings = self._only_second.encode_batch(pairs)
        except Exception:  # noqa: BLE001 - tokenizers raises a bare Exception on truncation errors
            encodings = [self._encode_one(q, d) for q, d in pairs]
        length = max((len(e.ids) for e in encodings), default=0)
        out = {name: np.zeros((len(encodings), length), dtype=np.int64) for name in INPUT_NAMES}
        out["input_ids"].fill(self.pad_id)
        for i, e in enumerate(encodings):
            n = len(e.ids)
            out["input_ids"][i, :n] = e.ids
            out["attention_mask"][i, :n] = e.attention_mask
            out["token_type_ids"][i, :n] = e.type_ids
        return out

    def encode(self, query: str, documents: Sequence[str]) -> dict[str, np.ndarray]:
        return self.encode_pairs([(query, d) for d in documents])

    def _encode_one(self, query: str, document: str):
        try:
            return self._only_second.encode(query, document)
        except Exception:  # noqa: BLE001
            return self._longest_first.encode(query, document)


def _configured(tokenizer, max_length: int, strategy: str):
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_padding()
    copy.enable_truncation(max_length, strategy=strategy)
    return copy
