"""Scoring backends behind one small interface (see ``base.Backend``).

``create_backend(settings)`` maps ``settings.backend`` to a class; each is imported only when
chosen, so the embedded service never needs tritonclient and vice versa. Every backend class
takes the ``service.settings.Settings`` object as its one constructor argument.
"""

from __future__ import annotations

import importlib

from service.backends.base import Backend, BackendUnavailable

BACKENDS = {
    "embedded": "service.backends.embedded:EmbeddedBackend",
    "triton": "service.backends.triton:TritonBackend",
}

__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "create_backend"]


def create_backend(settings) -> Backend:
    try:
        target = BACKENDS[settings.backend]
    except KeyError:
        raise ValueError(f"unknown backend {settings.backend!r}; known: {', '.join(BACKENDS)}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(settings)
