"""Peak memory of a block of code, for the benches' rows and the performance harness.

On a CUDA device: the caching allocator's peak (``torch.cuda.max_memory_allocated``) above what was
allocated when the block started. On the CPU: the process's resident-set high-water mark above the
resident set at the start. Before the block, garbage is collected and glibc is asked to hand freed
heap pages back to the system (``malloc_trim``), so memory the block reuses from earlier work counts
as its own. Linux lets a process reset its high-water mark (``/proc/self/clear_refs``), which makes the
CPU number exact; elsewhere a background thread samples the resident set every 5 ms (psutil), which
can miss a short spike.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")
_MB = 1024.0 * 1024.0


@dataclass
class PeakMemory:
    """What :func:`peak_memory` measured, in MiB: ``peak_mb`` above the start (the block's own need),
    the absolute peak, and where it was measured (``cuda``, ``cpu-hwm`` or ``cpu-sampled``)."""

    peak_mb: float = 0.0
    absolute_mb: float = 0.0
    source: str = ""


@contextlib.contextmanager
def peak_memory(device: torch.device | str | None = None) -> Iterator[PeakMemory]:
    """Measure the peak memory of the ``with`` block on ``device`` (default: CUDA when present, else CPU)."""
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    result = PeakMemory()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        result.peak_mb, result.absolute_mb, result.source = (peak - start) / _MB, peak / _MB, "cuda"
        return
    _release_free_memory()
    start = _rss_bytes()
    if _reset_high_water_mark():
        yield result
        peak = _status_kib("VmHWM") * 1024
        result.source = "cpu-hwm"
    else:
        sampler = _RssSampler(start)
        sampler.start()
        try:
            yield result
        finally:
            sampler.stop()
        peak = max(sampler.peak, _rss_bytes())
        result.source = "cpu-sampled"
    result.peak_mb, result.absolute_mb = max(peak - start, 0) / _MB, peak / _MB


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{_STATUS} has no {field}")
    return int(match.group(1))


def _rss_bytes() -> int:
    try:
        return _status_kib("VmRSS") * 1024
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def _release_free_memory() -> None:
    """Collect garbage and return free heap pages to the system (glibc's ``malloc_trim``; elsewhere a no-op)."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_high_water_mark() -> bool:
    """Reset this process's VmHWM to its current resident set (Linux >= 4.0); False where impossible."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
        return True
    except OSError:
        return False


class _RssSampler(threading.Thread):
    def __init__(self, start: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.peak, self.interval, self._stop_event = start, interval, threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
