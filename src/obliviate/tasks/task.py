"""A Task: the data of one unlearning job (train split into forget/retain, plus the test set)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.images import ImageDataset, ImageSplits
from .forget import ForgetRequest, check_indices


@dataclass(frozen=True)
class UnlearnData:
    """What a method may see: forget and retain data, never the test set or the retrained model.

    For label-free methods the bench passes both sets with ``y=None``.
    """

    forget: ImageDataset
    retain: ImageDataset
    num_classes: int


@dataclass(frozen=True)
class Task:
    """Dataset splits + a resolved forget request for one seed."""

    splits: ImageSplits
    request: ForgetRequest
    seed: int
    forget_idx: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, splits: ImageSplits, forget: str | ForgetRequest, seed: int) -> "Task":
        request = ForgetRequest.parse(forget) if isinstance(forget, str) else forget
        idx = request.resolve(splits.train.y.numpy(), splits.num_classes, seed)
        return cls(splits, request, seed, idx)

    @classmethod
    def from_indices(cls, splits: ImageSplits, indices: np.ndarray, seed: int, request: ForgetRequest) -> "Task":
        idx = np.sort(np.asarray(indices, dtype=np.int64))
        check_indices(idx, len(splits.train))
        return cls(splits, request, seed, idx)

    @property
    def retain_idx(self) -> np.ndarray:
        mask = np.ones(len(self.splits.train), dtype=bool)
        mask[self.forget_idx] = False
        return np.flatnonzero(mask)

    @property
    def forget(self) -> ImageDataset:
        return self.splits.train.subset(self.forget_idx)

    @property
    def retain(self) -> ImageDataset:
        return self.splits.train.subset(self.retain_idx)

    @property
    def test(self) -> ImageDataset:
        return self.splits.test

    def unlearn_data(self, *, with_labels: bool = True) -> UnlearnData:
        forget, retain = self.forget, self.retain
        if not with_labels:
            forget, retain = forget.without_labels(), retain.without_labels()
        return UnlearnData(forget, retain, self.splits.num_classes)

    def describe(self) -> dict:
        """The schema's ``task`` object."""
        return {
            "dataset": self.splits.name,
            "scenario": self.request.scenario,
            "forget_size": int(len(self.forget_idx)),
            "retain_size": int(len(self.splits.train) - len(self.forget_idx)),
            "forget_spec": self.request.spec,
        }
