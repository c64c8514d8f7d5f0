"""The one interface every scoring backend implements.

The service tokenizes; a backend only runs the exported graph: int64 ``input_ids``,
``attention_mask``, ``token_type_ids`` of shape [batch, length] in, one float32 logit per row out.
"""

from __future__ import annotations

import abc

import numpy as np


class BackendUnavailable(RuntimeError):
    """The backend cannot score right now (server down, model not loaded, timeout)."""


class Backend(abc.ABC):
    name: str = "backend"

    @abc.abstractmethod
    async def start(self) -> None:
        """Load the model or connect; must not raise for a server that is merely down."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ready(self) -> bool:
        """True when a request would be scored now."""

    @abc.abstractmethod
    async def infer(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray
    ) -> np.ndarray:
        """Logits, float32, shape [batch]. Raises BackendUnavailable when it cannot score."""

    def describe(self) -> dict:
        """Static facts for /info and the backend info metric."""
        return {"backend": self.name}
