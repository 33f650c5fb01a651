"""Causal language models: a small Llama built from scratch, and loading / saving any Hugging Face
causal LM as a local directory (``config.json`` + safetensors weights + tokenizer files).

Decisions:
- ``LM_SIZES["tiny"]`` (hidden 64, 2 layers, ~0.1M parameters + embeddings) is for tests;
  ``LM_SIZES["small"]`` (hidden 128, 4 layers, ~0.8M + embeddings) is the benchmark default: on one
  CPU thread it memorises a 40-person ``bios`` corpus (320 texts, 30 epochs) in about a minute.
  Input and output embeddings are tied.
- A tokenizer "matches" a model when every token id fits the embedding matrix and the model has at
  most ``max(64, 2%)`` unused embedding rows: real checkpoints pad their embeddings a little (Qwen2,
  Pythia, Phi-2 stay under 2%), a tokenizer with far fewer tokens than the model belongs to another model.
- A tokenizer without a pad token gets its EOS token as pad (the usual choice for Llama and GPT-2).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

try:
    from safetensors import SafetensorError as _SafetensorError
except ImportError:  # older safetensors
    _SafetensorError = OSError  # type: ignore[misc,assignment]

from ..errors import ConfigError, ModelLoadError
from ..training.predict import eval_mode  # noqa: F401  (re-exported for lm users)
from ..utils.io import atomic_dir
from ..utils.remote_code import refuse_remote_code

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

LM_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256},
    "small": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512},
}
DTYPES: dict[str, torch.dtype | str] = {
    "auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
}
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


class TokenizerMismatchError(ModelLoadError):
    """A tokenizer that does not belong to the model (vocabulary vs embedding size)."""


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def tiny_llama(
    vocab_size: int,
    *,
    size: str = "tiny",
    seed: int = 0,
    max_position_embeddings: int = 512,
    pad_token_id: int = 0,
    bos_token_id: int = 1,
    eos_token_id: int = 2,
    **overrides: Any,
) -> "PreTrainedModel":
    """A randomly initialised ``LlamaForCausalLM``; the same seed gives the same weights.

    The special-token ids default to those of :func:`~obliviate.lm.tokenizer.train_bpe_tokenizer`.
    ``overrides`` are further ``LlamaConfig`` fields.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if size not in LM_SIZES:
        raise ConfigError(f"unknown model size {size!r}; known: {', '.join(LM_SIZES)}")
    if vocab_size <= max(pad_token_id, bos_token_id, eos_token_id):
        raise ConfigError(f"vocab_size {vocab_size} does not cover the special-token ids "
                          f"(pad {pad_token_id}, bos {bos_token_id}, eos {eos_token_id})")
    config = LlamaConfig(
        vocab_size=vocab_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        tie_word_embeddings=True,
        **(LM_SIZES[size] | overrides),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def check_vocab(tokenizer: "PreTrainedTokenizerBase", model: "PreTrainedModel", where: str = "") -> None:
    """Raise :class:`TokenizerMismatchError` when ``tokenizer`` does not belong to ``model`` (see module doc)."""
    rows = model.get_input_embeddings().num_embeddings
    n_tok = len(tokenizer)
    slack = max(64, int(0.02 * rows))
    at = f" in {where}" if where else ""
    if n_tok > rows:
        raise TokenizerMismatchError(f"tokenizer and model do not match{at}: the tokenizer has {n_tok} tokens but the "
                             f"model's embedding has only {rows} rows (token ids >= {rows} cannot be embedded)")
    if rows - n_tok > slack:
        raise TokenizerMismatchError(f"tokenizer and model do not match{at}: the tokenizer has {n_tok} tokens but the "
                             f"model's embedding has {rows} rows; {rows - n_tok} unused rows is more than "
                             f"padding ({slack}), so the tokenizer probably belongs to another model")


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' own progress bars (shard writing, weight loading) for the block."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _dtype_keyword() -> str:
    """``from_pretrained``'s dtype argument: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _check_model_dir(directory: Path) -> None:
    if not directory.exists():
        raise ModelLoadError(f"model directory {directory} does not exist")
    if not directory.is_dir():
        raise ModelLoadError(f"{directory} is not a directory (expected a Hugging Face model folder)")
    if not (directory / "config.json").is_file():
        if (directory / "adapter_config.json").is_file():
            raise ModelLoadError(f"{directory} holds a LoRA adapter (adapter_config.json) but no base model "
                                 "config.json; pass a full or merged model directory")
        if (directory / "model" / "config.json").is_file():  # an obliviate cache entry: the model sits in model/
            raise ModelLoadError(f"{directory} holds no config.json; it looks like an obliviate cache entry, whose "
                                 f"model directory is {directory / 'model'}: pass that")
        raise ModelLoadError(f"{directory} holds no config.json, so it is not a Hugging Face model directory")
    if not any((directory / name).is_file() for name in _WEIGHT_FILES):
        raise ModelLoadError(f"{directory} holds no model weights (expected one of {', '.join(_WEIGHT_FILES)})")
    if not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError(f"{directory} holds no tokenizer (expected one of {', '.join(_TOKENIZER_FILES)})")


def load_causal_lm(
    directory: str | Path, *, dtype: str = "auto", device: str | torch.device | None = None
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Load a causal LM and its tokenizer from a local directory (never the network), in eval mode.

    ``dtype`` is one of ``auto`` (as saved), ``float32``, ``bfloat16``, ``float16``; ``device``
    defaults to :func:`default_device`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    directory = Path(directory)
    _check_model_dir(directory)
    refuse_remote_code(directory, f"cannot load a causal LM from {directory}")
    # transformers, tokenizers and huggingface_hub raise many exception types on a damaged file (the
    # tokenizers library a bare Exception, config validation its own error class): all become ModelLoadError
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer in {directory}: {_short(exc)}") from None
    try:
        with _quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(
                directory, local_files_only=True, trust_remote_code=False, **{_dtype_keyword(): DTYPES[dtype]}
            )
    except (Exception, _SafetensorError) as exc:
        raise ModelLoadError(f"cannot load a causal LM from {directory}: {_short(exc)}") from None
    check_vocab(tokenizer, model, str(directory))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device or default_device()).eval(), tokenizer


def _short(exc: BaseException) -> str:
    """An exception as one line: its type for the unusual ones, and the first lines of its message."""
    text = " ".join(str(exc).split())[:500] or type(exc).__name__
    return text if isinstance(exc, (OSError, ValueError)) else f"{type(exc).__name__}: {text}"


def save_causal_lm(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", directory: str | Path,
                   state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Save model (safetensors) and tokenizer with ``save_pretrained``; the directory appears atomically.
    ``state_dict`` replaces the model's own (the gathered full weights of an FSDP / ZeRO-3 model)."""
    if hasattr(model, "peft_config"):
        raise ConfigError("save_causal_lm got a peft model: merge it first (merge_and_unload()) or save the "
                          "adapter with its own save_pretrained")
    check_vocab(tokenizer, model)
    directory = Path(directory)
    with atomic_dir(directory) as tmp, _quiet_transformers():
        model.save_pretrained(tmp, **({"state_dict": state_dict} if state_dict is not None else {}))
        tokenizer.save_pretrained(tmp)
        if not any((tmp / name).is_file() for name in _WEIGHT_FILES[:2]):
            raise ModelLoadError(f"save_pretrained wrote no safetensors weights into {directory}")
    return directory
