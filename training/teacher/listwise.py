"""RankGPT-style list-wise ranking: the permutation prompt, a forgiving parser, the sliding window.

Prompt (Sun et al. 2023, "Is ChatGPT good at search?"): a system line, the query, each passage as
its own ``[i] text`` turn acknowledged by the assistant, and a closing instruction asking for
``[2] > [1] > ...``. The teacher server recognises exactly this shape (``parse_prompt``).

Parsing (``parse_permutation``) accepts any string: identifiers are read from ``[n]`` if the answer
has any, else from bare numbers; out-of-range (invented) and repeated ids are dropped; ids the
model never mentioned are *omitted* (RRADistill's hard negatives) and appended in input order so
the result is always a full permutation.

Sliding window: windows of ``window`` passages move from the bottom of the list to the top by
``step`` (RankGPT's default 20 / 10), each window re-ordered in place, so strong passages bubble
up. Unlike RankGPT's loop, the last window always reaches the top of the list even when
(n - window) is not a multiple of ``step``. A passage counts as omitted if the model left it out of
any window that contained it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

SYSTEM = "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
_BRACKET = re.compile(r"\[\s*(\d+)\s*\]")
_NUMBER = re.compile(r"\d+")
_PASSAGE = re.compile(r"^\[(\d+)\]\s?(.*)$", re.S)
_QUERY_LAST = re.compile(r"^Search Query:\s?(.*?)\.\s*\nRank the \d+ passages above", re.S)
_QUERY_FIRST = re.compile(r"relevance to query:\s?(.*?)\.?\s*$", re.S)


def build_messages(query: str, passages: Sequence[str], max_words: int = 300) -> list[dict]:
    """The RankGPT permutation prompt for ``passages`` (identifiers 1..n)."""
    n = len(passages)
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"I will provide you with {n} passages, each indicated by number identifier []. \n"
                                    f"Rank the passages based on their relevance to query: {query}."},
        {"role": "assistant", "content": "Okay, please provide the passages."},
    ]
    for i, text in enumerate(passages, 1):
        words = " ".join(text.strip().split()[:max_words])
        messages.append({"role": "user", "content": f"[{i}] {words}"})
        messages.append({"role": "assistant", "content": f"Received passage [{i}]."})
    messages.append({"role": "user", "content": (
        f"Search Query: {query}. \nRank the {n} passages above based on their relevance to the search query. "
        "The passages should be listed in descending order using identifiers. The most relevant passages should "
        "be listed first. The output format should be [] > [], e.g., [1] > [2]. Only response the ranking results, "
        "do not say any word or explain.")})
    return messages


def parse_prompt(messages: Sequence[dict]) -> tuple[str, list[str]] | None:
    """(query, passages) if ``messages`` is a permutation prompt of this shape, else None."""
    passages: dict[int, str] = {}
    query = None
    for m in messages:
        if m.get("role") != "user" or not isinstance(m.get("content"), str):
            continue
        content = m["content"]
        hit = _PASSAGE.match(content)
        if hit:
            passages[int(hit.group(1))] = hit.group(2)
            continue
        q = _QUERY_LAST.match(content) or (query is None and _QUERY_FIRST.search(content))
        if q:
            query = q.group(1).strip()
    if query is None or not passages or sorted(passages) != list(range(1, len(passages) + 1)):
        return None
    return query, [passages[i] for i in range(1, len(passages) + 1)]


@dataclass
class Parsed:
    ranked: list[int]     # 0-based ids in the model's order, deduplicated, in range
    omitted: list[int]    # 0-based ids the model did not mention, in input order

    @property
    def permutation(self) -> list[int]:
        return self.ranked + self.omitted


def parse_permutation(text: str, n: int) -> Parsed:
    """Any string -> a valid permutation of ``range(n)`` (see the module docstring)."""
    text = text if isinstance(text, str) else ""
    found = _BRACKET.findall(text) or _NUMBER.findall(text)
    seen: set[int] = set()
    ranked: list[int] = []
    for raw in found:
        if len(raw) > 6:   # absurd ids; also avoids int() on a thousand-digit string
            continue
        idx = int(raw) - 1
        if 0 <= idx < n and idx not in seen:
            seen.add(idx)
            ranked.append(idx)
    return Parsed(ranked, [i for i in range(n) if i not in seen])


def format_permutation(order: Sequence[int]) -> str:
    """0-based order -> ``[3] > [1] > [2]``."""
    return " > ".join(f"[{i + 1}]" for i in order)


def windows(n: int, window: int = 20, step: int = 10) -> list[tuple[int, int]]:
    """[start, end) windows from the bottom of a list of n to its top; the last starts at 0."""
    if n <= 0:
        return []
    if window <= 0 or step <= 0:
        raise ValueError("window and step must be positive")
    out = []
    end = n
    while True:
        start = max(0, end - window)
        out.append((start, end))
        if start == 0:
            return out
        end -= step


def sliding_window_rank(
    n: int, rank_window: Callable[[list[int]], Parsed], window: int = 20, step: int = 10
) -> tuple[list[int], set[int]]:
    """Re-order ``range(n)`` window by window. ``rank_window(ids)`` ranks the documents ``ids``
    (their positions 0..len-1 in the prompt) and returns a ``Parsed``. Returns (order, omitted)."""
    order = list(range(n))
    omitted: set[int] = set()
    for start, end in windows(n, window, step):
        ids = order[start:end]
        parsed = rank_window(ids)
        order[start:end] = [ids[i] for i in parsed.permutation]
        omitted |= {ids[i] for i in parsed.omitted}
    return order, omitted
