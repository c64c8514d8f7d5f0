"""Length-sorted micro-batches: rows of similar length go together so little compute is spent on
padding; each batch keeps the row numbers it came from, so scores go back in input order."""

from __future__ import annotations

import numpy as np


def plan_micro_batches(lengths: list[int], max_batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Row numbers grouped into batches of at most ``max_batch_size`` rows and at most
    ``max_batch_tokens`` padded tokens (rows x longest row). A row longer than the token budget
    still gets a batch of its own. Rows are taken shortest first."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for row in order:
        longest = lengths[row]  # ascending order: the newcomer is the longest so far
        if current and (len(current) >= max_batch_size or (len(current) + 1) * longest > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(row)
    if current:
        batches.append(current)
    return batches


def pad_rows(
    input_ids: list[list[int]], token_type_ids: list[list[int]], rows: list[int], pad_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` [len(rows), longest] for ``rows``."""
    width = max(len(input_ids[r]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    for k, r in enumerate(rows):
        n = len(input_ids[r])
        ids[k, :n] = input_ids[r]
        mask[k, :n] = 1
        types[k, :n] = token_type_ids[r]
    return ids, mask, types
