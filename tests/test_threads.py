"""Thread-count choice (obliviate.utils.threads) and what a method's timer holds (warm-up, bookkeeping)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from obliviate.bench import rows
from obliviate.cli import main
from obliviate.errors import ConfigError
from obliviate.utils import resources, threads
from obliviate.utils.env import environment

NO_CGROUP = Path("/nonexistent-cgroup")


@pytest.fixture(autouse=True)
def _clean_state():
    before = torch.get_num_threads()
    yield
    threads.set_cli_override(None)
    threads.clear_choices()
    torch.set_num_threads(before)


def _cpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)


def test_one_usable_cpu_gives_one_thread(monkeypatch):
    _cpus(monkeypatch, 1)
    choice = threads.choose_threads(None, env={}, cgroup_root=NO_CGROUP)
    assert (choice.threads, choice.cpus, choice.source) == (1, 1, "auto")


def test_large_model_uses_every_usable_cpu_and_tiny_model_one(monkeypatch):
    _cpus(monkeypatch, 8)
    assert threads.choose_threads(threads.TINY_PARAMS + 1, env={}, cgroup_root=NO_CGROUP).threads == 8
    tiny = threads.choose_threads(160_000, env={}, cgroup_root=NO_CGROUP)
    assert tiny.threads == 1 and "160000 parameters" in tiny.reason


def test_cgroup_quota_caps_the_affinity(monkeypatch, tmp_path):
    _cpus(monkeypatch, 8)
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert threads.choose_threads(None, env={}, cgroup_root=tmp_path).threads == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.choose_threads(None, env={}, cgroup_root=tmp_path).threads == 8
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU still runs one thread
    assert threads.choose_threads(None, env={}, cgroup_root=tmp_path).threads == 1


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None


@pytest.mark.parametrize("env, processes, expected", [
    ({"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "4"}, 4, 2),
    ({"LOCAL_WORLD_SIZE": "3"}, 3, 2),
    ({"PYTEST_XDIST_WORKER_COUNT": "16"}, 16, 1),  # more processes than CPUs: still one thread each
])
def test_processes_sharing_the_cores_divide_them(monkeypatch, env, processes, expected):
    _cpus(monkeypatch, 8)
    choice = threads.choose_threads(None, env=env, cgroup_root=NO_CGROUP)
    assert (choice.threads, choice.processes) == (expected, processes)


def test_explicit_counts_win_in_order(monkeypatch):
    _cpus(monkeypatch, 1)
    env = {"OBLIVIATE_THREADS": "5", "OMP_NUM_THREADS": "7", "PYTEST_XDIST_WORKER_COUNT": "4"}
    assert threads.choose_threads(100, env={"OMP_NUM_THREADS": "7"}, cgroup_root=NO_CGROUP).threads == 7
    choice = threads.choose_threads(100, env=env, cgroup_root=NO_CGROUP)
    assert (choice.threads, choice.source) == (5, "OBLIVIATE_THREADS")
    threads.set_cli_override(3)
    assert threads.choose_threads(100, env=env, cgroup_root=NO_CGROUP).source == "--threads"
    assert threads.choose_threads(100, env=env, cgroup_root=NO_CGROUP).threads == 3
    assert threads.choose_threads(100, override=2, env=env, cgroup_root=NO_CGROUP).threads == 2


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_bad_env_count_is_a_config_error(value):
    with pytest.raises(ConfigError, match="OBLIVIATE_THREADS"):
        threads.choose_threads(None, env={"OBLIVIATE_THREADS": value}, cgroup_root=NO_CGROUP)


def test_cli_rejects_zero_threads(capsys):
    assert main(["bench", "classifier", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_choice_is_applied_restored_and_recorded_in_the_environment():
    torch.set_num_threads(1)
    with threads.thread_scope(10**9, scope="test bench", override=2) as choice:
        assert torch.get_num_threads() == 2 == choice.threads
    assert torch.get_num_threads() == 1
    env = environment()
    assert env["threads"] == 2
    assert env["thread_choices"] == [{"scope": "test bench", **choice.as_dict()}]
    assert env["thread_choices"][0]["source"] == "--threads"


def test_method_timer_excludes_memory_bookkeeping(monkeypatch, tmp_path):
    """The peak-memory bookkeeping (gc + malloc_trim before, the high-water-mark reads around) is made
    0.2 s slower on each side (>= 0.6 s in all); the row's seconds must still be the method's 0.05 s
    (margin 0.25 s for a loaded machine's scheduling)."""
    calls = []
    release, status = resources._release_free_memory, resources._status_kib

    def slow_release() -> None:
        calls.append("release")
        time.sleep(0.2)
        release()

    def slow_status(field: str) -> int:
        if field == "VmHWM":
            calls.append("hwm")
            time.sleep(0.2)
        return status(field)

    monkeypatch.setattr(resources, "_release_free_memory", slow_release)
    monkeypatch.setattr(resources, "_status_kib", slow_status)
    rows.run_method_row(rows.RowStore(tmp_path), {"method": "x"}, "x", lambda: time.sleep(0.05),
                        lambda model: {"metrics": {}}, lambda evaluation, seconds: {"seconds": seconds, "status": "ok"})
    assert "release" in calls  # the bookkeeping ran, slowly
    row = json.loads(next((tmp_path / "rows").glob("*.json")).read_text())
    assert 0.05 <= row["seconds"] < 0.3


def test_warm_up_leaves_the_random_generators_alone():
    from obliviate.utils.warmup import warm_up

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    warm_up()
    assert torch.equal(torch.rand(3), expected)
    assert "torch._dynamo" in sys.modules  # the lazy import the first optimizer triggers is paid


_FIRST_FIT = """
import json, sys
from obliviate.api import unlearn
from obliviate.data import load_image_dataset
from obliviate.methods import get_method
from obliviate.models import build_classifier
from obliviate.tasks import Task
from obliviate.utils.progress import set_quiet
if sys.argv[1] == "no-warm-up":  # the code before the warm-up existed: the check below must see the imports
    import obliviate.utils.warmup as warmup
    warmup.warm_up = lambda *args, **kwargs: None
set_quiet(True)
splits = load_image_dataset("digits", max_train=400)
task = Task.build(splits, "random:0.1", 0)
model = build_classifier("cnn", in_channels=1, num_classes=10)
method, imported = get_method("finetune"), []
timed_run = method.run
def run(self, *args, **kwargs):
    before = set(sys.modules)
    result = timed_run(self, *args, **kwargs)
    imported.append(sorted(set(sys.modules) - before))
    return result
method.run = run
for _ in range(2):
    unlearn(model, task, "finetune", seed=0, epochs=1, batch_size=32)
print(json.dumps(imported))
"""


@pytest.mark.parametrize("variant", ["as-shipped", "no-warm-up"])
def test_first_unlearn_of_a_fresh_process_imports_nothing_inside_the_timer(variant):
    """The first method run of a fresh process used to pay torch's lazy imports (torch._dynamo, accelerate:
    ~1 s idle, ~10 s on a loaded machine) inside its timer. Checked by what the run imports rather than by
    wall time, which a loaded machine makes noise: after the warm-up, the first timed run imports no module
    (and without the warm-up it imports hundreds, so the check can fail)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", _FIRST_FIT, variant], capture_output=True, text=True, env=env,
                         timeout=600, check=True)
    first, second = json.loads(out.stdout.strip().splitlines()[-1])
    assert second == []
    if variant == "as-shipped":
        assert first == [], first[:20]
    else:
        assert "torch._dynamo" in first and len(first) > 100, first[:20]
