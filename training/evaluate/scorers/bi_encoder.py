"""all-MiniLM-L6-v2 as a bi-encoder: cosine of mean-pooled, normalized embeddings.

The student starts from these weights, so this is the floor the student must beat.
"""

from __future__ import annotations

from typing import Sequence

from training.data.hits import Candidate


class BiEncoderScorer:
    name = "bi-encoder"

    def __init__(self, model_dir: str | None = None, batch_size: int = 32, max_length: int = 256):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from training.base_models import minilm_path

        path = model_dir or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self._torch = torch
        # A bi-encoder encodes documents independently of the query (an index would hold them),
        # so candidates shared across queries (BEIR candidate lists overlap a lot) are encoded once.
        self._doc_cache: dict[str, object] = {}

    def embed(self, texts: Sequence[str]):
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    list(texts[i : i + self.batch_size]), padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out)

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        torch = self._torch
        missing = list(dict.fromkeys(c.text for c in candidates if c.text not in self._doc_cache))
        if missing:
            self._doc_cache.update(zip(missing, self.embed(missing)))
        q = self.embed([query])
        d = torch.stack([self._doc_cache[c.text] for c in candidates])
        return (d @ q.T).squeeze(-1).tolist()


def make(arg: str | None, batch_size: int) -> BiEncoderScorer:
    return BiEncoderScorer(arg, batch_size=batch_size)
