"""Unlearning a user's own causal LM: documents in, unlearned model (or LoRA adapter) + record out.

A user's model has no built-in task, so the forget and retain sets are plain documents (see
:mod:`obliviate.lm.documents` for the file layouts). Methods are the LM family's (``npo``,
``grad_diff``, ``npo_gdr``, ...) with their MUSE defaults; ``retrain`` re-initialises the model and is
refused with LoRA (an adapter cannot retrain a model from scratch).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ..errors import ConfigError
from ..record import UnlearnResult, tensors_hash, weights_hash
from .data import TokenDataset, as_dataset
from .documents import documents_hash  # noqa: F401  (re-exported: the record's document hash)
from .lora import LoraSpec, adapter_state, apply_lora, merged, save_adapter
from .task import LMUnlearnData

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def unlearn_lm(
    model: "PreTrainedModel",
    tokenizer: "PreTrainedTokenizerBase",
    forget: Iterable[str] | TokenDataset,
    retain: Iterable[str] | TokenDataset,
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
    ``forget`` and ``retain`` are documents (any iterable: a generator streams them through the
    tokenizer in chunks) or ready :class:`~obliviate.lm.data.TokenDataset` objects.
    """
    from ..methods.base import resolve_method
    from ..utils.seeding import seed_everything
    from ..utils.warmup import warm_up

    cls, fixed = resolve_method(method, family="lm")
    config = cls.Config.from_params({**fixed, **params})
    spec = LoraSpec.parse(lora) if isinstance(lora, str) else lora
    if spec is not None and cls.is_exact:
        raise ConfigError(f"{method} retrains the model from scratch; it cannot be run with --lora")
    data = LMUnlearnData(as_dataset(tokenizer, forget, max_length), as_dataset(tokenizer, retain, max_length), tokenizer)
    if not inplace:
        model = copy.deepcopy(model)
    warm_up()  # the process's one-time torch costs are not the method's time
    seed_everything(seed)  # before the adapters: their initialisation follows the seed too
    if spec is not None:
        model = apply_lora(model, spec)
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
    checkpoint_every: int | None = None,
    evaluate: bool = False,
    reference: str | Path | None = None,
    overwrite: bool = False,
    recipe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """CLI helper: load ``model_dir``, unlearn the forget file's documents, save to ``out`` with a
    ``record.json``. Saves merged weights (a full model directory) unless ``adapter_only``. ``recipe``: the
    recipe file the params came from (path, sha256, name, provenance), kept in the record.

    Under ``accelerate launch`` every process trains its slice of each batch and only the main
    process writes ``out``. With ``checkpoint_every`` the training saves a checkpoint every that many
    steps into ``<out>.checkpoints`` and a rerun of the same job resumes from it (docs/scale-out.md).
    ``evaluate`` records loss on forget and retain documents and VerbMem on forget before and after;
    ``reference`` (a model directory retrained without the forget documents) adds its metrics and the
    gaps to them. The model directory and ``record.json`` appear together (:mod:`obliviate.record`).
    ``out`` (and ``<out>.checkpoints``) must be new, an earlier ``unlearn`` output, or ``overwrite`` is
    set (:mod:`obliviate.utils.outputs`); that, the method's family and its parameters are checked first."""
    from ..metrics.lm_eval import document_metrics
    from ..record import add_evaluation, check_unlearn_outputs, new_record, save_with_record
    from .documents import scan_documents
    from ..training import distributed
    from ..training.checkpoint import checkpoint_dir_for, checkpointing
    from ..utils.threads import configure_for_model
    from .model import load_causal_lm, model_device, save_causal_lm

    from ..methods.base import resolve_method
    from ..utils.outputs import mark

    check_unlearn_outputs(out, [model_dir, forget_file, retain_file, reference], overwrite=overwrite,
                          checkpoints=checkpoint_every is not None)
    cls, fixed = resolve_method(method, family="lm")  # a method of another family or a bad parameter fails first
    cls.Config.from_params({**fixed, **(params or {})})
    if lora and distributed.is_sharded():
        raise ConfigError("--lora is not supported under FSDP / DeepSpeed (adapters are small): use the DDP config")
    if (evaluate or reference is not None) and distributed.is_sharded():
        raise ConfigError("--eval / --reference evaluate on the main process with the whole model, which FSDP / "
                          "DeepSpeed shard: not supported there yet; drop them, or use the DDP config")
    if adapter_only and not lora:
        raise ConfigError("--save-adapter needs --lora (without LoRA there is no adapter to save)")
    spec = LoraSpec.parse(lora) if lora else None
    # checked, counted and hashed in one streaming pass before any work; read again (streamed) when used
    forget = scan_documents(forget_file, layout, what="forget")
    retain = scan_documents(retain_file, layout, what="retain")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(model_dir, dtype=dtype, device=device or distributed.process_device())
    timings["load"] = time.perf_counter() - start
    configure_for_model(model, scope="unlearn")
    original_hash = weights_hash(model)
    ref_metrics = None
    if reference is not None:  # a bad reference fails before any work
        ref_model, ref_tok = load_causal_lm(reference, dtype=dtype, device=model_device(model))
        if ref_tok.get_vocab() != tokenizer.get_vocab():
            raise ConfigError(f"the reference {reference} uses another tokenizer than {model_dir}: its metrics "
                              "would not be comparable")
        if distributed.is_main_process():
            ref_metrics = document_metrics(ref_model, ref_tok, list(forget), list(retain), max_length=max_length)
        del ref_model
    measure = evaluate or reference is not None
    before = (document_metrics(model, tokenizer, list(forget), list(retain), max_length=max_length)
              if measure and distributed.is_main_process() else None)
    job = {"family": "lm", "model": original_hash, "forget": forget.sha256, "retain": retain.sha256,
           "method": method, "params": params or {}, "seed": seed, "lora": lora, "dtype": dtype,
           "max_length": max_length}
    session = checkpointing(checkpoint_dir_for(out), checkpoint_every, job, overwrite)
    with session as checkpoints:
        result = unlearn_lm(model, tokenizer, forget, retain, method, seed=seed, max_length=max_length, lora=spec,
                            inplace=True, **(params or {}))
        timings["unlearn"] = result.seconds
        if adapter_only:
            state = adapter_state(result.model)
            unlearned_hash = tensors_hash(state)
            final: nn.Module = result.model

            def save(directory: Path) -> None:
                save_adapter(result.model, tokenizer, directory)
                mark(directory, "unlearn")
        else:
            final = merged(result.model)
            state = distributed.full_state_dict(final)  # gathered under FSDP / ZeRO-3 (every process calls it)
            unlearned_hash = tensors_hash(state) if distributed.is_main_process() else ""

            def save(directory: Path) -> None:
                save_causal_lm(final, tokenizer, directory, state_dict=state if distributed.is_sharded() else None)
                mark(directory, "unlearn")

        record = new_record("lm", method, result.params, seed) | {
            "lora": result.extra["lora"],
            "saved": "adapter" if adapter_only else "merged" if spec else "full",
            "original_model": str(Path(model_dir).resolve()),
            "original_weights_sha256": original_hash,
            "forget": {"file": str(Path(forget_file).resolve()), "layout": layout, "documents": forget.count,
                       "sha256": forget.sha256},
            "retain": {"file": str(Path(retain_file).resolve()), "layout": layout, "documents": retain.count,
                       "sha256": retain.sha256},
            "max_length": max_length,
            "dtype": dtype,
            **({"recipe": recipe} if recipe is not None else {}),
            "device": str(model_device(result.model)),
            "unlearned_weights_sha256": unlearned_hash,
            "seconds": result.seconds,
            "timings": timings,
        }
        if distributed.is_main_process():
            if measure:
                after = document_metrics(final, tokenizer, list(forget), list(retain), max_length=max_length)
                record["reference_model"] = str(Path(reference).resolve()) if reference is not None else None
                add_evaluation(record, before, after, ref_metrics)
            save_with_record(out, save, record)
            if checkpoints is not None:
                checkpoints.clear()  # the model and its record are written: the checkpoints are spent
    distributed.wait_for_everyone()
    return record
