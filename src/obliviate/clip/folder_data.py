"""Real multi-domain data for the clip bench: a domain folder ``root/<domain>/<class>/<image>`` (the layout of
Office-Home, PACS, DomainNet; :func:`obliviate.data.read_domain_folder`) as :class:`MultiDomainData`.

The few-shot protocol of ADU (Domain unlearning for CLIP) and of the prompt-learning work it builds on
(CoOp): ``shots`` (16) training images per (domain, class), the methods see only those; every other image
is test data. Decisions:

- The split is drawn once per folder with a fixed generator (seed 0), the same for every bench seed and
  method, so rows of different seeds differ by the methods' randomness only (the bench's ``DomainTask``
  then takes all ``shots`` images of every cell). A cell of n <= shots images gives n - 1 to training
  and keeps one test image; a cell of one image is test-only.
- Images are decoded once (through the decoded-image cache) and resized to ``image_size`` (the CLIP's
  input size by default), RGB in [0, 1].
- Class names for the captions are the folder names with ``_`` and ``-`` read as spaces
  (``Alarm_Clock`` -> "alarm clock"); domain names stay the folder names (``domain:Real_World``), and the
  caption template reads them the same way ("a real world of a alarm clock").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .domains import DomainSplit, MultiDomainData

SPLIT_SEED = 0


def readable(name: str) -> str:
    """A folder name as words for a caption."""
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def domain_names(root: str | Path) -> tuple[str, ...]:
    """The domain folders of ``root`` (sorted, hidden ones skipped), without decoding anything."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"--data {root} is not a folder (expected DOMAIN_DIR/<domain>/<class>/<image>)")
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))


def few_shot_split(labels: np.ndarray, domains: np.ndarray, shots: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: ``shots`` per (domain, class) cell for training (at most n - 1), the rest test."""
    if shots < 1:
        raise ConfigError(f"shots must be >= 1, got {shots}")
    rng = np.random.default_rng(seed)
    train = []
    for d in np.unique(domains):
        for c in np.unique(labels):
            cell = np.flatnonzero((domains == d) & (labels == c))
            if len(cell):
                train.append(rng.choice(cell, size=min(shots, len(cell) - 1), replace=False))
    chosen = np.sort(np.concatenate(train)) if train else np.array([], dtype=np.int64)
    return chosen, np.setdiff1d(np.arange(len(labels)), chosen)


def load_domain_data(root: str | Path, *, shots: int, image_size: int) -> MultiDomainData:
    """The folder as train (few-shot) / test splits of RGB images in [0, 1] at ``image_size``."""
    from ..data.folders import read_domain_folder

    if image_size < 4:
        raise ConfigError(f"image_size must be >= 4, got {image_size}")
    found = read_domain_folder(root, mode="RGB", size=image_size)
    if len(found.domain_names) < 2:
        raise ConfigError(f"{root} holds {len(found.domain_names)} domain folder(s); domain unlearning needs at least 2")
    train, test = few_shot_split(found.labels, found.domains, shots)
    if not len(test):
        raise ConfigError(f"{root}: no test images are left after {shots} shots per (domain, class)")
    x = torch.from_numpy(found.images).permute(0, 3, 1, 2)  # uint8 (N, 3, H, W)
    y, d = torch.from_numpy(found.labels), torch.from_numpy(found.domains)

    def part(idx: np.ndarray) -> DomainSplit:
        i = torch.from_numpy(idx)
        return DomainSplit(x[i].float().div_(255.0), y[i], d[i])

    return MultiDomainData(Path(root).name, found.domain_names, tuple(readable(c) for c in found.class_names),
                           part(train), part(test))
