"""The local teacher model: a decoder LLM with a dense ranking head (DisRanker §3.3, RRA-GPT).

Input, one sequence per (query, document):

    <bos> "query: {query} document: {document}" <eos>   [+ generation target, RRA-GPT only]

The last layer's hidden state at the <eos> token goes through ``Linear(hidden, 1)``: the score.
Causal attention means that state sees the whole pair and nothing after it, so a generation
target may follow the <eos> in the same sequence (one forward pass for L_gen and the score).

<eos> is the model's own end token (``config.eos_token_id``: ``<|im_end|>`` for SmolLM2-Instruct),
not ``tokenizer.eos_token``: the GGUF conversion labels ``<|im_start|>`` as both bos and eos.

A teacher folder holds the backbone (``save_pretrained``), its tokenizer, ``score_head.pt`` and
``teacher.json`` (``TeacherMeta``). A folder without ``score_head.pt`` (the base LLM, a CPT output)
gets a fresh, zero-initialised head.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

META_FILE = "teacher.json"
HEAD_FILE = "score_head.pt"
YES, NO = "yes", "no"   # RRA-GPT's generative relevance classification reads these two logits


@dataclass
class TeacherMeta:
    stage: str = "base"                 # base | cpt | sft | rra-gpt
    base_model: str = "SmolLM2-135M-Instruct"
    max_length: int = 192
    max_query_tokens: int = 48
    parent: str | None = None           # the folder this stage started from
    step: int = 0
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    train: dict = field(default_factory=dict)   # the training config that produced it

    @property
    def version(self) -> str:
        return f"{self.stage}-step{self.step}-{self.created}"

    @classmethod
    def load(cls, folder: Path) -> "TeacherMeta":
        path = Path(folder) / META_FILE
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, folder: Path) -> None:
        (Path(folder) / META_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


class DenseHeadRanker(nn.Module):
    """Causal LM backbone + a scalar head on the hidden state at a given position."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.head = nn.Linear(lm.config.hidden_size, 1)
        # zero init: every pair starts tied (hinge loss = T), and the first updates move the head
        # along mean(h+ - h-) instead of undoing a random direction that already has a scale
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def decoder(self) -> nn.Module:
        return self.lm.model  # LlamaModel: hidden states without the vocabulary projection

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state

    def score_from_hidden(self, hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return self.head(hidden[rows, positions]).squeeze(-1)

    def forward(self, input_ids, attention_mask, positions) -> torch.Tensor:
        return self.score_from_hidden(self.hidden(input_ids, attention_mask), positions)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm.lm_head(hidden)


def eos_id(lm_config, tokenizer) -> int:
    eos = lm_config.eos_token_id
    if isinstance(eos, (list, tuple)):
        eos = eos[0]
    return int(eos if eos is not None else tokenizer.eos_token_id)


class PairEncoder:
    """Token ids for (query, document) pairs in the teacher's input format, truncated to budget."""

    def __init__(self, tokenizer, eos_token_id: int, max_length: int = 192, max_query_tokens: int = 48):
        self.tok = tokenizer
        self.eos = eos_token_id
        self.bos = tokenizer.bos_token_id
        self.pad = eos_token_id  # never attended (mask 0) and never read: any id works
        self.max_length = max_length
        self.max_query_tokens = max_query_tokens

    def _ids(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def prompt_ids(self, query: str) -> list[int]:
        """``<bos> query: {query} document:`` (the CPT input, the scoring prefix)."""
        q = self._ids(query)[: self.max_query_tokens]
        prefix = [self.bos] if self.bos is not None else []
        return prefix + self._ids("query:") + self._ids(" " + self.tok.decode(q)) + self._ids(" document:")

    def pair_ids(self, query: str, document: str, reserve: int = 0) -> list[int]:
        """The scoring input, ending in <eos>; ``reserve`` tokens are left free for a target."""
        head = self.prompt_ids(query)
        room = max(1, self.max_length - reserve - len(head) - 1)
        return head + self._ids(" " + document)[:room] + [self.eos]

    def batch(self, seqs: Sequence[Sequence[int]], labels: Sequence[Sequence[int]] | None = None):
        """Right-padded tensors: input_ids, attention_mask, the <eos> (score) positions, labels."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        lab = torch.full((len(seqs), width), -100, dtype=torch.long)
        positions = torch.zeros(len(seqs), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
            positions[i] = _last_index(s, self.eos)
            if labels is not None:
                lab[i, : len(labels[i])] = torch.tensor(labels[i])
        return ids, mask, positions, lab


def _last_index(seq: Sequence[int], token: int) -> int:
    """Score position: the first <eos> (a target may follow it); the last token if there is none."""
    for i, t in enumerate(seq):
        if t == token:
            return i
    return len(seq) - 1


def freeze_lower_layers(model: DenseHeadRanker, train_layers: int) -> int:
    """Train the top ``train_layers`` decoder layers, the final norm and the head; -1 = everything.

    Frozen lower layers keep no activations for backward, which is what makes CPU training
    feasible. Returns the number of trainable parameters.
    """
    layers = model.decoder.layers
    for p in model.parameters():
        p.requires_grad_(train_layers < 0)
    if train_layers >= 0:
        for layer in list(layers)[len(layers) - train_layers:] if train_layers else []:
            for p in layer.parameters():
                p.requires_grad_(True)
        if train_layers:
            for p in model.decoder.norm.parameters():
                p.requires_grad_(True)
        for p in model.head.parameters():
            p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_ranker(folder: str | Path, seed: int = 0):
    """(DenseHeadRanker, tokenizer, TeacherMeta, eos id) from a teacher folder or a plain LLM folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    torch.manual_seed(seed)  # a fresh head is reproducible
    model = DenseHeadRanker(lm)
    head = folder / HEAD_FILE
    if head.exists():
        model.head.load_state_dict(torch.load(head, map_location="cpu", weights_only=True))
    model.eval()
    return model, tokenizer, TeacherMeta.load(folder), eos_id(lm.config, tokenizer)


def save_ranker(model: DenseHeadRanker, tokenizer, meta: TeacherMeta, folder: str | Path, with_head: bool = True) -> Path:
    """Write a complete teacher folder atomically (``folder.tmp`` then rename). ``with_head=False``
    (continued pre-training) leaves the head out, so nobody scores with an untrained head."""
    import shutil

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.lm.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if with_head:
        torch.save(model.head.state_dict(), tmp / HEAD_FILE)
    meta.save(tmp)
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def has_score_head(folder: str | Path) -> bool:
    return (Path(folder) / HEAD_FILE).exists()
