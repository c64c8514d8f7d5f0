"""The student's training loss for one batch of groups, built from ``training.losses``.

Distillation loss ``L_distill`` (``--loss``), computed per query group over its candidates:

- ``hybrid``  (default, DisRanker): Point-MSE + 0.4 * Margin-MSE over every in-group pair
- ``point``   Point-MSE on the teacher's point-wise scores
- ``margin``  Margin-MSE over every in-group pair
- ``ranknet`` RankNet over the teacher's permutation (hard negatives below every ranked document)

The MSE losses only use candidates that carry a teacher score. With the TCL (see ``tcl``)::

    L = L_distill(s_cls) + alpha * L_distill(s_fused) + gamma * MSE(s_cls, stopgrad(s_fused))
"""

from __future__ import annotations

import torch

from training import losses
from training.student.config import TCLConfig
from training.student.model import StudentOutput

LOSSES = ("hybrid", "point", "margin", "ranknet")


def distill_loss(name: str, scores: torch.Tensor, batch: dict) -> torch.Tensor:
    """``scores``: [B, G] student scores of a batch of groups."""
    teacher, scored, mask = batch["teacher"], batch["scored"] & batch["mask"], batch["mask"]
    if name == "hybrid":
        return losses.hybrid_list_distill_loss(scores, teacher, scored, beta=losses.DISRANKER_BETA)
    if name == "point":
        return losses.point_mse_loss(scores, teacher, scored)
    if name == "margin":
        return losses.listwise_margin_mse_loss(scores, teacher, scored)
    if name == "ranknet":
        return losses.ranknet_loss(scores, batch["labels"], mask)
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")


def student_loss(out: StudentOutput, batch: dict, name: str, tcl: TCLConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (floats, for logging)."""
    shape = batch["shape"]
    main = distill_loss(name, out.score.view(shape), batch)
    parts = {"main": float(main.detach())}
    total = main
    if out.fused_score is not None:
        mask = batch["mask"]
        aux = distill_loss(name, out.fused_score.view(shape), batch)
        consistency = losses.point_mse_loss(out.score.view(shape), out.fused_score.detach().view(shape), mask)
        total = total + tcl.aux_weight * aux + tcl.consistency_weight * consistency
        m = mask.reshape(-1)
        parts |= {"tcl": float(aux.detach()), "consistency": float(consistency.detach()),
                  "tcl_gap": float(out.term_score.detach()[m].abs().mean())}
    parts["loss"] = float(total.detach())
    return total, parts
