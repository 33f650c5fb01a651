"""Domain-unlearning metrics of ADU (Kawamura et al. 2025): Mem, For, H and per-domain accuracy.

- Mem = class accuracy on the memorised domains' test images, For = class error (100 - accuracy) on
  the forgotten domains' test images, H = their harmonic mean 2 Mem For / (Mem + For) (0 when both are 0).
- Mem and For average the per-domain accuracies with equal weight per domain (the domains of the
  embedded data have equal sizes, so this equals pooling; with unequal domains no domain dominates).
- All values are percentages (0..100).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..training.predict import predict_logits
from .registry import Metric, register_metric

__all__ = ["harmonic_mean", "domain_accuracies", "mem_for_h", "evaluate_domain_model"]

for _metric in (
    Metric("mem", "clip", "Mem", standard=True, description="class accuracy on the memorised domains"),
    Metric("for", "clip", "For", standard=True, description="class error on the forgotten domains"),
    Metric("h", "clip", "H", standard=True, headline=True,
           description="harmonic mean of Mem and For: ranks the methods (a clip group has no retrain)"),
    # the bench's per-domain means over forget combinations, before the plain per-domain accuracy
    Metric("acc_<domain>_forgotten", "clip", higher_is_better=False,
           description="class accuracy of a domain, averaged over the combinations that forget it"),
    Metric("acc_<domain>_memorised", "clip",
           description="class accuracy of a domain, averaged over the combinations that keep it"),
    Metric("acc_<domain>", "clip", higher_is_better=None, description="class accuracy on one domain"),
):
    register_metric(_metric)


def harmonic_mean(a: float, b: float) -> float:
    """2ab / (a + b); 0 when a + b == 0. Inputs must be >= 0."""
    if a < 0 or b < 0:
        raise ConfigError(f"harmonic mean of negative values ({a}, {b})")
    return 0.0 if a + b == 0 else 2.0 * a * b / (a + b)


def domain_accuracies(pred: torch.Tensor, y: torch.Tensor, d: torch.Tensor, domains: Sequence[str]) -> dict[str, float]:
    """Class accuracy (%) per domain name; a domain without samples is left out."""
    out: dict[str, float] = {}
    for i, name in enumerate(domains):
        mask = d == i
        if mask.any():
            out[name] = 100.0 * float((pred[mask] == y[mask]).float().mean())
    return out


def mem_for_h(accuracy: Mapping[str, float], forget: Sequence[str]) -> dict[str, float]:
    """Mem, For and H from per-domain accuracies and the forgotten domains' names."""
    unknown = [f for f in forget if f not in accuracy]
    if unknown:
        raise ConfigError(f"no accuracy for forgotten domain(s) {unknown}; have {sorted(accuracy)}")
    memorised = [k for k in accuracy if k not in forget]
    if not forget or not memorised:
        raise ConfigError("Mem/For need at least one forgotten and one memorised domain")
    mem = sum(accuracy[k] for k in memorised) / len(memorised)
    forget_err = 100.0 - sum(accuracy[k] for k in forget) / len(forget)
    return {"mem": mem, "for": forget_err, "h": harmonic_mean(mem, forget_err)}


def evaluate_domain_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, d: torch.Tensor,
                          domains: Sequence[str], forget: Sequence[str], batch_size: int = 512) -> dict[str, float]:
    """``mem``, ``for``, ``h`` and ``acc_<domain>`` of a class classifier on a labelled multi-domain split."""
    pred = predict_logits(model, x, batch_size=batch_size, desc="eval domains").argmax(1)
    acc = domain_accuracies(pred, y, d, domains)
    return {**mem_for_h(acc, forget), **{f"acc_{k}": v for k, v in acc.items()}}
