"""The RRADistill label pipeline: pre-ranker -> top-k + bottom-k -> LLM teacher -> labels.

For each query:
1. the pre-ranker (any scorer SPEC: ``bm25`` = candidate order, ``bi-encoder``, later
   ``student:DIR`` / ``onnx:PATH``) scores the first ``pool`` candidates (paper: 50);
2. its ``top_k`` best and ``bottom_k`` worst are kept (paper: 10 + 10): clear positives and
   clear negatives, instead of a long middle the teacher would rank noisily;
3. the ranking teacher orders them (list-wise: a RankGPT sliding window; point-wise: by score).
   The documents a list-wise teacher leaves out of its answer become hard negatives;
4. the scoring teacher (point-wise) scores every kept document, because the student's hybrid
   loss (Point-MSE + Margin-MSE) needs scores, not only ranks. Without a separate scoring teacher
   a point-wise ranking teacher's own scores are recorded (one pass does both).

The kept documents are shown to the teacher in pre-ranker order (top-k best first, then the
bottom-k), which is the order RankGPT's window expects.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from training.data.hits import QueryCandidates
from training.labels.schema import LabeledCandidate, LabeledQuery, LabelWriter
from training.teacher.base import Ranking, Teacher, ranking_from_scores


_PRE_RANKER_LOCK = threading.Lock()


@dataclass
class LabelConfig:
    top_k: int = 10
    bottom_k: int = 10
    pool: int = 50
    workers: int = 1
    pre_ranker_spec: str = "bm25"
    source: str | None = None


@dataclass
class Summary:
    queries: int = 0
    skipped: int = 0          # already in the output (resume)
    failed: int = 0
    docs: int = 0
    hard_negatives: int = 0
    seconds: float = 0.0
    teacher_calls: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"errors": self.errors[:10]}

    def __str__(self) -> str:
        calls = "; ".join(f"{role} " + ", ".join(f"{k}={v}" for k, v in st.items())
                          for role, st in self.teacher_calls.items())
        return (f"labeled {self.queries} queries ({self.skipped} already done, {self.failed} failed): "
                f"{self.docs} documents, {self.hard_negatives} hard negatives, {self.seconds:.1f}s"
                + (f"; teacher calls: {calls}" if calls else ""))


def select_pool(pre_scores: Sequence[float], top_k: int, bottom_k: int) -> list[int]:
    """Indices of the ``top_k`` best and ``bottom_k`` worst by pre-ranker score, best first.
    A list no longer than top_k + bottom_k is kept whole."""
    order = sorted(range(len(pre_scores)), key=lambda i: -pre_scores[i])
    if len(order) <= top_k + bottom_k:
        return order
    return order[:top_k] + (order[-bottom_k:] if bottom_k > 0 else [])


def label_query(qc: QueryCandidates, pre_ranker, ranker: Teacher, scorer: Teacher | None,
                cfg: LabelConfig) -> LabeledQuery:
    cands = qc.candidates[: cfg.pool]
    with _PRE_RANKER_LOCK:  # scorers hold one model; workers exist for slow API teachers
        pre_scores = pre_ranker.score(qc.query, cands)
    pre_rank = {i: r + 1 for r, i in enumerate(sorted(range(len(cands)), key=lambda i: -pre_scores[i]))}
    keep = select_pool(pre_scores, cfg.top_k, cfg.bottom_k)
    docs = [cands[i].text for i in keep]

    scores: list[float] | None = None
    if ranker.info.kind == "pointwise":
        scores = ranker.score(qc.query, docs)
        ranking: Ranking = ranking_from_scores(scores)
    else:
        ranking = ranker.rank(qc.query, docs)
    if scorer is not None and scorer is not ranker:
        scores = scorer.score(qc.query, docs)   # the scoring teacher's scores are the ones recorded

    ranks = ranking.rank_of()
    omitted = set(ranking.omitted)
    out = []
    for pos in ranking.order:
        c = cands[keep[pos]]
        out.append(LabeledCandidate(
            docid=c.docid, text=c.text,
            teacher_score=None if scores is None else float(scores[pos]),
            teacher_rank=ranks.get(pos), hard_negative=pos in omitted,
            pre_score=float(pre_scores[keep[pos]]), pre_rank=pre_rank[keep[pos]],
        ))
    teacher = ranker.info.as_dict()
    if scorer is not None and scorer is not ranker:
        teacher["scorer"] = scorer.info.as_dict()
    return LabeledQuery(
        qid=qc.qid, query=qc.query, candidates=out, teacher=teacher, source=cfg.source,
        pre_ranker={"spec": cfg.pre_ranker_spec, "top_k": cfg.top_k, "bottom_k": cfg.bottom_k, "pool": cfg.pool},
    )


def run_labeling(queries: Iterable[QueryCandidates], out, pre_ranker, ranker: Teacher, scorer: Teacher | None,
                 cfg: LabelConfig, done: set[str] | None = None, progress: bool = True) -> Summary:
    """Label every query not in ``done``; each record is appended (and fsynced) as it finishes."""
    from tqdm import tqdm

    summary = Summary()
    done = done or set()
    todo = []
    for qc in queries:
        if qc.qid in done:
            summary.skipped += 1
        else:
            todo.append(qc)
    started = time.time()
    lock = threading.Lock()
    bar = tqdm(total=len(todo), desc=f"labeling ({ranker.info.name})", unit="q", disable=not progress)

    def record(result: LabeledQuery) -> None:
        with lock:
            writer.write(result)
            summary.queries += 1
            summary.docs += len(result.candidates)
            summary.hard_negatives += sum(c.hard_negative for c in result.candidates)
            bar.update(1)

    def fail(qc: QueryCandidates, exc: Exception) -> None:
        with lock:
            summary.failed += 1
            summary.errors.append(f"{qc.qid}: {type(exc).__name__}: {exc}")
            bar.update(1)

    with LabelWriter(out) as writer:
        if cfg.workers <= 1:
            for qc in todo:
                try:
                    record(label_query(qc, pre_ranker, ranker, scorer, cfg))
                except Exception as exc:  # one bad query must not lose the others; reported in the summary
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    fail(qc, exc)
        else:
            with ThreadPoolExecutor(cfg.workers) as pool:
                futures = {pool.submit(label_query, qc, pre_ranker, ranker, scorer, cfg): qc for qc in todo}
                for fut in as_completed(futures):
                    try:
                        record(fut.result())
                    except Exception as exc:
                        fail(futures[fut], exc)
    bar.close()
    summary.seconds = time.time() - started
    for role, teacher in (("ranker", ranker), ("scorer", scorer)):
        stats = getattr(teacher, "stats", None)
        if callable(stats) and (role == "ranker" or teacher is not ranker):
            summary.teacher_calls[role] = stats()
    return summary
