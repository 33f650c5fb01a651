"""DP-SGD training of a causal LM through opacus: per-sample gradient clipping, Gaussian noise and
Poisson-sampled batches, with the noise multiplier chosen for a target (epsilon, delta) and the
accountant's epsilon recorded after training (DP2Unlearning's "unlearning-ready" base model).

Decisions:
- The training loop is the shared :func:`obliviate.training.fit`; opacus enters through its ``prepare``
  hook (``PrivacyEngine.make_private_with_epsilon`` wraps model, optimiser and the loader of the
  training stream; fit leaves that loader unsharded, as accelerate's batch splitting would cut
  Poisson batches). fit's batch-gradient clipping is off: opacus clips each example's gradient.
  One process only (opacus's distributed DPDDP is not wired in).
- The per-example loss is that example's mean next-token NLL, and the batch loss their mean
  (``loss_reduction="mean"``), so an example's gradient never depends on the other examples of its
  batch (a token-weighted batch mean would couple them and weaken the per-example bound).
- Poisson sampling at rate ``batch_size / N`` (what the accountant assumes); an empty batch is rare
  for the corpora here but still takes its noisy step (no information is skipped).
- Accountant: RDP (opacus's classic moments accountant) by default, orders extended to 256 so a tiny
  delta (the paper's 1e-12) finds its optimal order; ``prv`` and ``gdp`` are opacus's alternatives.
- ``secure_mode`` is off (opacus warns): the noise comes from torch's seeded generator, fine for
  experiments, not a production guarantee (opacus's secure RNG needs torchcsprng).
- The tiny Llama of :mod:`obliviate.lm.model` trains under opacus (tied embeddings included: the
  per-sample gradients of the shared matrix add up over its two uses, checked in the tests); GPT-2
  does not (its Conv1D layers have no opacus grad sampler in the versions tried).
- The record (:class:`DPRecord`) is stored in ``model.config.dp_training``, so it travels with
  ``save_pretrained`` / ``load_causal_lm`` and a DP2 unlearning run can report it.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..config import ClippedTrainingConfig, param
from ..errors import ConfigError
from ..training import fit
from ..training.loop import Batch, get_accelerator
from .data import forward_logits, token_logprobs

#: RDP orders: opacus's defaults extended to 256 (small delta wants large orders).
RDP_ALPHAS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 257)))
ACCOUNTANTS = ("rdp", "prv", "gdp")


@dataclass
class DPTrainConfig(ClippedTrainingConfig):
    """DP-SGD recipe (DP2Unlearning's Train_dp_SGD: SGD, lr 5e-5, batch 16, 10 epochs, clip 1.0,
    epsilon 0.5, delta 1e-12, weight decay 0.01)."""

    epochs = param(10, "passes over the training data (expected; batches are Poisson-sampled; DP2Unlearning: 10)",
                   ge=1)
    lr = param(5e-5, "learning rate (DP2Unlearning: 5e-5)")
    batch_size = param(16, "expected batch size (Poisson sampling rate = batch_size / N; DP2Unlearning: 16)")
    optimizer = param("sgd", "optimiser wrapped by opacus's DPOptimizer (DP2Unlearning: SGD)")
    momentum = param(0.0, "SGD momentum")
    weight_decay = param(0.01, "weight decay (DP2Unlearning: 0.01)")
    max_grad_norm = param(1.0, "per-example gradient clipping norm C, the noise std is sigma * C (DP2Unlearning: 1.0)",
                          gt=0)
    epsilon: float = param(0.5, "target epsilon of the whole training (DP2Unlearning: 0.5)", gt=0)
    delta: float = param(1e-12, "target delta (DP2Unlearning: 1e-12; must be < 1/N)", gt=0, lt=1)
    accountant: Literal["rdp", "prv", "gdp"] = param("rdp", "opacus privacy accountant", choices=ACCOUNTANTS)


@dataclass(frozen=True)
class DPRecord:
    """What a DP training run guarantees and how it got there."""

    epsilon: float  #: the accountant's epsilon after training, at ``delta``
    delta: float
    target_epsilon: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float
    accountant: str
    n_examples: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_example_lm_loss(stream: str = "train"):
    """``loss_fn`` for fit: the mean over the batch of each example's mean next-token NLL."""

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        ids, mask, labels = batch[stream][:3]
        if len(ids) == 0:
            return _empty_batch_loss(model)
        width = max(int(mask.sum(1).max()), 2)
        ids, mask, labels = ids[:, :width], mask[:, :width], labels[:, :width]
        logp, valid = token_logprobs(forward_logits(model, ids, mask), labels)
        per_example = -logp.sum(1) / valid.sum(1).clamp(min=1)
        return per_example.mean()

    return loss_fn


def _empty_batch_loss(model: nn.Module) -> torch.Tensor:
    """A Poisson-sampled batch can be empty: the step still happens (noise only). The model cannot run
    on zero rows, so the loss is a zero that reaches every parameter and, when backward reaches it (after
    the optimiser's zero_grad), sets the per-example gradients to the empty (0, *shape) tensors opacus
    expects."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = sum((p.sum() * 0.0 for p in params), torch.zeros((), device=params[0].device))

    def set_empty_grad_samples(grad: torch.Tensor) -> torch.Tensor:
        for p in params:
            p.grad_sample = p.new_zeros((0, *p.shape))
        return grad

    loss.register_hook(set_empty_grad_samples)
    return loss


def _check_delta(config: DPTrainConfig, n: int) -> None:
    if config.delta >= 1.0 / n:
        raise ConfigError(f"delta={config.delta} is not below 1/N = 1/{n}: a mechanism that publishes one random "
                          "example outright would meet it; choose delta << 1/N")


def train_lm_dp(model: nn.Module, dataset: Dataset, config: DPTrainConfig, *, seed: int,
                desc: str = "dp-sgd lm") -> DPRecord:
    """Train ``model`` in place with DP-SGD on ``dataset`` (from :func:`~obliviate.lm.data.lm_dataset`)
    to the target (epsilon, delta); returns the record (also stored in ``model.config.dp_training``)."""
    try:
        from opacus import PrivacyEngine
    except ImportError:
        raise ConfigError("DP-SGD needs opacus: pip install 'obliviate[dp]'") from None
    config.validate()
    if get_accelerator().num_processes > 1:
        raise ConfigError("DP-SGD here runs in one process: opacus's distributed mode (DPDDP) is not wired into "
                          "the shared loop; run without accelerate launch / torchrun")
    n = len(dataset)  # type: ignore[arg-type]
    _check_delta(config, n)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant=config.accountant)
    extra = {"alphas": list(RDP_ALPHAS)} if config.accountant == "rdp" else {}
    wrapped: dict[str, Any] = {}

    def prepare(module: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader):
        module, optimizer, loader = engine.make_private_with_epsilon(
            module=module, optimizer=optimizer, data_loader=loader, target_epsilon=config.epsilon,
            target_delta=config.delta, epochs=config.epochs, max_grad_norm=config.max_grad_norm,
            noise_generator=torch.Generator(device=get_accelerator().device).manual_seed(seed), **extra)
        wrapped.update(module=module, optimizer=optimizer, loader=loader)
        return module, optimizer, loader

    start = time.perf_counter()
    model.train()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            fit(model, per_example_lm_loss(), {"train": dataset}, epochs=config.epochs, batch_size=config.batch_size,
                optim=config.optim(), seed=seed, prepare=prepare, desc=desc)
    finally:
        if "module" in wrapped:
            _unwrap(wrapped["module"])
    model.eval()
    optimizer = wrapped["optimizer"]
    epsilon = float(engine.accountant.get_epsilon(delta=config.delta, **extra))
    if not math.isfinite(epsilon):
        raise ConfigError(f"the {config.accountant} accountant returned epsilon={epsilon}")
    record = DPRecord(epsilon=epsilon, delta=config.delta, target_epsilon=config.epsilon,
                      noise_multiplier=float(optimizer.noise_multiplier), sample_rate=float(wrapped["loader"].sample_rate),
                      steps=_steps(engine), max_grad_norm=config.max_grad_norm, accountant=config.accountant,
                      n_examples=n, seconds=time.perf_counter() - start)
    set_dp_record(model, record)
    return record


def _unwrap(module) -> None:
    """Remove opacus's hooks and per-example gradient attributes from the wrapped model."""
    if hasattr(module, "to_standard_module"):  # opacus >= 1.5
        module.to_standard_module()
        return
    module.remove_hooks()
    for p in module.parameters():
        if hasattr(p, "grad_sample"):
            del p.grad_sample


def _steps(engine) -> int:
    history = getattr(engine.accountant, "history", None) or []
    return int(sum(entry[-1] for entry in history))


def set_dp_record(model: nn.Module, record: DPRecord) -> None:
    """Attach ``record`` to the model's config (saved with it by ``save_pretrained``)."""
    model.config.dp_training = record.as_dict()


def dp_record(model: nn.Module) -> DPRecord | None:
    """The DP record of a model trained by :func:`train_lm_dp` (None for a model trained without DP)."""
    raw = getattr(getattr(model, "config", None), "dp_training", None)
    if not isinstance(raw, dict):
        return None
    try:
        return DPRecord(**raw)
    except TypeError:
        return None
