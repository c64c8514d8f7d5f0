"""A tiny but real RRA-BERT student (random 2-layer BERT, hidden 32, the real MiniLM tokenizer),
saved as a training checkpoint folder: enough to test training, TCL, export and parity fast."""

from __future__ import annotations

from pathlib import Path

TINY_BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": 512, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
FIXTURE_LABELS = Path(__file__).resolve().parent.parent / "fixtures" / "student_labels.jsonl"


def tiny_student(tcl: bool = True, max_length: int = 64, seed: int = 0, threshold: float = 0.45):
    import torch
    from transformers import BertConfig

    from training.base_models import minilm_path
    from training.student.config import SelectionConfig, StudentConfig, TCLConfig
    from training.student.model import RRABert

    torch.manual_seed(seed)
    config = StudentConfig(base_model="random tiny BERT", max_length=max_length,
                           selection=SelectionConfig(threshold=threshold), tcl=TCLConfig(enabled=tcl, hidden=16))
    return RRABert.from_bert_config(BertConfig(**TINY_BERT), config, minilm_path())


def save_tiny_student(directory: Path, tcl: bool = True, max_length: int = 64, seed: int = 0,
                      trained_like: bool = False) -> Path:
    """``trained_like``: every bias and LayerNorm made distinct, as training leaves them (a fresh
    model's all-zero biases and all-one scales are equal tensors, which ONNX graphs store once)."""
    import torch

    from training.base_models import minilm_path

    model = tiny_student(tcl=tcl, max_length=max_length, seed=seed)
    if trained_like:
        with torch.no_grad():
            for param in model.parameters():
                param.add_(0.02 * torch.randn_like(param))
    return model.save(directory, minilm_path(), extra={"training": {"teacher": {"name": "none"}, "tcl": tcl}})
