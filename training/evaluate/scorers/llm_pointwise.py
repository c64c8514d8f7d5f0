"""Zero-shot point-wise LLM relevance: logit("yes") - logit("no") after a relevance question.

The untrained baseline for the local teacher (SmolLM2-135M-Instruct by default).
"""

from __future__ import annotations

from typing import Sequence

from training.data.hits import Candidate

PROMPT = (
    "Query: {query}\nDocument: {document}\n"
    "Is the document relevant to the query? Answer yes or no."
)


class LLMPointwiseScorer:
    name = "llm-pointwise"

    def __init__(self, model_dir: str | None = None, batch_size: int = 8, max_doc_tokens: int = 200):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from training.base_models import smollm_path

        path = model_dir or smollm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"  # the answer logit is read at the last position
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()
        self.batch_size = batch_size
        self.max_doc_tokens = max_doc_tokens
        self.yes_id = self.tokenizer.encode("yes", add_special_tokens=False)[0]
        self.no_id = self.tokenizer.encode("no", add_special_tokens=False)[0]
        self._torch = torch

    def _prompt(self, query: str, document: str) -> str:
        ids = self.tokenizer.encode(document, add_special_tokens=False)[: self.max_doc_tokens]
        doc = self.tokenizer.decode(ids)
        messages = [{"role": "user", "content": PROMPT.format(query=query, document=doc)}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        torch = self._torch
        prompts = [self._prompt(query, c.text) for c in candidates]
        # length-sorted batches: left padding is pure waste on a CPU
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        scores = [0.0] * len(prompts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True)
                logits = self.model(**enc).logits[:, -1, :]
                for i, s in zip(idx, (logits[:, self.yes_id] - logits[:, self.no_id]).tolist()):
                    scores[i] = s
        return scores


def make(arg: str | None, batch_size: int) -> LLMPointwiseScorer:
    return LLMPointwiseScorer(arg, batch_size=min(batch_size, 16))
