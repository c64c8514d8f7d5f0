"""The RRA-BERT student in PyTorch: ``student:DIR`` serves the [CLS] score (what is exported);
``student-tcl:DIR`` keeps the Term Control Layer at inference (``s_cls + s_term``), for the ablation.

DIR is a checkpoint folder (holding ``student.json``) or a ``rerank train`` output folder (its
``best/`` checkpoint is used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from training.data.hits import Candidate


def resolve_checkpoint(path: str | Path) -> Path:
    from training.student.config import CONFIG_FILE

    path = Path(path)
    for candidate in (path, path / "best"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"no student checkpoint ({CONFIG_FILE}) in {path} or {path / 'best'}")


class StudentScorer:
    def __init__(self, model, encoder, batch_size: int = 32, use_tcl: bool = False, name: str = "student"):
        import torch

        if use_tcl and model.tcl is None:
            raise ValueError("this student was trained without the TCL: use student:DIR")
        self.model = model
        self.encoder = encoder
        self.batch_size = batch_size
        self.use_tcl = use_tcl
        self.name = name
        self._torch = torch

    @classmethod
    def from_dir(cls, path: str | Path, batch_size: int = 32, use_tcl: bool = False) -> "StudentScorer":
        from training.student.encoding import PairEncoder
        from training.student.model import RRABert

        ckpt = resolve_checkpoint(path)
        model = RRABert.load(ckpt, with_tcl=use_tcl).eval()
        encoder = PairEncoder(ckpt / "tokenizer.json", model.config.max_length)
        return cls(model, encoder, batch_size, use_tcl, name="student-tcl" if use_tcl else "student")

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        return self.score_texts(query, [c.text for c in candidates])

    def score_texts(self, query: str, texts: Sequence[str]) -> list[float]:
        torch = self._torch
        # Longest first, so each batch pads to similar lengths; scores go back to input order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        scores = [0.0] * len(texts)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    idx = order[start : start + self.batch_size]
                    enc = self.encoder.encode(query, [texts[i] for i in idx])
                    out = self.model(**{k: torch.from_numpy(v) for k, v in enc.items()}, use_tcl=self.use_tcl)
                    values = out.fused_score if self.use_tcl else out.score
                    for i, s in zip(idx, values.tolist()):
                        scores[i] = float(s)
        finally:
            self.model.train(was_training)
        return scores


def make(arg: str | None, batch_size: int) -> StudentScorer:
    if not arg:
        raise ValueError("student needs a checkpoint: student:DIR")
    return StudentScorer.from_dir(arg, batch_size=batch_size)


def make_tcl(arg: str | None, batch_size: int) -> StudentScorer:
    if not arg:
        raise ValueError("student-tcl needs a checkpoint: student-tcl:DIR")
    return StudentScorer.from_dir(arg, batch_size=batch_size, use_tcl=True)
