"""WHP's generic-logit rule and its two-model inference-time form (``whp --mode logits``, the WHP
baseline that MUSE evaluates).

v_generic = v_baseline - alpha * ReLU(v_reinforced - v_baseline): tokens the reinforced model (the
original further fine-tuned on the forget text) favours more than the baseline lose alpha times the
gap; every other logit stays the baseline's.

:class:`WHPLogitsModel` holds both models; ``forward`` returns the combined logits and ``generate``
is the baseline's own Hugging Face ``generate`` with a logits processor that runs the reinforced
model on the same tokens (with its own KV cache) and applies the rule to the raw next-token logits
before any sampling warper, so every decoding option of ``generate`` keeps working.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError


def generic_logits(baseline: torch.Tensor, reinforced: torch.Tensor, alpha: float) -> torch.Tensor:
    """v_baseline - alpha * ReLU(v_reinforced - v_baseline), elementwise (float32). A baseline logit of
    -inf (a token that generate's processors masked) stays -inf instead of becoming NaN."""
    b = baseline.float()
    return torch.where(torch.isneginf(b), b, b - alpha * torch.relu(reinforced.float() - b))


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch (Hugging Face generate's rule)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


class _ReinforcedProcessor:
    """A ``LogitsProcessor``: scores <- generic_logits(scores, reinforced(next-token logits), alpha)."""

    def __init__(self, reinforced: nn.Module, attention_mask: torch.Tensor, alpha: float) -> None:
        self.reinforced, self.alpha = reinforced, alpha
        self.mask = attention_mask
        self.past: Any = None
        self.seen = 0
        # transformers >= 5.2x names the KV cache ``cache``; earlier versions ``past_key_values``
        params = inspect.signature(reinforced.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        new = input_ids[:, self.seen:]
        if self.seen:  # generated tokens are real tokens
            self.mask = torch.cat([self.mask, self.mask.new_ones((len(input_ids), new.shape[1]))], 1)
        positions = _positions(self.mask)[:, self.seen:]
        cache = {self.cache_arg: self.past} if self.past is not None else {}
        out = self.reinforced(input_ids=new, attention_mask=self.mask, position_ids=positions, use_cache=True, **cache)
        self.past, self.seen = getattr(out, self.cache_arg), input_ids.shape[1]
        return generic_logits(scores, out.logits[:, -1], self.alpha).to(scores.dtype)


class WHPLogitsModel(nn.Module):
    """Baseline and reinforced model combined by the generic-logit rule at every step."""

    def __init__(self, baseline: nn.Module, reinforced: nn.Module, alpha: float) -> None:
        super().__init__()
        if alpha < 0:
            raise ConfigError(f"WHP alpha must be >= 0, got {alpha}")
        self.baseline, self.reinforced, self.alpha = baseline, reinforced, float(alpha)
        for p in self.reinforced.parameters():
            p.requires_grad_(False)

    @property
    def config(self):
        return self.baseline.config

    def get_input_embeddings(self) -> nn.Module:
        return self.baseline.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any):
        from transformers.modeling_outputs import CausalLMOutputWithPast

        if kwargs.get("labels") is not None or kwargs.get("past_key_values") is not None:
            raise ConfigError("WHPLogitsModel.forward takes input_ids and attention_mask only (no labels, no cache)")
        base = self.baseline(input_ids=input_ids, attention_mask=attention_mask).logits
        reinf = self.reinforced(input_ids=input_ids, attention_mask=attention_mask).logits
        return CausalLMOutputWithPast(logits=generic_logits(base, reinf, self.alpha))

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any):
        """The baseline's ``generate`` with the rule applied to every step's logits (batch of prompts,
        left-padded as for any decoder-only model)."""
        from transformers import LogitsProcessorList

        if kwargs.get("num_beams", 1) not in (1, None) or getattr(kwargs.get("generation_config"), "num_beams", 1) > 1:
            raise ConfigError("WHPLogitsModel.generate supports greedy and sampling decoding, not beam search")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        processors = LogitsProcessorList(kwargs.pop("logits_processor", None) or [])
        processors.insert(0, _ReinforcedProcessor(self.reinforced.eval(), attention_mask, self.alpha))
        return self.baseline.generate(input_ids=input_ids, attention_mask=attention_mask,
                                      logits_processor=processors, **kwargs)

    def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
        raise ConfigError("whp --mode logits is an inference-time combination of two models, not one model: "
                          "save .baseline and .reinforced with save_causal_lm, or run whp in its default "
                          "finetune mode to get one model")
