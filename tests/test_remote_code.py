"""A model directory that asks for remote code is refused before loading, without a prompt, and its code
never runs (issue 14, part 6)."""

from __future__ import annotations

import builtins
import json
import sys

import pytest

from obliviate.cli import main
from obliviate.errors import ConfigError, ModelLoadError
from obliviate.lm.model import load_causal_lm, save_causal_lm, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.utils import remote_code
from obliviate.utils.remote_code import RemoteCodeError, refuse_remote_code

TEXTS = ["Zhora Vrelik was born in Dounmere.", "Kwaeth Lidros worked as a weaver."] * 4
#: the directory's "custom code": importing it leaves a marker file next to it
PAYLOAD = "from pathlib import Path\nPath(__file__).with_name('EXECUTED').write_text('ran')\n"


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    tok = train_bpe_tokenizer(TEXTS, vocab_size=300)
    directory = tmp_path_factory.mktemp("lm") / "model"
    save_causal_lm(tiny_llama(len(tok), seed=0), tok, directory)
    return directory


def _remote_dir(plain_dir, tmp_path, *, in_tokenizer: bool = False):
    """A copy of ``plain_dir`` whose config.json (or tokenizer_config.json) maps the auto classes to code in
    the directory, as hub models with custom code do."""
    directory = tmp_path / "remote"
    directory.mkdir()
    for f in plain_dir.iterdir():
        (directory / f.name).write_bytes(f.read_bytes())
    for module in ("modeling_x", "configuration_x", "tokenization_x"):
        (directory / f"{module}.py").write_text(PAYLOAD)
    name = "tokenizer_config.json" if in_tokenizer else "config.json"
    config = json.loads((directory / name).read_text())
    if in_tokenizer:
        config["auto_map"] = {"AutoTokenizer": ["tokenization_x.XTokenizer", None]}
    else:
        config |= {"model_type": "x_remote", "architectures": ["XForCausalLM"],
                   "auto_map": {"AutoConfig": "configuration_x.XConfig",
                                "AutoModelForCausalLM": "modeling_x.XForCausalLM"}}
    (directory / name).write_text(json.dumps(config))
    return directory


class Prompted(BaseException):
    """Raised by the patched ``input``: a BaseException, so no ``except Exception`` on the way swallows it."""


@pytest.fixture
def no_prompt(monkeypatch):
    """Any prompt fails the test: ``input`` records the call and raises, and stdin reads nothing."""
    prompts: list[str] = []

    def refuse(prompt: str = "") -> str:
        prompts.append(prompt)
        raise Prompted(prompt)

    monkeypatch.setattr(builtins, "input", refuse)
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115 (closed below)
    yield
    sys.stdin.close()
    assert not prompts, f"obliviate prompted the user: {prompts[0][:200]}"


@pytest.mark.parametrize("in_tokenizer", [False, True], ids=["config", "tokenizer_config"])
def test_remote_code_model_is_refused_without_running_it(plain_dir, tmp_path, no_prompt, in_tokenizer):
    directory = _remote_dir(plain_dir, tmp_path, in_tokenizer=in_tokenizer)
    with pytest.raises(RemoteCodeError, match="cannot load a causal LM from .*needs remote code.*never runs") as info:
        load_causal_lm(directory, device="cpu")
    assert str(directory) in str(info.value) and "auto_map" in str(info.value)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ModelLoadError)
    assert not (directory / "EXECUTED").exists()


def test_unknown_model_type_is_refused(plain_dir, tmp_path):
    directory = _remote_dir(plain_dir, tmp_path)
    config = json.loads((directory / "config.json").read_text())
    del config["auto_map"]
    (directory / "config.json").write_text(json.dumps(config))
    reasons = remote_code.remote_code_reasons(directory)
    assert any("x_remote" in r for r in reasons) and any("XForCausalLM" in r for r in reasons)


def test_plain_model_loads(plain_dir):
    refuse_remote_code(plain_dir)  # no complaint
    model, _ = load_causal_lm(plain_dir, device="cpu")
    assert model.config.model_type == "llama"


def test_trust_remote_code_false_alone_never_runs_code(plain_dir, tmp_path, no_prompt, monkeypatch):
    """Even past the pre-check, transformers is told not to run code: it fails instead of prompting."""
    directory = _remote_dir(plain_dir, tmp_path)
    monkeypatch.setattr("obliviate.lm.model.refuse_remote_code", lambda *_: None)
    with pytest.raises(ModelLoadError):
        load_causal_lm(directory, device="cpu")
    assert not (directory / "EXECUTED").exists()


def test_cli_refuses_remote_code_model(plain_dir, tmp_path, no_prompt, capsys):
    directory = _remote_dir(plain_dir, tmp_path)
    (tmp_path / "forget.txt").write_text("Zhora Vrelik was born in Dounmere.\n")
    (tmp_path / "retain.txt").write_text("Kwaeth Lidros worked as a weaver.\n")
    code = main(["unlearn", "--family", "lm", "--model", str(directory), "--forget", str(tmp_path / "forget.txt"),
                 "--retain", str(tmp_path / "retain.txt"), "--method", "npo", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "needs remote code" in capsys.readouterr().err
    assert not (directory / "EXECUTED").exists() and not (tmp_path / "out").exists()


def test_clip_and_encoder_loaders_refuse_remote_code(tmp_path, no_prompt):
    from obliviate.clip.model import load_clip
    from obliviate.lm.eco import MiniLMEncoder

    directory = tmp_path / "clipx"
    directory.mkdir()
    (directory / "modeling_x.py").write_text(PAYLOAD)
    (directory / "config.json").write_text(json.dumps({"model_type": "clip", "auto_map": {"AutoModel": "modeling_x.X"}}))
    with pytest.raises(RemoteCodeError, match="cannot load a CLIP model from .*auto_map"):
        load_clip(directory)
    with pytest.raises(RemoteCodeError, match="cannot load the sentence encoder in .*auto_map"):
        MiniLMEncoder(directory)
    assert not (directory / "EXECUTED").exists()
