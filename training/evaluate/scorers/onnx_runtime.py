"""An exported student run by ONNX Runtime: ``onnx:PATH``, with the service's preprocessing
(``tokenizers`` pair encoding, ``only_second`` truncation to ``rerank.json``'s max_length).

PATH may be a ``.onnx`` file (``tokenizer.json``/``rerank.json`` beside it), a model version
folder (``model_repository/rerank-student/3``), a model folder (its highest version), or a
repository root (``rerank-student``'s highest version). ``onnx:PATH?max_length=N`` overrides the
version's max_length (the graph's length axis is dynamic), to measure what a longer or shorter
truncation would serve before changing ``rerank.json``. Needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from training.data.hits import Candidate

DEFAULT_MAX_LENGTH = 256


def resolve_onnx(path: str | Path) -> Path:
    """The ``.onnx`` file that PATH designates (see the module docstring)."""
    from service.model_repository import DEFAULT_MODEL_NAME, MODEL_FILE, model_versions, version_dir

    path = Path(path)
    if path.is_file():
        return path
    if (path / MODEL_FILE).is_file():
        return path / MODEL_FILE
    for model_dir, name in ((path, None), (path / DEFAULT_MODEL_NAME, DEFAULT_MODEL_NAME)):
        versions = model_versions(model_dir.parent, model_dir.name) if model_dir.is_dir() else []
        if versions:
            return version_dir(model_dir.parent, model_dir.name, versions[-1]) / MODEL_FILE
    raise FileNotFoundError(f"no ONNX model at {path} (a .onnx file, a version, model or repository folder)")


class OnnxScorer:
    name = "onnx"

    def __init__(self, model_path: str | Path, batch_size: int = 32, max_length: int | None = None,
                 tokenizer_path: str | Path | None = None, threads: int | None = None):
        import onnxruntime as ort

        from training.student.encoding import PairEncoder

        self.model_path = resolve_onnx(model_path)
        folder = self.model_path.parent
        meta_file = folder / "rerank.json"
        self.meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        self.max_length = int(max_length or self.meta.get("max_length", DEFAULT_MAX_LENGTH))
        tokenizer = Path(tokenizer_path) if tokenizer_path else folder / "tokenizer.json"
        if not tokenizer.is_file():
            raise FileNotFoundError(f"{tokenizer} is missing (the tokenizer must sit beside the model)")
        self.encoder = PairEncoder(tokenizer, self.max_length)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.batch_size = batch_size

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        out: list[float] = []
        for start in range(0, len(pairs), self.batch_size):
            enc = self.encoder.encode_pairs(pairs[start : start + self.batch_size])
            (logits,) = self.session.run(["logits"], {k: enc[k] for k in self.input_names})
            out += logits.reshape(-1).astype(float).tolist()
        return out

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        # Longest first so each batch pads to similar lengths; scores go back to input order.
        order = sorted(range(len(candidates)), key=lambda i: -len(candidates[i].text))
        scores = self.score_pairs([(query, candidates[i].text) for i in order])
        result = [0.0] * len(candidates)
        for i, s in zip(order, scores):
            result[i] = s
        return result


def make(arg: str | None, batch_size: int) -> OnnxScorer:
    if not arg:
        raise ValueError("onnx needs a path: onnx:PATH (.onnx file, model version/model/repository folder)")
    from training.evaluate.scorers import at_least, parse_options

    path, options = parse_options(arg, {"max_length": lambda v: at_least(v, 8)}, "onnx")
    return OnnxScorer(path, batch_size=batch_size, max_length=options.get("max_length"))

