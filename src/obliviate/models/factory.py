"""A user's own classifier: ``--model-factory MODULE:FUNCTION``.

Contract (checked when the model is built, with a :class:`ConfigError` naming what is missing):

- ``FUNCTION(in_channels: int, num_classes: int, image_size: int) -> torch.nn.Module``, called with
  keyword arguments, deterministic given the torch seed (exact retrain re-initialises the model with
  every submodule's ``reset_parameters``);
- ``model(x)`` maps a float batch ``(N, in_channels, image_size, image_size)`` to logits ``(N, num_classes)``;
- optional, needed by the label-free methods (LAF; :data:`NEEDS_EMBED`): ``model.embed(x)`` the
  representation and ``model.head`` an ``nn.Linear`` with ``head(embed(x)) == model(x)``.

The module is imported by name from ``sys.path`` (the user's own code, run on purpose: this is not a
file loaded from a model directory). The architecture is registered as ``MODULE:FUNCTION`` for this
process, so cached and saved models record it (``config.json`` ``arch``) and reload in a process that
gives the same flag; a process without it gets "unknown classifier architecture".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..errors import ConfigError
from .classifier import CLASSIFIERS

#: methods that call ``model.embed`` / ``model.head``
NEEDS_EMBED = ("laf",)


def _resolve(spec: str) -> Callable[..., nn.Module]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise ConfigError(f"--model-factory expects MODULE:FUNCTION (e.g. mymodels:build), got {spec!r}")
    try:
        module = importlib.import_module(module_name.strip())
    except ImportError as exc:
        raise ConfigError(f"--model-factory {spec}: cannot import {module_name!r}: {exc} (is it on PYTHONPATH?)") from None
    fn = getattr(module, attr.strip(), None)
    if not callable(fn):
        raise ConfigError(f"--model-factory {spec}: {module_name} has no function {attr!r}")
    return fn


def use_model_factory(spec: str) -> str:
    """Register ``spec`` as a classifier architecture (idempotent); returns its name for ``build_classifier``."""
    name = spec.strip()
    if name in CLASSIFIERS:
        return name
    fn = _resolve(name)

    def build(in_channels: int, num_classes: int, image_size: int) -> nn.Module:
        model = fn(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        check_model(model, name, in_channels, num_classes, image_size)
        model.arch = name  # save_classifier records these; load_classifier rebuilds from them
        model.kwargs = {"in_channels": in_channels, "num_classes": num_classes, "image_size": image_size}
        return model

    CLASSIFIERS.register(name, build)
    return name


def check_model(model: object, name: str, in_channels: int, num_classes: int, image_size: int) -> None:
    """The contract of the module docstring, on one zero batch of two images (eval mode; no state changes)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model-factory {name} returned {type(model).__name__}, not a torch.nn.Module")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, in_channels, image_size, image_size))
    except Exception as exc:  # the user's code: any failure is a contract violation worth naming
        raise ConfigError(f"--model-factory {name}: the model fails on a batch of shape "
                          f"(2, {in_channels}, {image_size}, {image_size}): {type(exc).__name__}: {exc}") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"--model-factory {name}: model(x) must return logits of shape (N, {num_classes}), got {shape}")


def check_methods(model: nn.Module, methods: Iterable[str], name: str) -> None:
    """A model without ``embed`` / ``head`` cannot run :data:`NEEDS_EMBED` methods: say so before any training."""
    needing = [m for m in methods if m in NEEDS_EMBED]
    if needing and not (callable(getattr(model, "embed", None)) and isinstance(getattr(model, "head", None), nn.Linear)):
        raise ConfigError(f"--model-factory {name}: {', '.join(needing)} need model.embed(x) and a linear model.head "
                          "(forward = head(embed(x))); add them or drop those methods")
