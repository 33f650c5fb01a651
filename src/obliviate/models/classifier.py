"""Image classifiers. Every model exposes ``embed(x)`` (the representation) and ``head`` (linear).

Label-free methods (LAF) work on ``embed``; everything else only needs ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..registry import Registry

CLASSIFIERS: Registry[Callable[..., "Classifier"]] = Registry("model")


class Classifier(nn.Module):
    """Base class: ``forward(x) = head(embed(x))``; ``arch`` and ``kwargs`` rebuild the model."""

    arch: str = ""

    def __init__(self, **kwargs: int) -> None:
        super().__init__()
        self.kwargs = dict(kwargs)

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    head: nn.Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(Classifier):
    """Three conv blocks (width w, 2w, 4w), two 2x2 pools, a 2x2 adaptive pool and a 128-d embedding."""

    arch = "cnn"

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, embed_dim: int = 128) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, width=width, embed_dim=embed_dim)
        w = width
        self.body = nn.Sequential(
            *_conv_bn(in_channels, w), nn.MaxPool2d(2),
            *_conv_bn(w, 2 * w), nn.MaxPool2d(2),
            *_conv_bn(2 * w, 4 * w), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(16 * w, embed_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(Classifier):
    """ResNet-18 for small grey images: 3x3 stem with stride 1 and no max-pool (the CIFAR variant
    the unlearning papers use), four stages of two basic blocks, global average pooling."""

    arch = "resnet18"

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 64) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, width=width)
        w = width
        layers: list[nn.Module] = [*_conv_bn(in_channels, w)]
        cin = w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(8 * w, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


CLASSIFIERS.register("cnn", SmallCNN)
CLASSIFIERS.register("resnet18", ResNet18)


def build_classifier(arch: str, **kwargs: int) -> Classifier:
    """Instantiate a registered classifier architecture."""
    return CLASSIFIERS.get(arch)(**kwargs)


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """Reset every parameter and buffer to a fresh seeded initialisation (for exact retrain)."""
    torch.manual_seed(seed)
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
    return model
