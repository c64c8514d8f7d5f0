"""Teacher label files -> per-query candidate groups for the student.

Label format: ``training.labels.schema`` (JSON Lines, one query a line; per candidate a
``teacher_score`` (or null), a 1-based ``teacher_rank`` (null = left out by the LLM) and
``hard_negative``).

A training example is a *group*: one query with ``group_size`` of its candidates (one from the
teacher's top, the rest drawn from the others, at least ``hard_negatives`` of them left out by the
LLM when there are such), so the pairwise and list-wise losses compare documents of one query.
Groups are drawn from a generator seeded with (seed, epoch): an epoch's plan can be rebuilt
exactly, which is what makes mid-epoch resume possible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from training.labels import schema
from training.labels.schema import LabeledCandidate, LabeledQuery


def teacher_order(q: LabeledQuery) -> list[LabeledCandidate]:
    """The teacher's order: the LLM's permutation, then the left-out ones by point score."""
    def key(c: LabeledCandidate):
        score = -c.teacher_score if c.teacher_score is not None else float("inf")
        return (0, c.teacher_rank, score) if c.teacher_rank is not None else (1, 0, score)
    return sorted(q.candidates, key=key)


def rank_labels(q: LabeledQuery) -> dict[str, float]:
    """Grades for teacher-agreement metrics: ``n + 1 - rank`` for the n documents the LLM ranked,
    0 for the hard negatives it left out (below every ranked one)."""
    n = sum(c.teacher_rank is not None for c in q.candidates)
    return {c.docid: (float(n + 1 - c.teacher_rank) if c.teacher_rank is not None else 0.0) for c in q.candidates}


def read_labels(paths: Sequence[str | Path]) -> list[LabeledQuery]:
    """All queries of all files; a qid seen twice keeps its first record (files given first win)."""
    seen: dict[str, LabeledQuery] = {}
    for p in paths:
        for q in schema.iter_labels(p):
            seen.setdefault(q.qid, q)
    return list(seen.values())


def split_validation(queries: list[LabeledQuery], fraction: float) -> tuple[list[LabeledQuery], list[LabeledQuery]]:
    """Hold out about ``fraction`` of the queries, chosen by a hash of the qid (stable across runs
    and label files) -> (train, validation)."""
    if fraction <= 0:
        return queries, []
    def held(q: LabeledQuery) -> bool:
        h = int(hashlib.sha1(q.qid.encode()).hexdigest()[:8], 16)
        return h / 0xFFFFFFFF < fraction
    val = [q for q in queries if held(q)]
    train = [q for q in queries if not held(q)]
    if not train:  # tiny label files: keep at least one training query
        train, val = val[:1], val[1:]
    return train, val


@dataclass
class Group:
    query: str
    candidates: list[LabeledCandidate]


def sample_group(q: LabeledQuery, group_size: int, rng: np.random.Generator,
                 top_pool: int = 3, hard_negatives: int = 1) -> Group:
    """One positive-ish candidate from the teacher's top ``top_pool``, then ``group_size - 1`` others
    (at least ``hard_negatives`` left-out ones when available), in random order after the first."""
    ordered = teacher_order(q)
    if len(ordered) <= group_size:
        return Group(q.query, ordered)
    first = int(rng.integers(min(top_pool, len(ordered))))
    rest = [c for i, c in enumerate(ordered) if i != first]
    hard = [i for i, c in enumerate(rest) if c.hard_negative]
    k_hard = min(hard_negatives, len(hard), group_size - 1)
    chosen = list(rng.choice(hard, size=k_hard, replace=False)) if k_hard else []
    others = [i for i in range(len(rest)) if i not in set(chosen)]
    chosen += list(rng.choice(others, size=group_size - 1 - k_hard, replace=False))
    return Group(q.query, [ordered[first]] + [rest[int(i)] for i in chosen])


def epoch_plan(queries: list[LabeledQuery], epoch: int, seed: int, group_size: int, batch_size: int,
               groups_per_query: int = 1, hard_negatives: int = 1) -> list[list[Group]]:
    """The batches of one epoch (each a list of ``batch_size`` groups), a pure function of its args."""
    rng = np.random.default_rng([seed, epoch])
    groups = [sample_group(q, group_size, rng, hard_negatives=hard_negatives)
              for _ in range(groups_per_query) for q in queries]
    order = rng.permutation(len(groups))
    groups = [groups[i] for i in order]
    return [groups[i : i + batch_size] for i in range(0, len(groups), batch_size)]


def collate(groups: Iterable[Group], encoder) -> dict:
    """Encode a batch of groups into flat [B*G, L] inputs plus [B, G] targets.

    ``teacher`` holds teacher scores (0 where missing), ``scored`` marks entries with a teacher
    score, ``labels`` RankNet grades from the teacher's permutation, ``mask`` real (non-padding)
    entries. Groups shorter than the longest are padded with empty pairs that are masked out.
    """
    import torch

    groups = list(groups)
    g = max(len(gr.candidates) for gr in groups)
    pairs, teacher, scored, labels, mask = [], [], [], [], []
    for gr in groups:
        n = len(gr.candidates)
        grades = _grades(gr)
        pairs += [(gr.query, c.text) for c in gr.candidates] + [(gr.query, "")] * (g - n)
        teacher.append([c.teacher_score or 0.0 for c in gr.candidates] + [0.0] * (g - n))
        scored.append([c.teacher_score is not None for c in gr.candidates] + [False] * (g - n))
        labels.append(grades + [0.0] * (g - n))
        mask.append([True] * n + [False] * (g - n))
    enc = encoder.encode_pairs(pairs)
    batch = {k: torch.from_numpy(v) for k, v in enc.items()}
    batch.update(
        teacher=torch.tensor(teacher, dtype=torch.float32), scored=torch.tensor(scored),
        labels=torch.tensor(labels, dtype=torch.float32), mask=torch.tensor(mask),
        shape=(len(groups), g),
    )
    return batch


def _grades(group: Group) -> list[float]:
    # Within a group only the order matters: earlier in the teacher's order = higher grade;
    # every hard negative shares grade 0 (the LLM did not order them among themselves).
    ordered_ranked = sorted((c.teacher_rank, i) for i, c in enumerate(group.candidates) if c.teacher_rank is not None)
    grades = [0.0] * len(group.candidates)
    for pos, (_, i) in enumerate(ordered_ranked):
        grades[i] = float(len(ordered_ranked) - pos)
    return grades


def teacher_score_stats(queries: Iterable[LabeledQuery]) -> tuple[float | None, float | None]:
    """Mean and standard deviation of the teacher scores (None, None without any)."""
    scores = [c.teacher_score for q in queries for c in q.candidates if c.teacher_score is not None]
    if not scores:
        return None, None
    std = float(np.std(scores))
    return float(np.mean(scores)), (std if std > 0 else 1.0)
