"""Image classifiers. Every model exposes ``embed(x)`` (the representation) and ``head`` (linear).

Label-free methods (LAF) work on ``embed``; everything else only needs ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError
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
    """ResNet-18 in its CIFAR form: 3x3 stem with stride 1 and no max-pool (the variant the unlearning
    papers use: ``resnet18`` with ``imagenet=False`` in OPTML-Group/Unlearn-Saliency,
    Classification/models/ResNet.py), four stages of two basic blocks, global average pooling.
    At width 64 with 3 input channels and 10 classes it has 11,173,962 parameters; any image size
    of at least 8x8 works (the pooling is adaptive)."""

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


VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class VGG16BN(Classifier):
    """VGG-16 with batch norm in the CIFAR form of the Model Sparsity / SalUn code (``vgg16_bn`` in
    OPTML-Group/Unlearn-Saliency, Classification/models/VGG.py): the 13 3x3 conv + BN + ReLU layers
    of configuration D without the last max-pool (32x32 -> 2x2), a 2x2 adaptive average pool, then
    Linear(2048, 256) - ReLU - Linear(256, 256) - ReLU as the embedding and Linear(256, classes) as
    the head. 15,311,818 parameters for 3 channels and 10 classes. Four 2x2 max-pools need images
    of at least 16x16; ``image_size`` (when given) is checked at construction.

    Initialisation is PyTorch's default, like every obliviate classifier, so ``reinitialize``
    (exact retrain) gives the same distribution as a fresh model; the paper code uses Kaiming-normal
    convolutions and N(0, 0.01) linear layers instead."""

    arch = "vgg16_bn"
    MIN_SIZE = 16

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int | None = None) -> None:
        kwargs = {"in_channels": in_channels, "num_classes": num_classes}
        if image_size is not None:
            if image_size < self.MIN_SIZE:
                raise ConfigError(f"vgg16_bn needs images of at least {self.MIN_SIZE}x{self.MIN_SIZE}, got {image_size}")
            kwargs["image_size"] = image_size
        super().__init__(**kwargs)
        layers: list[nn.Module] = []
        cin = in_channels
        for v in VGG16_CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += _conv_bn(cin, int(v))
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.mlp = nn.Sequential(nn.Linear(512 * 2 * 2, 256), nn.ReLU(inplace=True), nn.Linear(256, 256), nn.ReLU(inplace=True))
        self.head = nn.Linear(256, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < self.MIN_SIZE:
            raise ConfigError(f"vgg16_bn needs images of at least {self.MIN_SIZE}x{self.MIN_SIZE}, got {tuple(x.shape[-2:])}")
        return self.mlp(torch.flatten(self.pool(self.features(x)), 1))


CLASSIFIERS.register("cnn", SmallCNN)
CLASSIFIERS.register("resnet18", ResNet18)
CLASSIFIERS.register("vgg16_bn", VGG16BN)


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
