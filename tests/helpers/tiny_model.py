"""A tiny but real BERT cross-encoder exported to ONNX, laid out as a model-repository version.

Random weights (2 layers, hidden 32) with the real all-MiniLM-L6-v2 tokenizer: enough to test
tokenization, batching, ONNX Runtime, Triton and parity without a trained model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

MODEL_NAME = "rerank-student"


def build_tiny_onnx(version_dir: Path, max_length: int = 128, seed: int = 0) -> Path:
    """Write ``model.onnx``, ``tokenizer.json`` and ``rerank.json`` into ``version_dir``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from training.base_models import minilm_path

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=1,
    )
    model = BertForSequenceClassification(config).eval()

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    version_dir.mkdir(parents=True, exist_ok=True)
    dummy = torch.ones(2, 8, dtype=torch.long)
    batch, length = "batch_size", "sequence_length"
    torch.onnx.export(
        Logits(model), (dummy, dummy, torch.zeros_like(dummy)), version_dir / "model.onnx",
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={n: {0: batch, 1: length} for n in ("input_ids", "attention_mask", "token_type_ids")}
        | {"logits": {0: batch}},
        opset_version=17, dynamo=False,
    )
    shutil.copy(minilm_path() / "tokenizer.json", version_dir / "tokenizer.json")
    (version_dir / "rerank.json").write_text(json.dumps({
        "max_length": max_length, "model_version": "tiny-test", "base_model": "random tiny BERT",
    }, indent=2))
    return version_dir / "model.onnx"
