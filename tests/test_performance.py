"""The performance harness: peak-memory measurement and benchmarks/performance.py's summary."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from obliviate.utils.resources import peak_memory

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("performance", ROOT / "benchmarks" / "performance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peak_of_block(mib: int):
    with peak_memory("cpu") as measured:
        if mib:
            block = torch.ones(mib * 2**20 // 4)  # touched: every page becomes resident
            del block
    return measured


@pytest.mark.slow
def test_peak_memory_sees_what_the_block_allocates():
    """The block's own peak, robust to the allocator and page size: an empty block is the baseline (the
    measurement's own noise), a 64 MiB block adds its 64 MiB (not hidden by 40 MiB freed just before),
    and doubling the allocation doubles the growth above the baseline."""
    warm = torch.ones(40 * 2**20 // 4)  # 40 MiB allocated and freed before: must not hide the block's own
    del warm
    idle, busy, double = _peak_of_block(0), _peak_of_block(64), _peak_of_block(128)
    assert busy.source == double.source and busy.source in ("cpu-hwm", "cpu-sampled")
    assert idle.peak_mb < 16, idle
    assert 60 <= busy.peak_mb <= idle.peak_mb + 64 + 32, busy  # 32 MiB of slack for allocator overheads
    growth = (double.peak_mb - idle.peak_mb) / (busy.peak_mb - idle.peak_mb)
    assert 1.7 <= growth <= 2.3, (idle, busy, double)
    assert busy.absolute_mb >= busy.peak_mb and double.absolute_mb >= double.peak_mb


def _run(method: str, x: float, seconds: float, retrain: float, memory: float | None, status: str = "ok") -> dict:
    return {"method": {"name": method}, "status": status, "seconds": seconds, "retrain_seconds": retrain,
            "time_ratio": seconds / retrain, "peak_memory_mb": memory,
            "task": {"series": {"kind": "scaling", "x": x}}}


def test_summary_means_over_seeds_and_growth_from_the_smallest_size():
    perf = _load_script()
    runs = [
        _run("finetune", 1, 2.0, 10.0, 5.0), _run("finetune", 1, 4.0, 10.0, 7.0),  # two seeds at 1%
        _run("finetune", 10, 6.0, 8.0, 9.0),
        _run("original", 1, 0.0, 10.0, None),  # references without a cost are left out
        _run("grad_ascent", 10, 1.0, 8.0, None, status="failed"),
        {**_run("finetune", 5, 1.0, 1.0, 1.0), "task": {"series": {"kind": "sequential", "x": 5}}},
    ]
    summary = perf.summarise(runs)
    assert set(summary) == {"finetune"}
    one, ten = summary["finetune"]["1"], summary["finetune"]["10"]
    assert one["seconds"] == pytest.approx(3.0) and one["time_ratio"] == pytest.approx(0.3)
    assert one["peak_memory_mb"] == pytest.approx(6.0) and one["seeds"] == 2 and one["growth"] == pytest.approx(1.0)
    assert ten["growth"] == pytest.approx(2.0) and ten["time_ratio"] == pytest.approx(0.75)
