"""``teacher:PATH``: a trained local teacher (LLM + dense head) as a scorer."""

from __future__ import annotations

from typing import Sequence

from training.data.hits import Candidate


class TeacherScorer:
    def __init__(self, folder: str, batch_size: int = 16):
        from training.teacher.dense import DenseTeacher

        self.teacher = DenseTeacher(folder, batch_size=batch_size)
        self.name = f"teacher:{folder}"

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        return self.teacher.score(query, [c.text for c in candidates])


def make(arg: str | None, batch_size: int) -> TeacherScorer:
    if not arg:
        raise ValueError("teacher scorer needs a teacher folder: teacher:artifacts/teacher/sft")
    return TeacherScorer(arg, batch_size=min(batch_size, 16))
