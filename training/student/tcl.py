"""Term Control Layer (TCL): a training-only head that injects a term-matching signal.

RRADistill's poster says the TCL injects "signals from selected tokens ... into the training
process, allowing the model to focus on key terms while preserving the overall semantic context",
and that it "can be omitted during inference without any performance degradation". How it does
that is not published; this is the design used here.

Scores (per query/document pair)::

    s_cls   = head([CLS])                        the served score (BertForSequenceClassification)
    s_term  = TCL(selected token states, match statistics)
    s_fused = stopgrad(s_cls) + s_term           the TCL's own score: [CLS] plus a term correction

Loss (``objective.student_loss``)::

    L = L_distill(s_cls) + alpha * L_distill(s_fused) + gamma * MSE(s_cls, stopgrad(s_fused))

Why dropping it at inference is principled:

1. **The served score never reads the TCL.** ``s_cls`` is computed from [CLS] alone, in training
   exactly as at inference, so removing the TCL changes no served number: there is no train/serve
   mismatch to "lose". The TCL only changes which weights the encoder learns.
2. **What the TCL learns is a residual.** Because ``s_cls`` enters ``s_fused`` under stop-gradient,
   ``L_distill(s_fused)`` trains the TCL, and through the selected tokens' final states the
   encoder, to explain what [CLS] still misses about the teacher, using only key-term evidence.
   Its gradient reaches the encoder only through the matched document tokens, so lower layers are
   pushed to carry relevance evidence on key terms, which [CLS] reads through attention.
3. **The consistency term hands that signal to [CLS].** ``MSE(s_cls, stopgrad(s_fused))`` has the
   gradient ``-2 * s_term`` on ``s_cls``: [CLS] moves toward the term-corrected score, which in turn
   shrinks the residual ``s_term``. At the fixed point ``s_term ~ 0`` and ``s_fused ~ s_cls``, so the
   "TCL kept" score and the served score agree. ``tcl_gap = mean |s_term|`` is logged to show it.
4. The last TCL layer is zero-initialised, so at step 0 ``s_fused == s_cls`` exactly.

The three-way ablation (trained without TCL / trained with TCL, served without it / TCL kept at
inference, i.e. ``s_fused``) is run with ``rerank suite`` over ``student:DIR`` and
``student-tcl:DIR`` (see docs/student.md).

Architecture: LayerNorm over the final hidden states; attention pooling over the selected
document tokens (a learned scoring vector plus ``log(similarity)``, so exact matches weigh more
than near-synonyms); a learned "no match" vector when nothing is selected; then an MLP over
[pooled term vector; query coverage; log(1 + selected count); mean selected similarity].
"""

from __future__ import annotations

import torch
from torch import nn

from training.student.token_selection import Selection

NUM_MATCH_FEATURES = 3


class TermControlLayer(nn.Module):
    def __init__(self, hidden_size: int, tcl_hidden: int = 128):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.attention = nn.Linear(hidden_size, 1)
        self.no_match = nn.Parameter(torch.zeros(hidden_size))
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size + NUM_MATCH_FEATURES, tcl_hidden), nn.GELU(), nn.Linear(tcl_hidden, 1)
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, hidden: torch.Tensor, selection: Selection) -> torch.Tensor:
        """``hidden``: final hidden states [B, L, H]; returns the term score ``s_term`` [B]."""
        h = self.norm(hidden)
        selected = selection.selected
        logits = self.attention(h).squeeze(-1) + torch.log(selection.weight.clamp(min=1e-6))
        logits = logits.masked_fill(~selected, torch.finfo(logits.dtype).min)
        any_selected = selected.any(dim=1, keepdim=True)
        attn = torch.softmax(logits, dim=-1) * selected.to(h.dtype)  # rows without a match -> all zero
        pooled = torch.einsum("bl,blh->bh", attn, h)
        pooled = torch.where(any_selected, pooled, self.no_match.expand_as(pooled))
        n = selection.num_selected.to(h.dtype)
        mean_sim = (selection.weight.to(h.dtype) * selected).sum(1) / n.clamp(min=1)
        features = torch.stack([selection.coverage.to(h.dtype), torch.log1p(n), mean_sim], dim=-1)
        return self.mlp(torch.cat([pooled, features], dim=-1)).squeeze(-1)
