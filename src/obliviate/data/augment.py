"""Tensor-only training augmentation (torchvision is not a dependency): random crop with padding and
horizontal flip, applied to a whole batch at once on the batch's device.

It reproduces ``transforms.RandomCrop(32, padding=4)`` + ``transforms.RandomHorizontalFlip()`` of
the Model Sparsity / SalUn training code: each image is zero-padded by ``padding`` pixels on every
side and an ``H x W`` window is taken at a uniformly random offset in ``0..2*padding`` (both ends
included), then mirrored left-right with probability 1/2. torchvision pads the [0, 1] pixels before
normalising; obliviate's tensors are already normalised, so the padding takes each channel's
normalised value of a 0 pixel (:meth:`Normalization.black`), which gives identical pixels.

The random draws come from the augmenter's own seeded ``torch.Generator`` (on the CPU), so a run is
reproducible and independent of the global RNG and of the device; ``state_dict`` / ``load_state_dict``
let a checkpointed training run resume the same draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ConfigError
from .images import ImageSplits


class RandomCropFlip:
    """Batch transform ``(N, C, H, W) -> (N, C, H, W)``: random crop after padding, random h-flip."""

    def __init__(self, padding: int = 4, flip: bool = True, fill: Sequence[float] | float = 0.0, seed: int = 0) -> None:
        if padding < 0:
            raise ConfigError(f"augmentation padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.flip = bool(flip)
        self.fill = [float(fill)] if isinstance(fill, (int, float)) else [float(v) for v in fill]
        self.generator = torch.Generator().manual_seed(int(seed))

    @classmethod
    def for_splits(cls, splits: ImageSplits, *, padding: int = 4, flip: bool = True, seed: int = 0) -> "RandomCropFlip":
        """Padding with the dataset's normalised black (0 when the splits carry no statistics)."""
        fill = splits.normalization.black() if splits.normalization is not None else 0.0
        return cls(padding=padding, flip=flip, fill=fill, seed=seed)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The generator's state, so a checkpointed training run resumes the same draws."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ConfigError(f"augmentation expects a batch (N, C, H, W), got shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        if len(self.fill) not in (1, c):
            raise ConfigError(f"augmentation fill has {len(self.fill)} values for {c} channels")
        out = x
        if self.padding:
            p = self.padding
            fill = torch.tensor(self.fill, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            padded = fill.expand(n, c, h + 2 * p, w + 2 * p).clone()
            padded[:, :, p:p + h, p:p + w] = x
            dy = torch.randint(0, 2 * p + 1, (n,), generator=self.generator)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=self.generator)
            if x.device.type == "cpu":  # per-image slices: ~4x the images/s of the gather below on a CPU
                out = torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy.tolist(), dx.tolist()))])
            else:  # one gather kernel instead of n slice copies on an accelerator
                out = self._gather(padded, dy.to(x.device), dx.to(x.device), h, w)
        if self.flip:
            mirror = (torch.rand(n, generator=self.generator) < 0.5).to(x.device)
            out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
        return out

    @staticmethod
    def _gather(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """The ``h x w`` window at (dy[i], dx[i]) of every padded image, in one advanced-indexing gather."""
        n, c, device = padded.shape[0], padded.shape[1], padded.device
        rows = (dy[:, None] + torch.arange(h, device=device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=device))[:, None, None, :]
        batch = torch.arange(n, device=device)[:, None, None, None]
        chan = torch.arange(c, device=device)[None, :, None, None]
        return padded[batch, chan, rows, cols]
