"""The trained local teacher at inference: score = Dense(Decoder(pair)[<eos>]); rank = sort by score.

Thread-safe for callers that share one instance (the teacher server, label workers): a lock
serialises forward passes, which is what a 2-core CPU can do anyway.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from training.teacher.base import Ranking, TeacherInfo, ranking_from_scores


class DenseTeacher:
    def __init__(self, folder: str | Path, batch_size: int = 16, max_length: int | None = None):
        import torch

        from training.teacher.model import PairEncoder, has_score_head, load_ranker

        self.folder = Path(folder)
        if not has_score_head(self.folder):
            raise FileNotFoundError(
                f"{self.folder} has no trained score head (score_head.pt): train it with `rerank teacher sft`"
            )
        self.model, self.tokenizer, self.meta, eos = load_ranker(self.folder)
        self.encoder = PairEncoder(self.tokenizer, eos, max_length or self.meta.max_length, self.meta.max_query_tokens)
        self.batch_size = batch_size
        self.info = TeacherInfo(name=f"dense:{self.folder.name}", version=self.meta.version, kind="pointwise")
        self._torch = torch
        self._lock = threading.Lock()
        self.calls = 0
        self.pairs = 0

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        torch = self._torch
        seqs = [self.encoder.pair_ids(query, d) for d in docs]
        # length-sorted batches: padding is wasted compute on a CPU
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        scores = [0.0] * len(seqs)
        with self._lock, torch.inference_mode():
            self.calls += 1
            self.pairs += len(seqs)
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                ids, mask, pos, _ = self.encoder.batch([seqs[i] for i in idx])
                for i, s in zip(idx, self.model(ids, mask, pos).tolist()):
                    scores[i] = float(s)
        return scores

    def rank(self, query: str, docs: Sequence[str]) -> Ranking:
        return ranking_from_scores(self.score(query, docs))

    def stats(self) -> dict:
        return {"score_calls": self.calls, "pairs_scored": self.pairs}

    def generate(self, messages: list[dict], max_new_tokens: int = 128, temperature: float = 0.0) -> tuple[str, int, int]:
        """Chat generation with the backbone: (text, prompt tokens, completion tokens)."""
        return generate_chat(self.model.lm, self.tokenizer, messages, max_new_tokens, temperature, self._lock)


def generate_chat(lm, tokenizer, messages, max_new_tokens: int, temperature: float, lock=None) -> tuple[str, int, int]:
    import contextlib

    import torch

    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    kwargs = {"do_sample": temperature > 0, "max_new_tokens": max_new_tokens,
              "pad_token_id": lm.config.pad_token_id if lm.config.pad_token_id is not None else lm.config.eos_token_id}
    if temperature > 0:
        kwargs["temperature"] = temperature
    with lock or contextlib.nullcontext(), torch.inference_mode():
        out = lm.generate(**enc, **kwargs)
    new = out[0, enc["input_ids"].shape[1]:]
    return tokenizer.decode(new, skip_special_tokens=True), int(enc["input_ids"].shape[1]), int(new.shape[0])
