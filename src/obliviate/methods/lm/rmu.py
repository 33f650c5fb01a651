"""RMU, Representation Misdirection for Unlearning (Li et al. 2024, "The WMDP Benchmark", Sec. 5).

On one decoder layer ``layer_id`` the forget texts' hidden states are pushed toward a fixed random
direction (MSE to ``steering_coeff * u``, ``u`` a unit vector drawn once from U[0, 1)^d and normalised)
while the retain texts' hidden states are held at the frozen original's (MSE, weighted by ``alpha``);
only the MLP down-projections of the layers ``layer_ids`` train.

Defaults from the authors' code, github.com/centerforaisafety/wmdp ``rmu/unlearn.py`` (read from a
verbatim copy of that file, manwaner333/wmdp_qing ``rmu/unlearn.py``, commit 9b7e128), ``get_args``:
``--lr 5e-5``, ``--batch_size 4``, ``--layer_id 7``, ``--layer_ids 5,6,7``, ``--param_ids 6`` (the 7th
parameter of a Llama/Mistral decoder layer: ``mlp.down_proj.weight``), one epoch (``for epoch in
range(1)``), ``transformers.AdamW`` (weight decay 0), no gradient clipping, hidden states taken at the
output of ``model.layers[layer_id]`` (``--module_str``); ``run_rmu``: the control vector
``torch.rand(1, 1, hidden) / norm * steering_coeff``, loss ``mse(forget_acts, control) + alpha *
mse(retain_acts, frozen_retain_acts)``, at most ``max_num_batches`` steps. The steering coefficient,
alpha and step count are the repository README's Zephyr-7B run (the paper's model): ``--max_num_batches
150 --steering_coeffs 6.5,6.5 --alpha 1200,1200 --lr 5e-5``; the argparse defaults are 20 / 100 / 80.

Deviations: the authors' mean runs over every position of a left-padded batch; here it runs over the
real tokens only (batches are right-padded, and pad positions carry no text). Batches are shuffled by
the shared loop (the authors take them in file order); one forget corpus at a time (the authors
alternate bio and cyber batches with one control vector each).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError
from ...lm.data import TokenDataset, trim
from ...lm.task import LMUnlearnData
from ...training.loop import LossFn
from ...config import param
from ..base import register_method
from .common import LMMethod, LMUnlearnConfig, fit_lm, frozen_copy


@dataclass
class RMUConfig(LMUnlearnConfig):
    epochs: int = param(1, "passes over the (capped) forget set (authors: 1)")
    lr: float = param(5e-5, "learning rate (authors' --lr: 5e-5)")
    batch_size: int = param(4, "forget and retain sequences per step (authors' --batch_size: 4)")
    max_grad_norm: float = param(0.0, "clip the gradient norm to this value (0 = none, as the authors)")
    layer_id: int = param(7, "decoder layer whose output activations are steered (authors' --layer_id: 7)", ge=0)
    layer_ids: str = param("5,6,7", "comma-separated decoder layers whose parameters train (authors: 5,6,7)")
    params: str = param("mlp.down_proj.weight", "comma-separated parameter names inside each trained layer "
                        "(authors' --param_ids 6 = mlp.down_proj.weight of a Llama / Mistral layer)")
    steering_coeff: float = param(6.5, "norm of the random target vector (authors' README, Zephyr-7B: 6.5)", gt=0)
    alpha: float = param(1200.0, "weight of the retain activation MSE (authors' README, Zephyr-7B: 1200)", ge=0)
    max_num_batches: int = param(150, "at most this many forget batches per epoch (authors' README: 150)", ge=1)

    def layers(self) -> list[int]:
        try:
            return [int(part) for part in self.layer_ids.split(",") if part.strip()]
        except ValueError:
            raise ConfigError(f"RMUConfig: layer_ids must be comma-separated integers, got {self.layer_ids!r}") from None

    def param_names(self) -> list[str]:
        return [part.strip() for part in self.params.split(",") if part.strip()]

    def check(self) -> list[str]:
        problems = []
        try:
            layers = self.layers()
        except ConfigError as exc:
            return [str(exc).removeprefix("RMUConfig: ")]
        if not layers or min(layers) < 0:
            problems.append(f"layer_ids must name at least one layer, all >= 0, got {self.layer_ids!r}")
        if not self.param_names():
            problems.append("params must name at least one parameter")
        return problems


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a Hugging Face causal LM (``model.model.layers`` for Llama, Mistral, Qwen2)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if layers is None:
        layers = getattr(getattr(model, "transformer", None), "h", None)  # GPT-2 style
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"RMU: cannot find the decoder layers of a {type(model).__name__}")
    return layers


def check_layers(config: RMUConfig, depth: int) -> None:
    """A ConfigError naming the model's depth when a configured layer is beyond it."""
    beyond = sorted({i for i in [config.layer_id, *config.layers()] if i >= depth})
    if beyond:
        raise ConfigError(f"RMU: layer(s) {beyond} beyond the model's depth: it has {depth} decoder layers "
                          f"(0..{depth - 1}); set layer_id / layer_ids")


def trainable_parameters(layers: nn.ModuleList, config: RMUConfig) -> list[nn.Parameter]:
    """The parameters named ``config.params`` in each layer of ``config.layer_ids``."""
    chosen = []
    for i in config.layers():
        named = dict(layers[i].named_parameters())
        missing = [n for n in config.param_names() if n not in named]
        if missing:
            raise ConfigError(f"RMU: layer {i} has no parameter {missing}; it has {', '.join(named)}")
        chosen += [named[n] for n in config.param_names()]
    return chosen


def control_vector(hidden: int, steering_coeff: float, seed: int) -> torch.Tensor:
    """``steering_coeff * u / |u|`` with ``u ~ U[0, 1)^hidden`` (the authors' ``torch.rand``), from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(hidden, generator=gen)
    return u / u.norm() * steering_coeff


@contextmanager
def capture(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect ``module``'s output hidden states (the first element of a tuple output) while inside."""
    out: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        out.append(output[0] if isinstance(output, tuple) else output)

    handle = module.register_forward_hook(hook)
    try:
        yield out
    finally:
        handle.remove()


def layer_activations(model: nn.Module, layer: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, hidden) output of ``layer`` when ``model`` reads the batch."""
    with capture(layer) as out:
        model(input_ids=ids, attention_mask=mask)
    return out[-1]


def masked_mse(acts: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference over the real tokens (``mask``) and the hidden dimensions."""
    weights = mask.to(acts.dtype).unsqueeze(-1)
    sq = (acts.float() - target.float()).pow(2) * weights
    return sq.sum() / (weights.sum() * acts.shape[-1]).clamp(min=1)


def rmu_loss(reference: nn.Module, layer: nn.Module, ref_layer: nn.Module, control: torch.Tensor,
             alpha: float) -> LossFn:
    """``loss_fn``: forget activations toward ``control`` plus ``alpha`` x retain activations toward the reference's."""

    def loss_fn(model: nn.Module, batch) -> torch.Tensor:
        f_ids, f_mask, _ = trim(*batch["forget"][:3])
        r_ids, r_mask, _ = trim(*batch["retain"][:3])
        forget = layer_activations(model, layer, f_ids, f_mask)
        retain = layer_activations(model, layer, r_ids, r_mask)
        with torch.no_grad():
            frozen = layer_activations(reference, ref_layer, r_ids, r_mask)
        target = control.to(device=forget.device).expand_as(forget)
        return masked_mse(forget, target, f_mask) + alpha * masked_mse(retain, frozen, r_mask)

    return loss_fn


def first_sequences(dataset: TokenDataset, n: int) -> TokenDataset:
    """The first ``n`` sequences of ``dataset`` (shared storage)."""
    if n >= len(dataset):
        return dataset
    end = int(dataset.offsets[n])
    return TokenDataset(dataset.ids[:end], dataset.offsets[: n + 1], pad=dataset.pad, max_length=dataset.max_length,
                        labels=None if dataset.labels is None else dataset.labels[:end],
                        values=None if dataset.values is None else dataset.values[:n])


@register_method
class RMU(LMMethod):
    name = "rmu"
    paper = "The WMDP Benchmark: Measuring and Reducing Malicious Use with Unlearning (Li et al. 2024), RMU"
    summary = "steer one layer's forget activations to a random vector, hold retain activations (MLPs of a few layers train)"
    Config = RMUConfig

    def run(self, model: nn.Module, data: LMUnlearnData, config: RMUConfig, *, seed: int) -> nn.Module:
        layers = decoder_layers(model)
        check_layers(config, len(layers))
        trainable = {id(p) for p in trainable_parameters(layers, config)}
        reference = frozen_copy(model)
        control = control_vector(model.config.hidden_size, config.steering_coeff, seed)
        loss_fn = rmu_loss(reference, layers[config.layer_id], decoder_layers(reference)[config.layer_id], control,
                           config.alpha)
        forget = first_sequences(data.forget, config.max_num_batches * config.batch_size)
        flags = {p: p.requires_grad for p in model.parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
        try:
            fit_lm(model, loss_fn, {"forget": forget, "retain": data.retain}, config, seed=seed, desc=self.name)
        finally:
            for p, flag in flags.items():
                p.requires_grad_(flag)
        return model
