"""Forget requests: parse a spec string and resolve it to training-set indices.

Specs:
  ``random:0.1``     a random 10% of the training set (0 < fraction < 1)
  ``random:500``     500 random training samples
  ``class:3``        every training sample of class 3 (``class:3,5`` for several classes)
  ``indices:FILE``   the training indices listed in FILE (see :func:`read_indices_file`)
  ``worst_case:N[,lower=M][,mode=easiest]``   the N (count or fraction) hardest samples to forget, found by
                     the bi-level search of Fan et al. 2024 (:mod:`obliviate.tasks.worst_case`) on the
                     original model: the bench runs it; ``obliviate worst-case`` writes an indices file
  ``worst_classes:K[,lower=M][,mode=easiest]``   the K hardest classes (class-wise variant)

Random selections depend only on the seed, so every method of one benchmark seed forgets the same set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ForgetSpecError
from ..utils.io import atomic_write_text

KINDS = ("random", "class", "indices", "worst_case", "worst_classes")
#: kinds found by a search on a trained model, not resolvable from the labels alone
SEARCHED_KINDS = ("worst_case", "worst_classes")


@dataclass(frozen=True)
class ForgetRequest:
    """A parsed forget spec; :meth:`resolve` turns it into sorted, unique training indices."""

    kind: str
    fraction: float | None = None
    count: int | None = None
    classes: tuple[int, ...] = ()
    path: Path | None = None
    #: worst_case / worst_classes options, e.g. (("lower", "random_label"), ("mode", "easiest"))
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str) -> "ForgetRequest":
        if not isinstance(spec, str) or ":" not in spec:
            raise ForgetSpecError(
                f"forget spec {spec!r} must look like KIND:VALUE, e.g. random:0.1, random:500, class:3 or indices:FILE"
            )
        kind, _, value = spec.partition(":")
        kind, value = kind.strip(), value.strip()
        if kind not in KINDS:
            raise ForgetSpecError(f"unknown forget kind {kind!r} in {spec!r}; use one of {', '.join(KINDS)}")
        if not value:
            raise ForgetSpecError(f"forget spec {spec!r} has no value after ':'")
        if kind == "random":
            return cls._parse_random(spec, value)
        if kind in SEARCHED_KINDS:
            return cls._parse_searched(spec, kind, value)
        if kind == "class":
            try:
                classes = tuple(int(v) for v in value.split(","))
            except ValueError:
                raise ForgetSpecError(f"class ids in {spec!r} must be integers, e.g. class:3 or class:3,5") from None
            if len(set(classes)) != len(classes):
                raise ForgetSpecError(f"{spec!r} names a class twice")
            return cls("class", classes=classes)
        return cls("indices", path=Path(value))

    @classmethod
    def _parse_random(cls, spec: str, value: str) -> "ForgetRequest":
        if re.fullmatch(r"[+-]?\d+", value):
            count = int(value)
            if count <= 0:
                raise ForgetSpecError(f"{spec!r}: the number of samples to forget must be positive")
            return cls("random", count=count)
        try:
            fraction = float(value)
        except ValueError:
            raise ForgetSpecError(f"{spec!r}: expected a fraction in (0, 1) or a positive count") from None
        if not 0.0 < fraction < 1.0:
            raise ForgetSpecError(f"{spec!r}: a forget fraction must be strictly between 0 and 1, got {fraction}")
        return cls("random", fraction=fraction)

    @classmethod
    def _parse_searched(cls, spec: str, kind: str, value: str) -> "ForgetRequest":
        size, *items = [v.strip() for v in value.split(",")]
        options = dict(item.partition("=")[::2] for item in items)
        unknown = sorted(set(options) - {"lower", "mode"})
        if unknown or any(not v for v in options.values()):
            raise ForgetSpecError(f"{spec!r}: options are lower=METHOD and mode=hardest|easiest, e.g. {kind}:100,lower=finetune")
        if options.get("mode", "hardest") not in ("hardest", "easiest"):
            raise ForgetSpecError(f"{spec!r}: mode must be hardest or easiest")
        if kind == "worst_classes":
            if not size.isdigit() or int(size) <= 0:
                raise ForgetSpecError(f"{spec!r}: worst_classes:K needs a positive number of classes K")
            request = cls(kind, count=int(size))
        else:
            request = cls._parse_random(spec, size)
            request = cls(kind, fraction=request.fraction, count=request.count)
        return cls(request.kind, request.fraction, request.count, options=tuple(sorted(options.items())))

    @property
    def spec(self) -> str:
        if self.kind in SEARCHED_KINDS:
            size = str(self.count) if self.count is not None else f"{self.fraction:g}"
            return f"{self.kind}:" + ",".join([size] + [f"{k}={v}" for k, v in self.options])
        if self.kind == "random":
            return f"random:{self.count}" if self.count is not None else f"random:{self.fraction:g}"
        if self.kind == "class":
            return "class:" + ",".join(str(c) for c in self.classes)
        return f"indices:{self.path}"

    @property
    def scenario(self) -> str:
        return self.kind if self.kind != "indices" else "indices"

    def resolve(self, labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
        """Sorted forget indices into a training set with ``labels``; raises on anything unusable."""
        labels = np.asarray(labels)
        n = len(labels)
        if n == 0:
            raise ForgetSpecError("the training set is empty")
        if self.kind == "random":
            size = self.count if self.count is not None else int(round(self.fraction * n))
            if size <= 0:
                raise ForgetSpecError(f"{self.spec} selects no sample of a {n}-sample training set")
            if size >= n:
                raise ForgetSpecError(
                    f"{self.spec} asks to forget {size} of {n} training samples: nothing would be left to retain"
                )
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(n, size=size, replace=False))
        elif self.kind == "class":
            bad = [c for c in self.classes if not 0 <= c < num_classes]
            if bad:
                raise ForgetSpecError(f"unknown class {bad} in {self.spec}: this dataset has classes 0..{num_classes - 1}")
            idx = np.flatnonzero(np.isin(labels, self.classes))
            if len(idx) == 0:
                raise ForgetSpecError(f"{self.spec}: the training set has no sample of these classes")
        elif self.kind in SEARCHED_KINDS:
            raise ForgetSpecError(
                f"{self.spec} is found by a search on a trained model: `obliviate bench classifier` runs it, or write "
                "the set with `obliviate worst-case ... --out FILE` and use indices:FILE"
            )
        else:
            idx = read_indices_file(self.path)
        check_indices(idx, n)
        return idx


def check_indices(idx: np.ndarray, n: int) -> None:
    """Raise unless ``idx`` is a non-empty set of unique in-range indices that leaves something to retain."""
    problems = []
    if len(idx) == 0:
        raise ForgetSpecError("the forget set is empty")
    out = idx[(idx < 0) | (idx >= n)]
    if len(out):
        problems.append(f"{len(out)} indices outside 0..{n - 1} (e.g. {out[:5].tolist()})")
    uniq, counts = np.unique(idx, return_counts=True)
    dup = uniq[counts > 1]
    if len(dup):
        problems.append(f"{len(dup)} duplicated indices (e.g. {dup[:5].tolist()})")
    if not problems and len(uniq) >= n:
        problems.append(f"it covers all {n} training samples: nothing would be left to retain")
    if problems:
        raise ForgetSpecError("invalid forget set: " + "; ".join(problems))


def read_indices_file(path: str | Path) -> np.ndarray:
    """Read a forget-indices file: integers separated by whitespace or commas; '#' starts a comment.

    The indices are positions in the dataset's (fixed) training split. Returned sorted.
    """
    path = Path(path)
    if not path.is_file():
        raise ForgetSpecError(f"indices file {path} does not exist" if not path.exists()
                              else f"indices file {path} is not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ForgetSpecError(f"indices file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ForgetSpecError(f"cannot read indices file {path}: {exc.strerror or exc}") from None
    values: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        for token in re.split(r"[\s,]+", line.strip()):
            if not token:
                continue
            try:
                value = int(token)
            except ValueError:
                raise ForgetSpecError(f"{path}:{lineno}: {token!r} is not an integer index") from None
            if not -(2**63) <= value < 2**63:
                raise ForgetSpecError(f"{path}:{lineno}: index {token} is far outside any training set")
            values.append(value)
    if not values:
        raise ForgetSpecError(f"indices file {path} lists no index: the forget set is empty")
    return np.sort(np.asarray(values, dtype=np.int64))


def write_indices_file(path: str | Path, indices: np.ndarray, comment: str = "") -> Path:
    """Write indices one per line (atomic), with optional '#' comment lines on top."""
    header = "".join(f"# {line}\n" for line in comment.splitlines() if line)
    body = "".join(f"{int(i)}\n" for i in np.sort(np.asarray(indices)))
    return atomic_write_text(path, header + body)
