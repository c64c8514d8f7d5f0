"""What each teacher stage optimises, for one micro-batch of example indices.

- ``cpt`` (DisRanker §3.2): generate a judged-relevant document from its query,
  ``<bos> query: q document: <doc> <eos>`` with the loss on the document tokens only.
- ``sft`` (DisRanker §3.3): score = Dense(h_<eos>); pairwise hinge with margin T between the
  positive and every negative of a group (or RankNet over the group's grades).
- ``rra-gpt`` (RRADistill): L = w_gen * L_gen + w_rank * L_RankNet + w_clf * L_clf on the same
  backbone and head. L_clf: BCE on the generative yes/no logit (logit("yes") - logit("no")) read at
  the <eos> position, target = judged relevant. L_gen: ``document`` = the CPT objective on the
  group's positive (default), or ``reason`` = a short templated reason appended after the <eos>
  (" yes, it mentions a, b." / " no."); causal attention keeps it out of the score's state.
  Setting a weight to 0 removes that term (and its compute): that is the ablation switch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from training import losses
from training.teacher.data import Group, GroupSampler
from training.teacher.model import NO, YES, DenseHeadRanker, PairEncoder

_WORD = re.compile(r"[a-z0-9]+")
_STOP = set("a an and are as at be by for from has have how in is it its of on or that the this to was "
            "were what when where which who why will with does do did can not no yes".split())


@dataclass
class LossWeights:
    gen: float = 1.0
    rank: float = 1.0
    clf: float = 1.0


def reason_text(query: str, doc: str, relevant: bool, max_terms: int = 4) -> str:
    """A short, checkable reason: the query's content words that the document contains."""
    if not relevant:
        return " no."
    doc_words = set(_WORD.findall(doc.lower()))
    shared = [w for w in dict.fromkeys(_WORD.findall(query.lower())) if w not in _STOP and w in doc_words]
    return f" yes, it mentions {', '.join(shared[:max_terms])}." if shared else " yes."


class Objective:
    def __init__(self, stage: str, model: DenseHeadRanker, encoder: PairEncoder, sampler: GroupSampler,
                 loss: str = "margin", margin: float = losses.DISRANKER_MARGIN,
                 weights: LossWeights | None = None, gen_target: str = "document"):
        if stage not in ("cpt", "sft", "rra-gpt"):
            raise ValueError(f"unknown stage {stage!r}")
        if loss not in ("margin", "ranknet"):
            raise ValueError(f"unknown rank loss {loss!r}")
        if gen_target not in ("document", "reason"):
            raise ValueError(f"unknown generation target {gen_target!r}")
        self.stage, self.model, self.enc, self.sampler = stage, model, encoder, sampler
        self.loss, self.margin, self.w, self.gen_target = loss, margin, weights or LossWeights(), gen_target
        tok = encoder.tok
        self.yes_id = tok.encode(YES, add_special_tokens=False)[0]
        self.no_id = tok.encode(NO, add_special_tokens=False)[0]

    def __call__(self, indices: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        if self.stage == "cpt":
            loss = self._gen_documents([self.sampler.positive_pair(i) for i in indices])
            return loss, {"gen": loss.item()}
        groups = [self.sampler.group(i) for i in indices]
        if self.stage == "sft":
            loss = self._rank_loss(groups, *self._score(groups)[:1])
            return loss, {"rank": loss.item()}
        return self._rra(groups)

    # -- pieces -----------------------------------------------------------------------------
    def _gen_documents(self, pairs: list[tuple[str, str]]) -> torch.Tensor:
        """Causal LM loss on the document tokens after ``query: q document:``."""
        seqs, labels = [], []
        for query, doc in pairs:
            prompt = self.enc.prompt_ids(query)
            target = self.enc._ids(" " + doc)[: max(1, self.enc.max_length - len(prompt) - 1)] + [self.enc.eos]
            seqs.append(prompt + target)
            labels.append([-100] * len(prompt) + target)
        ids, mask, _, lab = self.enc.batch(seqs, labels)
        hidden = self.model.hidden(ids, mask)
        # project only the positions that predict a target token (the vocabulary is 49k wide)
        keep = (lab[:, 1:] != -100)
        return losses.token_nll_loss(self.model.lm_logits(hidden[:, :-1][keep]), lab[:, 1:][keep])

    def _score(self, groups: list[Group], reasons: bool = False):
        seqs, labels = [], []
        for g in groups:
            for doc, y in zip(g.docs, g.labels):
                if reasons:
                    target = self.enc._ids(reason_text(g.query, doc, y > 0))
                    pair = self.enc.pair_ids(g.query, doc, reserve=len(target))
                    seqs.append(pair + target)
                    labels.append([-100] * len(pair) + target)
                else:
                    seqs.append(self.enc.pair_ids(g.query, doc))
        ids, mask, pos, lab = self.enc.batch(seqs, labels if reasons else None)
        hidden = self.model.hidden(ids, mask)
        scores = self.model.score_from_hidden(hidden, pos)
        return scores, hidden, pos, lab

    def _rank_loss(self, groups: list[Group], scores: torch.Tensor, ranknet: bool | None = None) -> torch.Tensor:
        n = len(groups[0].docs)
        if any(len(g.docs) != n for g in groups):
            raise ValueError("groups of one batch must have the same size")
        s = scores.view(len(groups), n)
        y = torch.tensor([g.labels for g in groups])
        if ranknet if ranknet is not None else self.loss == "ranknet":
            return losses.ranknet_loss(s, y)
        # hinge between the positive (index 0) and each negative
        return losses.pairwise_margin_loss(s[:, :1].expand(-1, n - 1), s[:, 1:], margin=self.margin)

    def _rra(self, groups: list[Group]) -> tuple[torch.Tensor, dict[str, float]]:
        reasons = self.w.gen > 0 and self.gen_target == "reason"
        scores, hidden, pos, lab = self._score(groups, reasons=reasons)
        logs: dict[str, float] = {}
        total = scores.new_zeros(())
        if self.w.rank > 0:
            l_rank = self._rank_loss(groups, scores, ranknet=True)   # RRA-GPT uses RankNet
            total = total + self.w.rank * l_rank
            logs["rank"] = l_rank.item()
        if self.w.clf > 0:
            rows = torch.arange(hidden.shape[0])
            h = hidden[rows, pos]
            # only two vocabulary rows are needed for the yes/no logit difference
            w = self.model.lm.lm_head.weight
            clf_logit = h @ (w[self.yes_id] - w[self.no_id])
            targets = torch.tensor([float(y > 0) for g in groups for y in g.labels])
            l_clf = losses.classification_bce_loss(clf_logit, targets)
            total = total + self.w.clf * l_clf
            logs["clf"] = l_clf.item()
        if self.w.gen > 0:
            if reasons:
                keep = lab[:, 1:] != -100
                l_gen = losses.token_nll_loss(self.model.lm_logits(hidden[:, :-1][keep]), lab[:, 1:][keep])
            else:
                l_gen = self._gen_documents([(g.query, g.docs[0]) for g in groups])
            total = total + self.w.gen * l_gen
            logs["gen"] = l_gen.item()
        return total, logs
