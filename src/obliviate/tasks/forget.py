"""Forget requests: parse a spec string and resolve it to training-set indices.

Specs:
  ``random:0.1``     a random 10% of the training set (0 < fraction < 1)
  ``random:500``     500 random training samples
  ``class:3``        every training sample of class 3 (``class:3,5`` for several classes)
  ``indices:FILE``   the training indices listed in FILE (see :func:`read_indices_file`)
  ``worst_case:N[,lower=M][,mode=easiest]``   the N (count or fraction) hardest samples to forget, found by
                     the bi-level search of Fan et al. 2024 (:mod:`obliviate.classifier.worst_case`) on the
                     original model: the bench runs it; ``obliviate worst-case`` writes an indices file
  ``worst_classes:K[,lower=M][,mode=easiest]``   the K hardest classes (class-wise variant)

Random selections depend only on the seed, so every method of one benchmark seed forgets the same set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
            idx = read_indices_file(self.path, n)
            try:
                check_indices(idx, n)
            except ForgetSpecError as exc:
                raise ForgetSpecError(f"{exc} (indices file {self.path})") from None
            return idx
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


#: bytes of an indices file parsed at a time (whole lines): memory stays ~10x this plus the indices
INDICES_BLOCK_BYTES = 1 << 22
_INT64 = (-(2**63), 2**63)
_COMMENT = re.compile(rb"#[^\n\r\v\f\x1c\x1d\x1e]*")  # to the end of the line (str.splitlines' ASCII breaks)
_ASCII_SEPARATORS = np.zeros(256, dtype=bool)
_ASCII_SEPARATORS[list(b" \t\n\r\v\f\x1c\x1d\x1e\x1f,")] = True  # what [\s,] matches in ASCII


def read_indices_file(path: str | Path, n: int | None = None) -> np.ndarray:
    """Read a forget-indices file: integers separated by whitespace or commas; '#' starts a comment.

    The indices are positions in the dataset's (fixed) training split. Returned sorted. The file is
    parsed in blocks of :data:`INDICES_BLOCK_BYTES` with numpy; with ``n`` (the training set's size) a
    file listing more than ``n`` indices, or an index outside ``0..n-1``, is refused as soon as a block
    shows it, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ForgetSpecError(f"indices file {path} does not exist" if not path.exists()
                              else f"indices file {path} is not a regular file")
    parts: list[np.ndarray] = []
    count = 0
    for first_line, block in _line_blocks(path):
        values = _parse_block(path, first_line, block)
        count += len(values)
        if n is not None:
            _check_early(path, values, count, n)
        parts.append(values)
    if not count:
        raise ForgetSpecError(f"indices file {path} lists no index: the forget set is empty")
    return np.sort(np.concatenate(parts))


def _line_blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, bytes) of consecutive blocks of whole lines of ``path``, checked to be UTF-8."""
    line, offset, rest = 1, 0, b""
    try:
        with path.open("rb") as f:
            while True:
                data = f.read(INDICES_BLOCK_BYTES)
                at_end = not data
                if 0 < len(data) < INDICES_BLOCK_BYTES:  # a short read: the end of a file (a pipe may have more)
                    more = f.read(INDICES_BLOCK_BYTES)
                    data, at_end = data + more, not more
                buffer = rest + data
                if not buffer:
                    return
                # the last block runs to the end of the file, so a file of one block is checked to be UTF-8
                # as a whole before any of it is parsed
                cut = len(buffer) if at_end else buffer.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: read on
                    rest = buffer
                    continue
                block, rest = buffer[:cut], buffer[cut:]
                try:
                    block.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ForgetSpecError(f"indices file {path} is not UTF-8 text ({exc.reason} at byte "
                                          f"{offset + exc.start})") from None
                yield line, block
                line, offset = line + _line_breaks(block), offset + len(block)
                if at_end:
                    return
    except OSError as exc:
        raise ForgetSpecError(f"cannot read indices file {path}: {exc.strerror or exc}") from None


def _line_breaks(block: bytes) -> int:
    """How many lines ``block`` (whole lines) holds, counted as ``str.splitlines`` does."""
    if not block.isascii():
        return len(block.decode("utf-8").splitlines())
    return sum(block.count(c) for c in (b"\n", b"\r", b"\v", b"\f", b"\x1c", b"\x1d", b"\x1e")) - block.count(b"\r\n")


def _parse_block(path: Path, first_line: int, block: bytes) -> np.ndarray:
    """The integers of one block: vectorised for ASCII text, line by line otherwise (and to name the
    line of a bad token)."""
    if not block.isascii():
        return _parse_lines(path, first_line, block.decode("utf-8"))
    if b"#" in block:
        block = _COMMENT.sub(b" ", block)
    chars = np.frombuffer(block, dtype=np.uint8).copy()
    chars[_ASCII_SEPARATORS[chars]] = ord(" ")
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    sign = (chars == ord("+")) | (chars == ord("-"))
    space = chars == ord(" ")
    # a sign must start a token and be followed by a digit; anything else is not an integer
    bad_sign = sign & ~np.append(digit[1:], False) | sign & np.insert(~space[:-1], 0, False)
    if not (digit | sign | space).all() or bad_sign.any():
        return _parse_lines(path, first_line, block.decode("utf-8"))
    token = ~space
    edges = np.flatnonzero(np.diff(np.concatenate(([False], token, [False])).astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    for i in np.flatnonzero(ends - starts > 18):  # might not fit int64: Python decides
        if not _INT64[0] <= int(block[starts[i]:ends[i]]) < _INT64[1]:
            return _parse_lines(path, first_line, block.decode("utf-8"))
    if not len(starts):
        return np.empty(0, dtype=np.int64)
    values = np.fromstring(chars.tobytes(), dtype=np.int64, sep=" ")
    if len(values) != len(starts):  # numpy disagrees with the token count: let the exact path decide
        return _parse_lines(path, first_line, block.decode("utf-8"))
    return values


def _parse_lines(path: Path, first_line: int, text: str) -> np.ndarray:
    """The integers of ``text`` parsed line by line with Python (exact messages with the line number)."""
    values: list[int] = []
    for lineno, line in enumerate(text.splitlines(), first_line):
        line = line.split("#", 1)[0]
        for token in re.split(r"[\s,]+", line.strip()):
            if not token:
                continue
            try:
                value = int(token)
            except ValueError:
                raise ForgetSpecError(f"{path}:{lineno}: {token!r} is not an integer index") from None
            if not _INT64[0] <= value < _INT64[1]:
                raise ForgetSpecError(f"{path}:{lineno}: index {token} is far outside any training set")
            values.append(value)
    return np.asarray(values, dtype=np.int64)


def _check_early(path: Path, values: np.ndarray, count: int, n: int) -> None:
    """Refuse as soon as the indices read so far cannot form a forget set of an ``n``-sample training set."""
    out = values[(values < 0) | (values >= n)]
    if len(out):
        raise ForgetSpecError(f"invalid forget set in indices file {path}: {len(out)} indices outside 0..{n - 1} "
                              f"(e.g. {out[:5].tolist()})")
    if count > n:
        raise ForgetSpecError(f"invalid forget set in indices file {path}: it lists at least {count} indices for a "
                              f"{n}-sample training set, so some are duplicated (and at most {n - 1} can be "
                              "forgotten, or nothing would be left to retain)")


def write_indices_file(path: str | Path, indices: np.ndarray, comment: str = "") -> Path:
    """Write indices one per line (atomic), with optional '#' comment lines on top."""
    header = "".join(f"# {line}\n" for line in comment.splitlines() if line)
    body = "".join(f"{int(i)}\n" for i in np.sort(np.asarray(indices)))
    return atomic_write_text(path, header + body)
