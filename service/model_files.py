"""One served model version on disk: find its folder, read ``rerank.json``, load its tokenizer.

The folder layout and version choice come from ``service.model_repository`` (shared with Triton);
this module adds what the service needs from the folder, for every backend alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from service.model_repository import META_FILE, MODEL_FILE, TOKENIZER_FILE, resolve_version_dir

DEFAULT_MAX_LENGTH = 256


class ModelFilesError(RuntimeError):
    """The model version folder is missing or incomplete."""


@dataclass(frozen=True)
class ModelFiles:
    name: str
    version: str  # the folder name, e.g. "1"
    path: Path
    max_length: int
    model_version: str  # rerank.json's own label (e.g. a training run id); the folder name if absent
    meta: dict = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def tokenizer_path(self) -> Path:
        return self.path / TOKENIZER_FILE


def find_model_files(repository: Path, name: str, version: str | None = None) -> ModelFiles:
    """Resolve ``repository/name/version`` (newest when ``version`` is None) and read its metadata."""
    try:
        path = resolve_version_dir(Path(repository), name, version)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelFilesError(f"model {name!r} version {version or 'latest'} not found in {repository}: {exc}") from exc
    for needed in (TOKENIZER_FILE,):
        if not (path / needed).is_file():
            raise ModelFilesError(f"{path / needed} is missing")
    meta: dict = {}
    if (path / META_FILE).is_file():
        try:
            meta = json.loads((path / META_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise ModelFilesError(f"{path / META_FILE} is not valid JSON: {exc}") from exc
    max_length = int(meta.get("max_length", DEFAULT_MAX_LENGTH))
    return ModelFiles(
        name=name, version=path.name, path=path, max_length=max_length,
        model_version=str(meta.get("model_version", path.name)), meta=meta,
    )


def model_files_from_settings(settings) -> ModelFiles:
    return find_model_files(settings.model_repository, settings.model_name, settings.model_version)


def load_tokenizer(files: ModelFiles):
    """The version's fast tokenizer with its saved padding/truncation switched off: the service
    truncates the document side itself and pads per micro-batch."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(files.tokenizer_path))
    except Exception as exc:  # the tokenizers library raises a bare Exception on a bad file
        raise ModelFilesError(f"cannot load {files.tokenizer_path}: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer
