"""Zero-shot query likelihood with the local LLM: score = log P(query | document) (``llm-qlm``).

UPR (Sachan et al., 2022) and Zhuang et al. (2023) rank passages by how likely an LM finds the
query after reading the passage. Unlike the yes/no logit (``llm-pointwise``), this needs no
instruction following, which a 135M model does badly: every query token is evidence, and the
signal is generative, so it differs in kind from both BM25 and the bi-encoder (what an ensemble
teacher wants from a third member).

The query's tokens are the same for every candidate, so the sum of their log-probabilities ranks
exactly as their mean does; the sum is returned. Only the query positions go through the LM head
(49k-way softmax), which is most of the saving over a plain forward pass.

``llm-qlm[:PROMPT][?max_doc_tokens=N&model=DIR]``: PROMPT is one of ``PROMPTS``; DIR a causal-LM
folder (default SmolLM2-135M-Instruct, converted from its GGUF).
"""

from __future__ import annotations

from typing import Sequence

from training.data.hits import Candidate

# name -> (text before the document, text between document and query). Chat prompts use the
# model's own turn markers without its default system prompt (30 tokens of "You are SmolLM").
PROMPTS: dict[str, tuple[str, str]] = {
    "chat": ("<|im_start|>user\nPassage: ",
             "\nWrite a search query that this passage answers.<|im_end|>\n<|im_start|>assistant\n"),
    "plain": ("Passage: ", "\nA search query that this passage answers: "),
    "question": ("Passage: ", "\nPlease write a question based on this passage.\nQuestion: "),
}
DEFAULT_PROMPT = "question"  # UPR's prompt; ahead of the other two on 15 SciFact *train* queries


class LLMQueryLikelihoodScorer:
    def __init__(self, model_dir: str | None = None, prompt: str = DEFAULT_PROMPT, batch_size: int = 16,
                 max_doc_tokens: int = 200):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from training.base_models import smollm_path

        if prompt not in PROMPTS:
            raise ValueError(f"unknown llm-qlm prompt {prompt!r}; known: {', '.join(PROMPTS)}")
        path = model_dir or smollm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.prompt = prompt
        self.name = f"llm-qlm:{prompt}" + (f"?model={model_dir}" if model_dir else "")
        self.batch_size = batch_size
        self.max_doc_tokens = max_doc_tokens
        before, between = PROMPTS[prompt]
        self._before = self._ids(before)
        self._between = self._ids(between)
        self._torch = torch

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def sequences(self, query: str, docs: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Per document: prompt + document + prompt + query ids; and the query's ids."""
        q = self._ids(query)
        if not q:
            raise ValueError("llm-qlm needs a non-empty query")
        seqs = [self._before + self._ids(d)[: self.max_doc_tokens] + self._between + q for d in docs]
        return seqs, q

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        torch = self._torch
        seqs, q = self.sequences(query, [c.text for c in candidates])
        n_q = len(q)
        target = torch.tensor(q)
        # length-sorted batches, right-padded: the query ends each row, so its positions are
        # found from the row's own length; padding is wasted compute on a CPU
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        scores = [0.0] * len(seqs)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                width = max(len(seqs[i]) for i in idx)
                ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
                    mask[row, : len(seqs[i])] = 1
                hidden = self.model.model(input_ids=ids, attention_mask=mask).last_hidden_state
                # the state before each query token predicts it
                lengths = mask.sum(1)
                pos = (lengths - n_q - 1).unsqueeze(1) + torch.arange(n_q).unsqueeze(0)
                states = hidden[torch.arange(len(idx)).unsqueeze(1), pos]
                logp = torch.log_softmax(self.model.lm_head(states).float(), dim=-1)
                ll = logp.gather(-1, target.expand(len(idx), n_q).unsqueeze(-1)).squeeze(-1).sum(1)
                for i, s in zip(idx, ll.tolist()):
                    scores[i] = s
        return scores


def make(arg: str | None, batch_size: int) -> LLMQueryLikelihoodScorer:
    from training.evaluate.scorers import at_least, parse_options

    prompt, options = parse_options(arg or "", {"max_doc_tokens": lambda v: at_least(v, 1), "model": str}, "llm-qlm")
    return LLMQueryLikelihoodScorer(options.get("model"), prompt=prompt or DEFAULT_PROMPT,
                                    batch_size=min(batch_size, 16), max_doc_tokens=options.get("max_doc_tokens", 200))
