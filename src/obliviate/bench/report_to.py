"""``obliviate bench --report-to tensorboard|mlflow``: every finished row's metrics logged as it finishes,
to a run under the output directory (``tensorboard/`` event files, ``mlruns/`` MLflow file store).

Step = the row's index in the run; each value's name is ``FAMILY/DATASET/SPEC/METHOD/seedN/METRIC`` and
the row's identity is also logged as text (TensorBoard) or a tag (MLflow) at its step. Neither package is a
dependency: a target that is not installed is an error before anything trains.
"""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ConfigError
from .rows import row_listener

__all__ = ["check_targets", "report_rows", "row_tag", "row_values"]

#: target -> (module to import, package to install)
TARGETS: dict[str, tuple[str, str]] = {
    "tensorboard": ("torch.utils.tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
}


def _module(target: str) -> ModuleType:
    if target not in TARGETS:
        raise ConfigError(f"--report-to {target}: unknown; known: {', '.join(TARGETS)}")
    module, package = TARGETS[target]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"--report-to {target} needs the {package} package, which is not installed ({exc}); "
                          f"pip install {package}, or drop --report-to {target}. Nothing was run.") from None


def check_targets(targets: list[str] | None) -> None:
    """Raise :class:`ConfigError` when a target's package is not importable."""
    for target in targets or []:
        _module(target)


def row_tag(row: Mapping[str, Any]) -> str:
    """``family/dataset/spec/method/seedN`` of a result row."""
    task = row.get("task") if isinstance(row.get("task"), Mapping) else {}
    method = row.get("method")
    name = method.get("name") if isinstance(method, Mapping) else method
    spec = task.get("forget_spec") or task.get("scenario") or "-"
    parts = (row.get("family"), task.get("dataset") or task.get("corpus"), spec, name, f"seed{row.get('seed')}")
    return "/".join(str(p) for p in parts)


def row_values(row: Mapping[str, Any]) -> dict[str, float]:
    """A row's numeric metrics, gaps to retrain (``gap_to_retrain.NAME``), seconds and time ratio."""
    values: dict[str, Any] = dict(row.get("metrics") or {})
    values |= {f"gap_to_retrain.{k}": v for k, v in (row.get("gap_to_retrain") or {}).items()}
    values |= {k: row.get(k) for k in ("seconds", "time_ratio")}
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}


class _TensorBoard:
    def __init__(self, module: ModuleType, out_dir: Path) -> None:
        self.module, self.dir, self.writer = module, out_dir / "tensorboard", None

    def log(self, step: int, tag: str, values: Mapping[str, float]) -> None:
        if self.writer is None:  # opened at the first row: the output directory exists by then
            self.writer = self.module.SummaryWriter(log_dir=str(self.dir))
        for name, value in values.items():
            self.writer.add_scalar(f"{tag}/{name}", value, global_step=step)
        self.writer.add_text("row", tag, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _MLflow:
    def __init__(self, module: ModuleType, out_dir: Path, name: str) -> None:
        self.module, self.dir, self.name, self.started = module, out_dir / "mlruns", name, False

    def log(self, step: int, tag: str, values: Mapping[str, float]) -> None:
        if not self.started:
            self.module.set_tracking_uri(self.dir.resolve().as_uri())
            self.module.set_experiment("obliviate")
            self.module.start_run(run_name=self.name)
            self.started = True
        self.module.log_metrics({_mlflow_key(f"{tag}/{name}"): v for name, v in values.items()}, step=step)
        self.module.set_tag(f"row.{step}", tag)

    def close(self) -> None:
        if self.started:
            self.module.end_run()


def _mlflow_key(name: str) -> str:
    """MLflow names take letters, digits, _ - . space / only."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)


@contextmanager
def report_rows(targets: list[str] | None, out_dir: Path, name: str) -> Iterator[None]:
    """Log every row emitted inside the block to ``targets`` (checked first: a missing package raises
    before the block runs). Failed rows take a step but log nothing."""
    loggers: list[Any] = []
    for target in dict.fromkeys(targets or []):
        module = _module(target)
        loggers.append(_TensorBoard(module, Path(out_dir)) if target == "tensorboard"
                       else _MLflow(module, Path(out_dir), name))
    if not loggers:
        yield
        return
    steps = itertools.count()

    def listener(row: dict[str, Any]) -> None:
        step = next(steps)
        if row.get("status") == "ok":
            for logger in loggers:
                logger.log(step, row_tag(row), row_values(row))

    try:
        with row_listener(listener):
            yield
    finally:
        for logger in loggers:
            logger.close()
