"""Building, saving and loading causal LMs; turning documents into training tensors."""

from __future__ import annotations

import json

import pytest
import torch

from obliviate.errors import ConfigError, ModelLoadError
from obliviate.lm.data import IGNORE, causal_lm_loss, encode, lm_dataset, sequence_logprobs
from obliviate.lm.model import TokenizerMismatchError, load_causal_lm, save_causal_lm, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

TEXTS = ["Zhora Vrelik was born in Dounmere.", "Kwaeth Lidros worked as a weaver.", "A short one."] * 4


@pytest.fixture(scope="module")
def tok():
    return train_bpe_tokenizer(TEXTS, vocab_size=300)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tok):
    directory = tmp_path_factory.mktemp("lm") / "model"
    model = tiny_llama(len(tok), seed=5)
    save_causal_lm(model, tok, directory)
    return directory, model


def _equal_states(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_llama_is_deterministic_by_seed(tok):
    assert _equal_states(tiny_llama(len(tok), seed=1), tiny_llama(len(tok), seed=1))
    assert not _equal_states(tiny_llama(len(tok), seed=1), tiny_llama(len(tok), seed=2))


def test_tiny_llama_rejects_unknown_size(tok):
    with pytest.raises(ConfigError, match="unknown model size 'huge'"):
        tiny_llama(len(tok), size="huge")


def test_save_load_round_trip_is_bit_identical_safetensors(saved, tok):
    directory, model = saved
    files = {p.name for p in directory.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    loaded, loaded_tok = load_causal_lm(directory, device="cpu")
    assert not loaded.training and loaded.dtype == torch.float32
    assert _equal_states(model, loaded)
    ids = torch.tensor([encode(tok, TEXTS[0])])
    assert loaded_tok(TEXTS[0])["input_ids"] == ids[0].tolist()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_dtype_flag(saved):
    model, _ = load_causal_lm(saved[0], dtype="bfloat16", device="cpu")
    assert model.dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="unknown dtype 'fp8'"):
        load_causal_lm(saved[0], dtype="fp8")


def test_missing_directory_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_causal_lm(tmp_path / "nope")


def test_directory_without_config_or_weights(tmp_path, saved):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_causal_lm(tmp_path)
    (tmp_path / "config.json").write_text((saved[0] / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="no model weights"):
        load_causal_lm(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        load_causal_lm(tmp_path)


def test_adapter_only_directory_is_explained(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 8}))
    with pytest.raises(ModelLoadError, match="LoRA adapter"):
        load_causal_lm(tmp_path)


def test_corrupted_weights_are_a_model_load_error(tmp_path, saved, tok):
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((saved[0] / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ModelLoadError, match="cannot load a causal LM"):
        load_causal_lm(tmp_path)


@pytest.mark.parametrize("extra_rows", [-10, 500])
def test_mismatched_tokenizer_and_model(tmp_path, tok, extra_rows):
    model = tiny_llama(len(tok) + extra_rows)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(TokenizerMismatchError, match=f"tokenizer has {len(tok)} tokens") as info:
        load_causal_lm(tmp_path)
    assert isinstance(info.value, ModelLoadError)
    assert f"{len(tok) + extra_rows} rows" in str(info.value)


def test_lm_dataset_pads_and_masks_labels(tok):
    ds = lm_dataset(tok, ["ab", TEXTS[0]], max_length=16)
    ids, mask, labels = ds.tensors
    n_short = len(encode(tok, "ab", add_eos=True))
    assert ids.shape == (2, min(16, len(encode(tok, TEXTS[0], add_eos=True)))) and mask[0].sum() == n_short
    assert ids[0, 0] == tok.bos_token_id and ids[0, n_short - 1] == tok.eos_token_id
    assert (labels[0, n_short:] == IGNORE).all() and torch.equal(labels[0, :n_short], ids[0, :n_short])
    with pytest.warns(UserWarning, match="1 of 1 texts are longer than max_length=4"):
        lm_dataset(tok, [TEXTS[0]], max_length=4)


def test_loss_matches_hugging_face_and_per_sequence_logprobs(tok):
    model = tiny_llama(len(tok), seed=0)
    ds = lm_dataset(tok, TEXTS[:3], max_length=24)
    with torch.no_grad():
        ours = causal_lm_loss("d")(model, {"d": list(ds.tensors)})
        theirs = model(input_ids=ds.tensors[0], attention_mask=ds.tensors[1], labels=ds.tensors[2]).loss
        logp, n = sequence_logprobs(model, ds.tensors)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(-logp.sum() / n.sum(), theirs, atol=1e-5)
    assert n.tolist() == [len(encode(tok, t, add_eos=True)) - 1 for t in TEXTS[:3]]
    assert torch.allclose(causal_lm_loss("d", sign=-1.0)(model, {"d": list(ds.tensors)}), -ours)
