"""Unlearning a user's own causal LM: documents in, unlearned model (or LoRA adapter) + record out.

A user's model has no built-in task, so the forget and retain sets are plain documents (see
:mod:`obliviate.lm.documents` for the file layouts). Methods are the LM family's (``npo``,
``grad_diff``, ``npo_gdr``, ...) with their MUSE defaults; ``retrain`` re-initialises the model and is
refused with LoRA (an adapter cannot retrain a model from scratch).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ..api import UnlearnResult, tensors_hash, weights_hash
from ..errors import ConfigError
from .data import lm_dataset
from .lora import LoraSpec, adapter_state, apply_lora, merged, save_adapter
from .task import LMUnlearnData

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def documents_hash(documents: Sequence[str]) -> str:
    """SHA-256 of the documents as a JSON list (independent of the file layout they came from)."""
    return hashlib.sha256(json.dumps(list(documents), ensure_ascii=False).encode("utf-8")).hexdigest()


def unlearn_lm(
    model: "PreTrainedModel",
    tokenizer: "PreTrainedTokenizerBase",
    forget: Sequence[str],
    retain: Sequence[str],
    method: str,
    *,
    seed: int = 0,
    max_length: int = 512,
    lora: LoraSpec | str | None = None,
    inplace: bool = False,
    **params: Any,
) -> UnlearnResult:
    """Run the LM method ``method`` to forget the ``forget`` documents while keeping ``retain``.

    Parameters are the method's config fields (``obliviate ls methods -v``). With ``lora`` the model
    is wrapped in fresh LoRA adapters and only they are trained; the result's model is then the peft
    model (see :func:`obliviate.lm.lora.merged`). The model is copied first unless ``inplace``.
    """
    from ..methods.lm_common import resolve_lm_method
    from ..utils.seeding import seed_everything

    cls, fixed = resolve_lm_method(method)
    config = cls.Config.from_params({**fixed, **params})
    spec = LoraSpec.parse(lora) if isinstance(lora, str) else lora
    if spec is not None and cls.is_exact:
        raise ConfigError(f"{method} retrains the model from scratch; it cannot be run with --lora")
    data = LMUnlearnData(lm_dataset(tokenizer, forget, max_length=max_length),
                         lm_dataset(tokenizer, retain, max_length=max_length), tokenizer)
    if not inplace:
        model = copy.deepcopy(model)
    if spec is not None:
        model = apply_lora(model, spec)
    seed_everything(seed)
    start = time.perf_counter()
    model = cls().run(model, data, config, seed=seed)
    extra = {"lora": spec.as_dict() if spec else None}
    return UnlearnResult(model.eval(), method, config.as_dict(), seed, time.perf_counter() - start, extra)


def unlearn_lm_from_dirs(
    *,
    model_dir: str | Path,
    forget_file: str | Path,
    retain_file: str | Path,
    method: str,
    out: str | Path,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    layout: str = "paragraphs",
    lora: str | None = None,
    adapter_only: bool = False,
    dtype: str = "auto",
    device: str | None = None,
    max_length: int = 512,
) -> dict[str, Any]:
    """CLI helper: load ``model_dir``, unlearn the forget file's documents, save to ``out`` with a
    ``record.json``. Saves merged weights (a full model directory) unless ``adapter_only``."""
    from .. import __version__
    from ..utils.env import environment, git_commit
    from ..utils.io import atomic_write_json
    from .documents import read_documents
    from .model import load_causal_lm, model_device, save_causal_lm

    if adapter_only and not lora:
        raise ConfigError("--save-adapter needs --lora (without LoRA there is no adapter to save)")
    spec = LoraSpec.parse(lora) if lora else None
    forget = read_documents(forget_file, layout, what="forget")
    retain = read_documents(retain_file, layout, what="retain")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(model_dir, dtype=dtype, device=device)
    timings["load"] = time.perf_counter() - start
    original_hash = weights_hash(model)
    result = unlearn_lm(model, tokenizer, forget, retain, method, seed=seed, max_length=max_length, lora=spec,
                        inplace=True, **(params or {}))
    timings["unlearn"] = result.seconds
    start = time.perf_counter()
    if adapter_only:
        unlearned_hash = tensors_hash(adapter_state(result.model))
        save_adapter(result.model, tokenizer, out)
    else:
        final: nn.Module = merged(result.model)
        unlearned_hash = weights_hash(final)
        save_causal_lm(final, tokenizer, out)
    timings["save"] = time.perf_counter() - start
    record: dict[str, Any] = {
        "kind": "obliviate unlearning record (empirical; approximate unlearning promises nothing formal)",
        "tool": {"name": "obliviate", "version": __version__, "git_commit": git_commit()},
        "family": "lm",
        "method": method,
        "params": result.params,
        "seed": seed,
        "lora": result.extra["lora"],
        "saved": "adapter" if adapter_only else "merged" if spec else "full",
        "original_model": str(Path(model_dir).resolve()),
        "original_weights_sha256": original_hash,
        "forget": {"file": str(Path(forget_file).resolve()), "layout": layout, "documents": len(forget),
                   "sha256": documents_hash(forget)},
        "retain": {"file": str(Path(retain_file).resolve()), "layout": layout, "documents": len(retain),
                   "sha256": documents_hash(retain)},
        "max_length": max_length,
        "dtype": dtype,
        "device": str(model_device(result.model)),
        "unlearned_weights_sha256": unlearned_hash,
        "seconds": result.seconds,
        "timings": timings,
        "environment": environment(),
    }
    atomic_write_json(Path(out) / "record.json", record)
    return record
