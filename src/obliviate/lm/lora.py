"""Optional LoRA (Hu et al. 2022) through peft: unlearn by training low-rank adapters only.

``--lora r=8,alpha=16,targets=q_proj,v_proj[,dropout=0.05]``: the base weights stay frozen, so an
unlearned model is the original plus a small adapter. Without ``targets`` peft uses its default
modules for the architecture (Llama: q_proj, v_proj). Adapters start at zero (B = 0), so a method's
frozen reference copy equals the original model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_KEYS = {"r": int, "alpha": float, "dropout": float}


@dataclass(frozen=True)
class LoraSpec:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, spec: str) -> "LoraSpec":
        """``r=8,alpha=16,targets=q_proj,v_proj``: bare items after ``targets=`` are further targets."""
        values: dict[str, Any] = {}
        last = None
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key, sep, value = (s.strip() for s in item.partition("="))
            if not sep:
                if last != "targets":
                    raise ConfigError(f"--lora: {item!r} is not KEY=VALUE (keys: r, alpha, dropout, targets)")
                values["targets"].append(item)
                continue
            if key == "targets":
                values["targets"] = [value] if value else []
            elif key in _KEYS:
                try:
                    values[key] = _KEYS[key](value)
                except ValueError:
                    raise ConfigError(f"--lora: {key} must be a number, got {value!r}") from None
            else:
                raise ConfigError(f"--lora: unknown key {key!r}; known: r, alpha, dropout, targets")
            last = key
        if "targets" in values:
            if not values["targets"]:
                raise ConfigError("--lora: targets= names no module (e.g. targets=q_proj,v_proj)")
            values["targets"] = tuple(values["targets"])
        lora = cls(**values)
        lora.validate()
        return lora

    def validate(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ConfigError(f"--lora needs r >= 1, alpha > 0 and 0 <= dropout < 1, got {self.as_dict()}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = list(self.targets) if self.targets else None
        return out


def apply_lora(model: "PreTrainedModel", spec: LoraSpec) -> nn.Module:
    """Wrap ``model`` in a peft model with fresh adapters; only the adapters require gradients."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("--lora needs peft: pip install 'obliviate[llm]' (or pip install peft)") from None
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, bias="none",
                        target_modules=list(spec.targets) if spec.targets else None, task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # unknown target modules, or no default targets for this architecture
        raise ConfigError(f"--lora cannot be applied to this {type(model).__name__}: {exc}") from None


def is_peft(model: nn.Module) -> bool:
    return hasattr(model, "peft_config")


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights of a peft model (what ``save_pretrained`` writes)."""
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model)


def merged(model: nn.Module) -> "PreTrainedModel":
    """The base model with the adapters folded into its weights (a plain transformers model)."""
    return model.merge_and_unload() if is_peft(model) else model  # type: ignore[operator]


def save_adapter(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", directory: str | Path) -> Path:
    """Save only the adapter (``adapter_config.json`` + ``adapter_model.safetensors``) and the tokenizer,
    atomically; load it onto the original model with ``peft.PeftModel.from_pretrained``."""
    from ..utils.io import atomic_dir

    if not is_peft(model):
        raise ConfigError("saving an adapter needs a model trained with --lora")
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)  # type: ignore[operator]
        tokenizer.save_pretrained(tmp)
    return directory
