"""Ranking metrics. Standard ones through ir-measures (pytrec_eval semantics); PNR defined here.

Conventions:
- nDCG uses the graded judgments as gains (trec_eval's ``ndcg_cut``).
- MRR@10 and Recall@100 count a document as relevant when its grade >= ``rel_level``
  (2 on TREC DL, whose scale is 0..3; 1 on BEIR and NovelEval).
- Unjudged documents have grade 0.
"""

from __future__ import annotations

import math
from typing import Mapping

import ir_measures
from ir_measures import RR, R, nDCG

Run = Mapping[str, Mapping[str, float]]      # qid -> docid -> score
Qrels = Mapping[str, Mapping[str, int]]      # qid -> docid -> grade

METRIC_KEYS = ("ndcg@5", "ndcg@10", "mrr@10", "recall@100", "pnr")


def auto_rel_level(qrels: Qrels) -> int:
    """2 for TREC DL's 0..3 scale, else 1 (BEIR, NovelEval)."""
    top = max((g for docs in qrels.values() for g in docs.values()), default=1)
    return 2 if top >= 3 else 1


def pnr_counts(labels: list[int], scores: list[float]) -> tuple[float, float]:
    """Concordant and discordant pair counts over pairs with different labels.

    A pair (i, j) with y_i > y_j is concordant if s_i > s_j, discordant if s_i < s_j; a tie in
    score adds 0.5 to both sides (so a constant scorer gets PNR = 1).
    """
    conc = disc = 0.0
    n = len(labels)
    for i in range(n):
        for j in range(n):
            if labels[i] > labels[j]:
                if scores[i] > scores[j]:
                    conc += 1
                elif scores[i] < scores[j]:
                    disc += 1
                else:
                    conc += 0.5
                    disc += 0.5
    return conc, disc


def pnr(qrels: Qrels, run: Run) -> float:
    """DisRanker's Positive-Negative Ratio, pooled over all queries' candidate pairs:
    sum(concordant) / sum(discordant). ``inf`` when nothing is ranked wrong, ``nan`` with no pairs."""
    conc = disc = 0.0
    for qid, docs in run.items():
        if qid not in qrels:
            continue
        judged = qrels[qid]
        ids = list(docs)
        c, d = pnr_counts([judged.get(x, 0) for x in ids], [docs[x] for x in ids])
        conc += c
        disc += d
    if disc == 0:
        return math.inf if conc > 0 else math.nan
    return conc / disc


def evaluate_run(qrels: Qrels, run: Run, rel_level: int | None = None) -> dict[str, float]:
    """All project metrics for a run, averaged over the queries that are both judged and ranked."""
    level = auto_rel_level(qrels) if rel_level is None else rel_level
    measures = {
        "ndcg@5": nDCG @ 5,
        "ndcg@10": nDCG @ 10,
        "mrr@10": RR(rel=level) @ 10,
        "recall@100": R(rel=level) @ 100,
    }
    # Only queries both judged and ranked (trec_eval without -c): ir-measures would count a judged
    # query missing from the run as 0, so a --limit-queries run would be averaged over every query.
    run_d = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    qrels_d = {q: {d: int(g) for d, g in qrels[q].items()} for q in run_d}
    agg = ir_measures.calc_aggregate(list(measures.values()), qrels_d, run_d)
    out = {key: float(agg[m]) for key, m in measures.items()}
    out["pnr"] = pnr(qrels_d, run_d)
    out["queries"] = len(run_d)
    return out
