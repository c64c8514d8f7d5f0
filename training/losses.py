"""Every loss of the project, as small pure torch functions (scores in, scalar out).

Conventions: higher score = more relevant; ``mask`` marks real list entries (True) vs padding;
every function reduces to the mean over the terms that count, so values do not scale with the
batch or list size. Used by the teacher (SFT, RRA-GPT) and the student (distillation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DISRANKER_MARGIN = 0.1   # T in DisRanker §3.3
DISRANKER_BETA = 0.4     # beta in DisRanker §3.4


def pairwise_margin_loss(pos: torch.Tensor, neg: torch.Tensor, margin: float = DISRANKER_MARGIN) -> torch.Tensor:
    """DisRanker's pairwise rank loss (SFT of the LLM teacher), standard hinge form:

        L = mean( max(0, T - (f(q, d+) - f(q, d-))) ),   T = 0.1

    The paper prints ``Max(0, f(q,d+) - f(q,d-), T)``, which is garbled (it would reward a wrong
    order); this is the usual margin ranking loss it describes: zero once d+ leads d- by T.
    ``pos`` and ``neg`` have the same shape (one entry per (q, d+, d-) triple).
    """
    return torch.clamp(margin - (pos - neg), min=0).mean()


def labels_from_ranking(ranking: torch.Tensor, num_docs: int | None = None) -> torch.Tensor:
    """Graded labels from a ranking: ``ranking[b, r]`` is the index of the document at rank r
    (best first). The document at rank r gets label ``n - r``; documents absent from the ranking
    (index -1 padding, or never listed) get 0, i.e. below every ranked one.
    """
    ranking = torch.as_tensor(ranking)
    if ranking.dim() == 1:
        ranking = ranking.unsqueeze(0)
    b, n = ranking.shape
    num_docs = num_docs or n
    labels = torch.zeros(b, num_docs, dtype=torch.float32)
    ranks = torch.arange(n, 0, -1, dtype=torch.float32).expand(b, n)
    valid = ranking >= 0
    rows = torch.arange(b).unsqueeze(1).expand(b, n)
    labels[rows[valid], ranking[valid]] = ranks[valid]
    return labels


def ranknet_loss(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    sigma: float = 1.0,
) -> torch.Tensor:
    """RankNet (Burges et al. 2005): pairwise logistic loss over every ordered pair (i, j) of one
    list with ``labels_i > labels_j``:

        L = sum_{i,j: y_i > y_j} w_ij * log(1 + exp(-sigma * (s_i - s_j))) / sum_{i,j: y_i > y_j} w_ij

    ``scores``/``labels``: (B, N) or (N,). Labels are grades, teacher scores, or
    ``labels_from_ranking(permutation)``. ``weights``: optional (B, N, N) pair weights
    (e.g. |delta nDCG|). Returns 0 (with grad) when a batch holds no ordered pair.
    """
    if scores.dim() == 1:
        scores, labels = scores.unsqueeze(0), labels.unsqueeze(0)
        mask = mask.unsqueeze(0) if mask is not None else None
        weights = weights.unsqueeze(0) if weights is not None else None
    labels = labels.to(scores.dtype)
    pair = labels.unsqueeze(2) > labels.unsqueeze(1)                     # (B, N, N): i beats j
    if mask is not None:
        pair = pair & mask.unsqueeze(2) & mask.unsqueeze(1)
    w = pair.to(scores.dtype) if weights is None else pair.to(scores.dtype) * weights
    diff = scores.unsqueeze(2) - scores.unsqueeze(1)                     # s_i - s_j
    terms = F.softplus(-sigma * diff)                                    # log(1 + exp(-sigma*diff)), stable
    denom = w.sum()
    if denom <= 0:
        return (scores * 0).sum()
    return (terms * w).sum() / denom


def point_mse_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Point-MSE (Qin et al. 2021; DisRanker §3.4): the student regresses the teacher's score.

        L = mean_i (S(q, d_i) - T(q, d_i))^2

    DisRanker writes it for a triple as MSE(T(d+), S(d+)) + MSE(T(d-), S(d-)); with lists this is
    the mean over every (masked-in) document.
    """
    err = (student - teacher.to(student.dtype)) ** 2
    if mask is None:
        return err.mean()
    m = mask.to(student.dtype)
    return (err * m).sum() / m.sum().clamp(min=1)


def margin_mse_loss(
    student_pos: torch.Tensor, student_neg: torch.Tensor, teacher_pos: torch.Tensor, teacher_neg: torch.Tensor
) -> torch.Tensor:
    """Margin-MSE (Hofstätter et al. 2020): match the teacher's margin, not its scale.

        L = mean( ((S(q,d+) - S(q,d-)) - (T(q,d+) - T(q,d-)))^2 )
    """
    return (((student_pos - student_neg) - (teacher_pos - teacher_neg).to(student_pos.dtype)) ** 2).mean()


def hybrid_distill_loss(
    student_pos: torch.Tensor,
    student_neg: torch.Tensor,
    teacher_pos: torch.Tensor,
    teacher_neg: torch.Tensor,
    beta: float = DISRANKER_BETA,
) -> torch.Tensor:
    """DisRanker's hybrid distillation loss (§3.4), beta = 0.4:

        L_point  = MSE(T(d+), S(d+)) + MSE(T(d-), S(d-))
        L_margin = MSE(S(d+) - S(d-), T(d+) - T(d-))
        L        = L_point + beta * L_margin
    """
    point = point_mse_loss(student_pos, teacher_pos) + point_mse_loss(student_neg, teacher_neg)
    return point + beta * margin_mse_loss(student_pos, student_neg, teacher_pos, teacher_neg)


def listwise_margin_mse_loss(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Margin-MSE over every ordered pair of a list (i != j), for labels that come as lists:

        L = mean_{i != j} ((S_i - S_j) - (T_i - T_j))^2

    With a list of two (d+, d-) it equals ``margin_mse_loss``.
    """
    if student.dim() == 1:
        student, teacher = student.unsqueeze(0), teacher.unsqueeze(0)
        mask = mask.unsqueeze(0) if mask is not None else None
    teacher = teacher.to(student.dtype)
    ds = student.unsqueeze(2) - student.unsqueeze(1)
    dt = teacher.unsqueeze(2) - teacher.unsqueeze(1)
    n = student.shape[1]
    pair = ~torch.eye(n, dtype=torch.bool, device=student.device).expand(student.shape[0], n, n)
    if mask is not None:
        pair = pair & mask.unsqueeze(2) & mask.unsqueeze(1)
    w = pair.to(student.dtype)
    return (((ds - dt) ** 2) * w).sum() / w.sum().clamp(min=1)


def hybrid_list_distill_loss(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None, beta: float = DISRANKER_BETA
) -> torch.Tensor:
    """The hybrid loss on lists: ``point_mse_loss + beta * listwise_margin_mse_loss``.

        L = mean_i (S_i - T_i)^2 + beta * mean_{i != j} ((S_i - S_j) - (T_i - T_j))^2
    """
    return point_mse_loss(student, teacher, mask) + beta * listwise_margin_mse_loss(student, teacher, mask)


def classification_bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, pos_weight: float | None = None
) -> torch.Tensor:
    """Relevance classification (RRA-GPT's L_clf): binary cross-entropy on a relevance logit z
    with target y in {0, 1} (or a soft label in [0, 1]):

        L = mean( -[w_+ * y * log sigmoid(z) + (1 - y) * log(1 - sigmoid(z))] )
    """
    pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=pw)


def token_nll_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Generation loss on already-selected target positions (RRA-GPT's L_gen; continued pre-training):

        L = - (1 / |T|) * sum_{t in T} log p(x_t | x_<t)

    ``logits``: (T, V), the predictions for the target tokens ``targets``: (T,). Selecting the
    positions before the vocabulary projection saves most of its cost (49k-wide for SmolLM2).
    """
    if targets.numel() == 0:
        return (logits * 0).sum()
    return F.cross_entropy(logits.float(), targets)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """``token_nll_loss`` over full sequences: ``logits`` (B, L, V) for the input ids, ``labels``
    (B, L) aligned with the input (``ignore_index`` where there is no target); the shift by one
    happens here.
    """
    shift_labels = labels[:, 1:]
    keep = shift_labels != ignore_index
    return token_nll_loss(logits[:, :-1, :][keep], shift_labels[keep])
