"""Multi-domain images made by the project: every image of a base dataset rendered in several visual
domains by deterministic transforms, each sample labelled with its class and its domain.

Decisions:
- Base images come from :func:`obliviate.data.load_image_dataset` (digits; fashion-mnist when its
  files are installed) with its fixed train/test split, mapped back to [0, 1] by a global min-max
  (both datasets contain pixels at 0 and at full intensity, so this inverts their normalisation), then
  resized to ``image_size`` (8x8 digits are upscaled bilinearly; 28x28 fashion downscaled with antialias).
- Domains are RGB renderings in [0, 1]: ``photo`` (the grey image), ``sketch`` (inverted Sobel edge map:
  dark strokes on white), ``painting`` (3x3 blur, then a warm palette: brown canvas, yellow paint),
  ``clipart`` (posterised to 3 levels, flat blue / orange / white), ``negative`` (1 - x) and ``noisy``
  (Gaussian noise, std 0.25, from a generator seeded by the sample's index). Every transform is a pure
  function of the image (and, for ``noisy``, of its index), so the data never depend on the seed.
- The default domains are the four of Mini DomainNet in spirit (photo, sketch, painting, clipart), so
  forget sets of size 1, 2 and 3 exist as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..registry import Registry

DomainFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DOMAINS: Registry[DomainFn] = Registry("domain")
DEFAULT_DOMAINS: tuple[str, ...] = ("photo", "sketch", "painting", "clipart")
NOISE_STD = 0.25
_NOISE_SEED = 12345


def _rgb(grey: torch.Tensor, low: Sequence[float], high: Sequence[float]) -> torch.Tensor:
    """Map grey (N, 1, H, W) in [0, 1] linearly between two RGB colours -> (N, 3, H, W)."""
    lo = torch.tensor(low, dtype=grey.dtype).view(1, 3, 1, 1)
    hi = torch.tensor(high, dtype=grey.dtype).view(1, 3, 1, 1)
    return lo + (hi - lo) * grey


def photo(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The original grey image in three channels."""
    return x.repeat(1, 3, 1, 1)


def sketch(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Inverted Sobel edge magnitude, each image scaled to [0, 1]: dark strokes on white paper."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype)
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, kx.view(1, 1, 3, 3))
    gy = F.conv2d(padded, kx.t().contiguous().view(1, 1, 3, 3))
    mag = torch.sqrt(gx**2 + gy**2)
    peak = mag.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
    return (1.0 - mag / peak).repeat(1, 3, 1, 1)


def painting(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """3x3 box blur, then a warm palette (brown canvas, yellow paint)."""
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return _rgb(blurred, (0.45, 0.25, 0.10), (1.0, 0.85, 0.30))


def clipart(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Posterise to three levels and paint them with flat colours (blue, orange, white)."""
    level = torch.clamp((x * 3).floor(), max=2).long().squeeze(1)  # (N, H, W) in {0, 1, 2}
    palette = torch.tensor([[0.10, 0.30, 0.85], [1.0, 0.55, 0.10], [1.0, 1.0, 1.0]], dtype=x.dtype)
    return palette[level].permute(0, 3, 1, 2).contiguous()


def negative(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The inverted grey image."""
    return (1.0 - x).repeat(1, 3, 1, 1)


def noisy(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Gaussian noise (std 0.25) drawn from a generator seeded by each sample's index, clipped to [0, 1]."""
    out = torch.empty_like(x)
    gen = torch.Generator()
    for row, i in enumerate(index.tolist()):
        gen.manual_seed(_NOISE_SEED + int(i))
        out[row] = x[row] + NOISE_STD * torch.randn(x[row].shape, generator=gen, dtype=x.dtype)
    return out.clamp(0, 1).repeat(1, 3, 1, 1)


for _fn in (photo, sketch, painting, clipart, negative, noisy):
    DOMAINS.register(_fn.__name__, _fn)


def render(x: torch.Tensor, domain: str, index: torch.Tensor | None = None) -> torch.Tensor:
    """Render grey images (N, 1, H, W) in [0, 1] in ``domain`` -> (N, 3, H, W) in [0, 1]."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise ConfigError(f"render expects grey images of shape (N, 1, H, W), got {tuple(x.shape)}")
    idx = torch.arange(len(x)) if index is None else index
    return DOMAINS.get(domain)(x.float(), idx).clamp(0, 1)


@dataclass(frozen=True)
class DomainSplit:
    """Images (N, 3, H, W) in [0, 1], class labels ``y`` and domain indices ``d`` (into ``domains``)."""

    x: torch.Tensor
    y: torch.Tensor
    d: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, indices: np.ndarray | torch.Tensor) -> "DomainSplit":
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return DomainSplit(self.x[idx], self.y[idx], self.d[idx])


@dataclass(frozen=True)
class MultiDomainData:
    """A base dataset rendered in ``domains``; ``train`` / ``test`` follow the base dataset's fixed split."""

    name: str
    domains: tuple[str, ...]
    class_names: tuple[str, ...]
    train: DomainSplit
    test: DomainSplit

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _unit_range(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])


def _stratified(labels: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels, random_state=0)
    return np.sort(keep)


def make_multidomain(
    dataset: str = "digits",
    domains: Sequence[str] = DEFAULT_DOMAINS,
    *,
    image_size: int = 16,
    data_dir: str | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
) -> MultiDomainData:
    """Render ``dataset`` in every domain; stratified ``max_train`` / ``max_test`` base images (fixed seed 0)."""
    from ..data import load_image_dataset

    domains = tuple(domains)
    if len(domains) < 2:
        raise ConfigError(f"a multi-domain dataset needs at least 2 domains, got {list(domains)}")
    if len(set(domains)) != len(domains):
        raise ConfigError(f"domains repeat: {list(domains)}")
    for name in domains:
        DOMAINS.get(name)  # unknown names fail with the known ones listed
    if image_size < 4:
        raise ConfigError(f"image_size must be >= 4, got {image_size}")
    splits = load_image_dataset(dataset)
    if splits.image_shape[0] != 1:
        raise ConfigError(f"{dataset} has {splits.image_shape[0]} channels; the domain transforms need grey images")
    every = torch.cat([splits.train.x, splits.test.x])
    lo, hi = float(every.min()), float(every.max())

    def build(part, limit: int | None, offset: int) -> DomainSplit:
        keep = _stratified(part.y.numpy(), limit)
        grey = _resize(_unit_range(part.x[keep], lo, hi), image_size)
        index = torch.as_tensor(keep, dtype=torch.long) + offset  # test samples get their own noise
        xs = [render(grey, name, index) for name in domains]
        y = part.y[keep]
        return DomainSplit(
            torch.cat(xs), y.repeat(len(domains)),
            torch.arange(len(domains)).repeat_interleave(len(keep)),
        )

    return MultiDomainData(splits.name, domains, splits.class_names, build(splits.train, max_train, 0),
                           build(splits.test, max_test, len(splits.train)))


def few_shot(split: DomainSplit, shots: int, seed: int, num_domains: int, num_classes: int) -> np.ndarray:
    """Indices of ``shots`` random samples per (domain, class) cell (all of a cell when it has fewer)."""
    if shots < 1:
        raise ConfigError(f"shots must be >= 1, got {shots}")
    rng = np.random.default_rng(seed)
    y, d = split.y.numpy(), split.d.numpy()
    picked = []
    for dom in range(num_domains):
        for cls in range(num_classes):
            cell = np.flatnonzero((d == dom) & (y == cls))
            picked.append(rng.choice(cell, size=min(shots, len(cell)), replace=False))
    return np.sort(np.concatenate(picked))
