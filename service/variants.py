"""A/B variants: which arm answers a request, and one ``RerankService`` (backend + tokenizer) per arm.

Assignment, in order (``choose_variant``; docs/ab-and-shadow.md):

1. ``X-Rerank-Variant: NAME`` names an arm explicitly (any configured arm, share 0 included); an
   unknown name is a 400;
2. else the first present header of ``variant_headers`` (default ``X-User-Id``, ``X-Session-Id``)
   is hashed: the same user lands in the same arm on every request, replica and restart;
3. else the request id is hashed (one request, one arm).

``bucket(salt, key) = int(sha256(f"{salt}:{key}")[:8 bytes], big-endian) mod 10000``; the arms
own consecutive ranges of the 10,000 buckets in the order the config lists them, each
``share * 100`` buckets wide. Only the salt, the key and the config decide: no process state.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Mapping

from service.settings import BACKEND_DEFAULTS, Settings, VariantConfig

BUCKETS = 10_000
VARIANT_HEADER = "x-rerank-variant"


def bucket(salt: str, key: str) -> int:
    digest = hashlib.sha256(f"{salt}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class UnknownVariantName(ValueError):
    pass


@dataclass(frozen=True)
class Choice:
    name: str
    source: str  # "header" | "sticky:<header>" | "request_id"


class AssignmentTable:
    """Arms -> bucket ranges; pure, built from the settings."""

    def __init__(self, shares: Mapping[str, float], salt: str, sticky_headers: list[str]):
        self.salt = salt
        self.sticky_headers = [h.lower() for h in sticky_headers]
        self.names = list(shares)
        self.ranges: list[tuple[str, int, int]] = []
        start = 0
        for name, share in shares.items():
            width = round(share * BUCKETS / 100)
            self.ranges.append((name, start, start + width))
            start += width
        if start != BUCKETS:
            raise ValueError(f"variant shares cover {start} of {BUCKETS} buckets; they must sum to 100")

    @classmethod
    def from_settings(cls, settings: Settings) -> "AssignmentTable":
        shares = {n: v.share for n, v in settings.variants.items()} or {settings.variant: 100.0}
        return cls(shares, settings.variant_salt, settings.variant_headers)

    def arm_of_bucket(self, b: int) -> str:
        for name, lo, hi in self.ranges:
            if lo <= b < hi:
                return name
        raise AssertionError(f"bucket {b} outside every range")  # shares sum to 100: unreachable

    def arm_of_key(self, key: str) -> str:
        return self.arm_of_bucket(bucket(self.salt, key))

    def choose(self, headers: Mapping[str, str], request_id: str) -> Choice:
        """``headers``: lower-cased names -> values."""
        explicit = headers.get(VARIANT_HEADER, "").strip()
        if explicit:
            if explicit not in self.names:
                raise UnknownVariantName(
                    f"unknown variant {explicit[:64]!r} in X-Rerank-Variant; configured: {', '.join(self.names)}")
            return Choice(explicit, "header")
        for header in self.sticky_headers:
            value = headers.get(header, "").strip()
            if value:
                return Choice(self.arm_of_key(value), f"sticky:{header}")
        return Choice(self.arm_of_key(request_id), "request_id")

    def describe(self) -> dict:
        return {"salt": self.salt, "buckets": BUCKETS, "sticky_headers": self.sticky_headers,
                "ranges": {name: [lo, hi] for name, lo, hi in self.ranges}}


def variant_settings(settings: Settings, name: str, arm: VariantConfig | None) -> Settings:
    """The settings one arm's backend and tokenizer see: the top level with the arm's overrides."""
    update: dict = {"variant": name, "variants": {}, "variants_file": None}
    if arm is not None:
        for key in ("model_name", "model_version", "backend", "model_repository", "triton_url"):
            value = getattr(arm, key)
            if value is not None:
                update[key] = value
        # the per-backend defaults follow the arm's backend unless the value was changed
        if arm.backend is not None and arm.backend != settings.backend:
            for key, value in BACKEND_DEFAULTS[arm.backend].items():
                if getattr(settings, key) == BACKEND_DEFAULTS[settings.backend][key]:
                    update[key] = value
    return settings.model_copy(update=update)


class VariantSet:
    """Every arm's ``RerankService``; started and stopped together."""

    def __init__(self, settings: Settings, metrics, table: AssignmentTable | None = None):
        from service.backends import create_backend
        from service.serving import RerankService

        self.settings = settings
        self.table = table if table is not None else AssignmentTable.from_settings(settings)
        arms = settings.variants or {settings.variant: None}
        self.shares = {n: (a.share if a is not None else 100.0) for n, a in arms.items()}
        self.services = {}
        for name, arm in arms.items():
            vs = variant_settings(settings, name, arm)
            self.services[name] = RerankService(vs, create_backend(vs), metrics)

    @property
    def names(self) -> list[str]:
        return list(self.services)

    @property
    def primary(self):
        """The first arm: its facts fill /info's top level (the single arm in a plain setup)."""
        return next(iter(self.services.values()))

    def __getitem__(self, name: str):
        return self.services[name]

    async def start(self) -> None:
        await asyncio.gather(*(s.start() for s in self.services.values()))

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.services.values()), return_exceptions=True)

    async def readiness(self) -> tuple[bool, str | None, dict[str, tuple[bool, str | None]]]:
        names = self.names
        results = await asyncio.gather(*(self.services[n].readiness() for n in names))
        per = dict(zip(names, results))
        bad = [f"variant {n}: {reason}" if len(names) > 1 else str(reason)
               for n, (ok, reason) in per.items() if not ok]
        return not bad, ("; ".join(bad) or None), per

    def info(self, per: dict[str, tuple[bool, str | None]]) -> list[dict]:
        out = []
        for name, service in self.services.items():
            facts = service.info()
            out.append({
                "name": name, "share": self.shares[name], "ready": per[name][0],
                "buckets": self.table.describe()["ranges"][name],
                **{k: facts[k] for k in ("model", "version", "model_version", "max_length", "load_error")},
                "backend": facts["backend"],
            })
        return out
