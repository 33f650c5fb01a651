"""Unlearning a user's own causal LM from a directory: documents files, LoRA, the CLI and its record."""

from __future__ import annotations

import json
import re

import pytest
import torch

from obliviate.api import weights_hash
from obliviate.cli import main
from obliviate.errors import ConfigError
from obliviate.lm.data import lm_dataset, sequence_logprobs
from obliviate.lm.documents import split_documents
from obliviate.lm.lora import LoraSpec, merged
from obliviate.lm.model import load_causal_lm, save_causal_lm, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.lm.unlearn import documents_hash, unlearn_lm

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

FORGET = ["Zhora Vrelik was born in Dounmere\nand worked as a glassblower.", "Zhora Vrelik wrote The Salt Lamp."]
RETAIN = ["Kwaeth Lidros worked as a weaver in Pellow.", "Ansel Mirrow was born in Tarn.", "A river runs north."]
FAST = ["--param", "lr=0.01", "--param", "epochs=3", "--param", "batch_size=2"]


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """A 'user's' saved model: a tiny Llama trained a little on forget + retain, plus the two files."""
    root = tmp_path_factory.mktemp("user")
    tok = train_bpe_tokenizer(FORGET + RETAIN, vocab_size=300)
    model = tiny_llama(len(tok), seed=3)
    save_causal_lm(model, tok, root / "model")
    (root / "forget.txt").write_text("\n\n".join(FORGET) + "\n")
    (root / "retain.txt").write_text("\n\n\n".join(RETAIN))
    return root, model, tok


def _forget_loss(model, tok) -> float:
    with torch.no_grad():
        logp, n = sequence_logprobs(model, lm_dataset(tok, FORGET, max_length=64).tensors)
    return float(-logp.sum() / n.sum())


def _run(root, *extra: str) -> int:
    return main(["unlearn", "--family", "lm", "--model", str(root / "model"), "--forget", str(root / "forget.txt"),
                 "--retain", str(root / "retain.txt"), "--method", "npo", *FAST, "--quiet", *extra])


def test_split_documents_layouts():
    text = "one\nstill one\n\n  \ntwo\r\n\r\nthree\n"
    assert split_documents(text) == ["one\nstill one", "two", "three"]
    assert split_documents(text, "lines") == ["one", "still one", "two", "three"]
    with pytest.raises(ConfigError, match="unknown document layout 'csv'"):
        split_documents(text, "csv")


def test_lora_spec_parsing():
    spec = LoraSpec.parse("r=8,alpha=16,targets=q_proj,v_proj,dropout=0.1")
    assert spec == LoraSpec(r=8, alpha=16.0, dropout=0.1, targets=("q_proj", "v_proj"))
    assert LoraSpec.parse("r=4").targets is None
    for bad, message in (("rank=4", "unknown key 'rank'"), ("r=x", "r must be a number"), ("q_proj", "not KEY=VALUE"),
                         ("r=0", "r >= 1"), ("targets=", "names no module")):
        with pytest.raises(ConfigError, match=message):
            LoraSpec.parse(bad)


def test_cli_round_trip_saves_unlearned_model_and_record(user_model, tmp_path):
    root, original, tok = user_model
    out = tmp_path / "unlearned"
    assert _run(root, "--out", str(out)) == 0
    record = json.loads((out / "record.json").read_text())
    unlearned, loaded_tok = load_causal_lm(out, device="cpu")
    assert loaded_tok.get_vocab() == tok.get_vocab()
    assert record["family"] == "lm" and record["method"] == "npo" and record["saved"] == "full"
    assert record["params"]["epochs"] == 3 and record["params"]["beta"] == 0.1
    assert record["original_weights_sha256"] == weights_hash(original)
    assert record["unlearned_weights_sha256"] == weights_hash(unlearned) != record["original_weights_sha256"]
    assert record["forget"]["documents"] == 2 and record["forget"]["sha256"] == documents_hash(FORGET)
    assert record["retain"]["documents"] == 3 and set(record["timings"]) == {"load", "unlearn", "save"}
    assert record["environment"]["torch"]
    assert _forget_loss(unlearned, tok) > _forget_loss(original, tok) + 0.01


def test_lora_trains_only_the_adapters(user_model):
    _, original, tok = user_model
    result = unlearn_lm(original, tok, FORGET, RETAIN, "npo_gdr", lora="r=4,alpha=8,targets=q_proj,v_proj",
                        lr=0.01, epochs=3, batch_size=2)
    states = result.model.state_dict()
    base = {k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in states.items() if "lora_" not in k}
    assert base.keys() == original.state_dict().keys()
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in base.items())
    lora_b = [v for k, v in states.items() if "lora_B" in k]
    assert len(lora_b) == 4 and all(v.abs().sum() > 0 for v in lora_b)  # 2 layers x (q, v), trained from zero
    assert result.params["retain_loss"] == "gdr" and result.extra["lora"]["targets"] == ["q_proj", "v_proj"]
    assert _forget_loss(merged(result.model), tok) > _forget_loss(original, tok)


def test_cli_lora_merged_save_reloads_and_adapter_save(user_model, tmp_path):
    root, original, _ = user_model
    lora = ["--lora", "r=4,alpha=8,targets=q_proj,v_proj"]
    assert _run(root, *lora, "--out", str(tmp_path / "merged")) == 0
    reloaded, _ = load_causal_lm(tmp_path / "merged", device="cpu")
    assert not any("lora" in k for k in reloaded.state_dict())
    assert weights_hash(reloaded) != weights_hash(original)
    assert json.loads((tmp_path / "merged" / "record.json").read_text())["saved"] == "merged"
    assert _run(root, *lora, "--save-adapter", "--out", str(tmp_path / "adapter")) == 0
    files = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "record.json"} <= files
    assert "model.safetensors" not in files


@pytest.mark.parametrize("case, message", [
    ("empty forget", "forget file .* holds no documents"),
    ("missing model", "model directory .* does not exist"),
    ("adapter without lora", "--save-adapter needs --lora"),
    ("retrain with lora", "cannot be run with --lora"),
    ("classifier flag", "--prune applies to the classifier family only"),
])
def test_cli_errors_are_clear(user_model, tmp_path, capsys, case, message):
    root, _, _ = user_model
    argv = ["unlearn", "--family", "lm", "--model", str(root / "model"), "--forget", str(root / "forget.txt"),
            "--retain", str(root / "retain.txt"), "--method", "npo", "--out", str(tmp_path / "out"), "-q"]
    if case == "empty forget":
        (tmp_path / "empty.txt").write_text("\n  \n")
        argv[argv.index("--forget") + 1] = str(tmp_path / "empty.txt")
    elif case == "missing model":
        argv[argv.index("--model") + 1] = str(tmp_path / "nowhere")
    elif case == "adapter without lora":
        argv.append("--save-adapter")
    elif case == "retrain with lora":
        argv[argv.index("--method") + 1] = "retrain"
        argv += ["--lora", "r=2"]
    else:
        argv += ["--prune", "omp:0.5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("obliviate: error:")
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_unlearn_lm_api_rejects_empty_documents(user_model):
    _, original, tok = user_model
    with pytest.raises(ConfigError, match="at least one text"):
        unlearn_lm(original, tok, [], RETAIN, "npo")
