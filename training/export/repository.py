"""Write one served version into the model repository (layout: ``service.model_repository``)::

    <repository>/<model>/config.pbtxt         rendered by service.model_repository when absent
    <repository>/<model>/<version>/model.onnx
                                  tokenizer.json   (padding/truncation off: the service sets them)
                                  rerank.json      max_length, model_version, base_model, metrics, ...
                                  MODEL_CARD.md
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from service.model_repository import (
    CONFIG_FILE, META_FILE, MODEL_FILE, TOKENIZER_FILE, TritonModelConfig, model_versions, version_dir,
    write_production_config,
)

CARD_FILE = "MODEL_CARD.md"


def next_version(repository: Path, model: str) -> int:
    versions = model_versions(repository, model)
    existing = [int(p.name) for p in (repository / model).glob("*") if p.is_dir() and p.name.isdigit()] \
        if (repository / model).is_dir() else []
    return max(versions + existing, default=0) + 1


def write_clean_tokenizer(source: Path, target: Path) -> Path:
    from training.student.encoding import load_tokenizer

    load_tokenizer(source).save(str(target))  # load_tokenizer switched padding/truncation off
    return target


def write_version(repository: Path, model: str, version: int, onnx_path: Path, tokenizer_json: Path,
                  meta: dict, card: str, overwrite: bool = False) -> Path:
    """Write the version folder atomically (a temporary folder renamed into place)."""
    target = version_dir(repository, model, version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another --version or pass --overwrite")
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(onnx_path, tmp / MODEL_FILE)
    shutil.copy2(tokenizer_json, tmp / TOKENIZER_FILE)
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (tmp / CARD_FILE).write_text(card, encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    if not (Path(repository) / model / CONFIG_FILE).is_file():
        write_production_config(Path(repository), TritonModelConfig(name=model))
    return target
