"""``rerank`` subcommands, one module each (see ``training.cli.COMMAND_MODULES``)."""

from __future__ import annotations


def parse_limits(items: list[str], keys: list[str]) -> dict[str, int]:
    """``[KEY=]N`` options: a bare N applies to every key, KEY=N to that one and wins over a bare N
    whatever their order on the command line."""
    limits: dict[str, int] = {}
    for item in items:
        if "=" not in item:
            limits |= dict.fromkeys(keys, int(item))
    for item in items:
        key, sep, value = item.rpartition("=")
        if sep:
            if not key or not value:
                raise ValueError(f"bad limit {item!r}: expected [KEY=]N")
            limits[key] = int(value)
    return limits
