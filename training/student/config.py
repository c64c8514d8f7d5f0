"""Student hyper-parameters that travel with a checkpoint (``student.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.base_models import MINILM_NAME

CONFIG_FILE = "student.json"


@dataclass
class SelectionConfig:
    # Cosine of the student's input word-piece embeddings. 0.45 keeps synonyms and inflections
    # (car/vehicle 0.60, cancer/tumor 0.67, run/running 0.81, price/cost 0.54) while random
    # MiniLM piece pairs reach 0.28 only at their 99.9th percentile (see token_selection).
    threshold: float = 0.45
    exact_match: bool = True
    min_piece_chars: int = 3  # "##xy" continuation pieces shorter than this never count


@dataclass
class TCLConfig:
    enabled: bool = True
    hidden: int = 128
    aux_weight: float = 0.5          # alpha: weight of the TCL's own distillation loss
    consistency_weight: float = 0.1  # gamma: pulls the served [CLS] score toward the TCL score


@dataclass
class StudentConfig:
    base_model: str = MINILM_NAME
    max_length: int = 256
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    tcl: TCLConfig = field(default_factory=TCLConfig)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "StudentConfig":
        obj = dict(obj)
        sel = SelectionConfig(**obj.pop("selection", {}))
        tcl = TCLConfig(**obj.pop("tcl", {}))
        known = {k: v for k, v in obj.items() if k in cls.__dataclass_fields__}
        return cls(selection=sel, tcl=tcl, **known)

    def save(self, directory: str | Path, extra: dict | None = None) -> None:
        payload = self.to_json() | (extra or {})
        (Path(directory) / CONFIG_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> "StudentConfig":
        return cls.from_json(json.loads((Path(directory) / CONFIG_FILE).read_text(encoding="utf-8")))


def student_json_block(directory, key: str) -> dict | None:
    """An extra block of a checkpoint's ``student.json`` (``recovered``, ``soup``, ``training``), or
    None when the folder has no student.json or the block is absent."""
    path = Path(str(directory)) / CONFIG_FILE if directory else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get(key)
