"""Learnable vision prompts for a frozen CLIP vision encoder and the Instance-wise Prompt Generator.

- :class:`VisionPrompts` (VPT-deep): before each of the first ``depth`` transformer blocks, ``n`` learnable
  tokens are appended to the sequence [CLS, patches], replacing the previous block's prompt outputs;
  later blocks carry the last prompts along. The CLS output is pooled as usual, so the frozen weights
  see the same computation with a few extra tokens.
- :class:`InstancePromptGenerator` (ADU's InstaPG): in chosen intermediate blocks, the block's learnable
  prompts are queries of a cross-attention over that block's input patch features (keys and values),
  giving ``n`` extra per-image prompt tokens appended after the learnable ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError


class InstancePromptGenerator(nn.Module):
    """Cross-attention from learnable prompts (queries) to patch features (keys, values)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"the generator's hidden size {hidden} is not divisible by {heads} heads")
        self.norm_q = nn.LayerNorm(hidden)
        self.norm_kv = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)

    def forward(self, prompts: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """``prompts`` (n, H), ``patches`` (B, P, H) -> per-image prompts (B, n, H)."""
        q = self.norm_q(prompts).unsqueeze(0).expand(len(patches), -1, -1)
        kv = self.norm_kv(patches)
        out, _ = self.attn(q, kv, kv, need_weights=False)
        return out


class VisionPrompts(nn.Module):
    """``n_prompts`` learnable tokens in each of the first ``depth`` blocks, optionally with InstaPG in
    ``generator_layers`` (block indices < depth)."""

    def __init__(self, hidden: int, depth: int, n_prompts: int, generator_layers: Sequence[int] = (),
                 heads: int = 4, init_std: float = 0.02) -> None:
        super().__init__()
        if depth < 1 or n_prompts < 1:
            raise ConfigError(f"prompts need depth >= 1 and n_prompts >= 1, got depth={depth}, n_prompts={n_prompts}")
        bad = [i for i in generator_layers if not 0 <= i < depth]
        if bad:
            raise ConfigError(f"generator layers {bad} are outside the prompted blocks 0..{depth - 1}")
        self.depth, self.n_prompts = depth, n_prompts
        self.prompts = nn.Parameter(torch.randn(depth, n_prompts, hidden) * init_std)
        self.generator_layers = tuple(sorted(set(int(i) for i in generator_layers)))
        self.generators = nn.ModuleDict({str(i): InstancePromptGenerator(hidden, heads) for i in self.generator_layers})

    def insert(self, layer: int, hidden: torch.Tensor, n_base: int) -> torch.Tensor:
        """The sequence entering block ``layer``: [CLS, patches] + this block's prompts (+ instance prompts)."""
        if layer >= self.depth:
            return hidden
        base = hidden[:, :n_base]
        parts = [base, self.prompts[layer].unsqueeze(0).expand(len(base), -1, -1)]
        if str(layer) in self.generators:
            parts.append(self.generators[str(layer)](self.prompts[layer], base[:, 1:]))
        return torch.cat(parts, dim=1)


def _layer_call(layer: nn.Module):
    """Call a ``CLIPEncoderLayer`` across transformers versions (4.x: causal mask argument, tuple output)."""
    params = inspect.signature(layer.forward).parameters
    needs_causal = "causal_attention_mask" in params

    def call(hidden: torch.Tensor) -> torch.Tensor:
        out = layer(hidden, None, None) if needs_causal else layer(hidden, None)
        return out[0] if isinstance(out, tuple) else out

    return call


def encode_image(vision_model: nn.Module, pixel_values: torch.Tensor, prompts: VisionPrompts | None = None) -> torch.Tensor:
    """The pooled (post-layernorm CLS) output of a CLIP vision tower, with ``prompts`` when given."""
    hidden = vision_model.pre_layrnorm(vision_model.embeddings(pixel_values))
    n_base = hidden.shape[1]
    for i, layer in enumerate(vision_model.encoder.layers):
        if prompts is not None:
            hidden = prompts.insert(i, hidden, n_base)
        hidden = _layer_call(layer)(hidden)
    return vision_model.post_layernorm(hidden[:, 0])


def parse_layers(spec: str, depth: int) -> tuple[int, ...]:
    """``"middle"`` -> the middle half of the prompted blocks; ``"none"`` -> (); else ``"1,2"``."""
    spec = spec.strip().lower()
    if spec == "none":
        return ()
    if spec == "middle":
        lo, hi = depth // 4, max(depth // 4 + 1, (3 * depth + 3) // 4)
        return tuple(range(lo, min(hi, depth)))
    try:
        return tuple(int(p) for p in spec.split(",") if p.strip())
    except ValueError:
        raise ConfigError(f"generator_layers must be 'middle', 'none' or block indices like '1,2', got {spec!r}") from None
