"""RRA-BERT: ``BertForSequenceClassification`` (num_labels=1; the graph that is exported and served)
plus, in training, Token Selection and the Term Control Layer (``tcl``).

A checkpoint folder holds the Hugging Face model (``config.json``, ``model.safetensors``), the
tokenizer, ``student.json`` (StudentConfig) and, when trained with it, ``tcl.pt``. Everything but
``tcl.pt`` is what ``rerank export`` turns into ONNX.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from training.student.config import StudentConfig
from training.student.tcl import TermControlLayer
from training.student.token_selection import Selection, content_token_mask, select_tokens

TCL_FILE = "tcl.pt"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@dataclass
class StudentOutput:
    score: torch.Tensor                    # [B] s_cls, the served score
    term_score: torch.Tensor | None = None  # [B] s_term (TCL only)
    fused_score: torch.Tensor | None = None  # [B] stopgrad(s_cls) + s_term (TCL only)
    selection: Selection | None = None


class RRABert(nn.Module):
    def __init__(self, bert, config: StudentConfig, content_mask: torch.Tensor):
        super().__init__()
        self.bert = bert
        self.config = config
        self.tcl = TermControlLayer(bert.config.hidden_size, config.tcl.hidden) if config.tcl.enabled else None
        self.register_buffer("content_mask", content_mask, persistent=False)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_base(cls, base_path: str | Path, config: StudentConfig, head_bias: float | None = None) -> "RRABert":
        """Start from a BERT checkpoint (all-MiniLM-L6-v2): encoder and pooler from it, a fresh
        linear head. ``head_bias`` (the mean teacher score) starts the head at the teacher's level,
        so early Point-MSE steps shape the ranking instead of only shifting the offset."""
        from transformers import BertForSequenceClassification
        from transformers.utils import logging

        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()  # "classifier newly initialized" is expected here
        try:
            bert = BertForSequenceClassification.from_pretrained(str(base_path), num_labels=1)
        finally:
            logging.set_verbosity(verbosity)
        model = cls(bert, config, _content_mask(base_path, bert.config.vocab_size, config))
        if head_bias is not None:
            model.init_head_bias(head_bias)
        return model

    def init_head_bias(self, value: float) -> None:
        with torch.no_grad():
            self.bert.classifier.bias.fill_(float(value))

    @classmethod
    def from_bert_config(cls, bert_config, config: StudentConfig, tokenizer_path: str | Path) -> "RRABert":
        """A randomly initialised student (tests use a tiny BertConfig)."""
        from transformers import BertForSequenceClassification

        bert_config.num_labels = 1
        bert = BertForSequenceClassification(bert_config)
        return cls(bert, config, _content_mask(tokenizer_path, bert_config.vocab_size, config))

    @classmethod
    def load(cls, directory: str | Path, with_tcl: bool = True) -> "RRABert":
        from transformers import BertForSequenceClassification

        directory = Path(directory)
        config = StudentConfig.load(directory)
        has_tcl = (directory / TCL_FILE).is_file()
        config.tcl.enabled = bool(config.tcl.enabled and has_tcl and with_tcl)
        bert = BertForSequenceClassification.from_pretrained(str(directory))
        model = cls(bert, config, _content_mask(directory, bert.config.vocab_size, config))
        if model.tcl is not None:
            model.tcl.load_state_dict(torch.load(directory / TCL_FILE, map_location="cpu", weights_only=True))
        return model

    def save(self, directory: str | Path, tokenizer_dir: str | Path, extra: dict | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.bert.save_pretrained(directory)
        for name in TOKENIZER_FILES:
            src = Path(tokenizer_dir) / name
            if src.is_file() and src.resolve() != (directory / name).resolve():
                shutil.copy2(src, directory / name)
        if self.tcl is not None:
            torch.save(self.tcl.state_dict(), directory / TCL_FILE)
        elif (directory / TCL_FILE).exists():
            (directory / TCL_FILE).unlink()
        self.config.save(directory, extra)
        return directory

    # --- forward --------------------------------------------------------------------------------
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor,
        use_tcl: bool = True,
    ) -> StudentOutput:
        run_tcl = use_tcl and self.tcl is not None
        out = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            output_hidden_states=run_tcl,
        )
        score = out.logits.squeeze(-1)
        if not run_tcl:
            return StudentOutput(score=score)
        sel_cfg = self.config.selection
        selection = select_tokens(
            input_ids, attention_mask, token_type_ids, self.bert.bert.embeddings.word_embeddings.weight,
            self.content_mask, threshold=sel_cfg.threshold, exact_match=sel_cfg.exact_match,
        )
        term = self.tcl(out.hidden_states[-1], selection)
        return StudentOutput(score=score, term_score=term, fused_score=score.detach() + term, selection=selection)


def _content_mask(tokenizer_path: str | Path, vocab_size: int, config: StudentConfig) -> torch.Tensor:
    from training.student.encoding import load_tokenizer

    vocab = load_tokenizer(tokenizer_path).get_vocab()
    return content_token_mask(vocab, vocab_size, config.selection.min_piece_chars)
