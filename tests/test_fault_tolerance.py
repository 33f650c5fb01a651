"""Fault tolerance with a real SIGKILL: a job killed mid-run and started again with the same --out
resumes from its last complete checkpoint and ends bit-identical to an uninterrupted run (CPU, one
thread in every process, so the float operations happen in the same order)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from obliviate.cli import main
from obliviate.lm.model import save_causal_lm, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.training.checkpoint import checkpoint_dir_for

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture: one torch thread, as the subprocesses)

FORGET = [f"Zhora Vrelik number {i} was born in Dounmere and worked as a glassblower." for i in range(8)]
RETAIN = [f"Kwaeth Lidros {i} worked as a weaver in Pellow near the river." for i in range(6)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _kill_when(cmd: list[str], ready, *, timeout: float = 120.0) -> None:
    """Start ``cmd``, SIGKILL it as soon as ``ready()`` is true; fail if it finished first."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the job ended (rc {proc.returncode}) before the kill point:\n"
                            f"{proc.stderr.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point never came")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints only (temp dirs of an interrupted write start with a dot)."""
    root = checkpoint_dir_for(out)
    return sorted(root.glob("fit-*")) if root.is_dir() else []


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"not bit-identical: {different[:5]}"


def _resume_and_compare(argv: list[str], killed: Path, reference: Path, caplog) -> None:
    """Rerun the killed command (``argv`` ends with its --out and --checkpoint-every) in this process."""
    with caplog.at_level(logging.INFO, logger="obliviate.checkpoint"):
        assert main(argv) == 0
    assert any("resumed" in r.getMessage() for r in caplog.records), "the rerun did not resume"
    _same_weights(killed, reference)
    assert not checkpoint_dir_for(killed).exists()  # spent checkpoints are removed
    record, ref_record = (json.loads((d / "record.json").read_text()) for d in (killed, reference))
    assert record["unlearned_weights_sha256"] == ref_record["unlearned_weights_sha256"]
    assert not [p.name for p in killed.parent.iterdir() if p.name.startswith(".")]  # no half-written output


@pytest.fixture(scope="module")
def lm_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    tok = train_bpe_tokenizer(FORGET + RETAIN, vocab_size=300)
    save_causal_lm(tiny_llama(len(tok), seed=3), tok, root / "model")
    (root / "forget.txt").write_text("\n".join(FORGET) + "\n")
    (root / "retain.txt").write_text("\n".join(RETAIN) + "\n")
    return root


@pytest.mark.slow
def test_lm_unlearn_killed_twice_resumes_bit_identical(lm_job, tmp_path, caplog):
    # npo_gdr: a reference model, two data streams (retain cycles at another length), 6 epochs x 4 steps
    argv = ["unlearn", "--family", "lm", "--model", str(lm_job / "model"), "--forget", str(lm_job / "forget.txt"),
            "--retain", str(lm_job / "retain.txt"), "--documents", "lines", "--method", "npo_gdr",
            "--param", "lr=0.01", "--param", "epochs=6", "--param", "batch_size=2", "--quiet"]
    reference, killed = tmp_path / "reference", tmp_path / "out"
    assert main([*argv, "--out", str(reference)]) == 0  # uninterrupted, no checkpoints (the default path)
    resumable = [*argv, "--out", str(killed), "--checkpoint-every", "3"]
    cmd = [sys.executable, "-m", "obliviate.cli", *resumable]
    _kill_when(cmd, lambda: _checkpoints(killed))  # killed right after its first checkpoint (step 3 of 24)
    first = _checkpoints(killed)
    assert len(first) == 1 and not killed.exists()
    # a second kill, mid-epoch (step 9 = epoch 3, batch 1), after resuming from the first checkpoint
    _kill_when(cmd, lambda: any(p.name >= "fit-000-000000009" for p in _checkpoints(killed)))
    assert not killed.exists() and (_checkpoints(killed)[-1].name >= "fit-000-000000009")
    _resume_and_compare(resumable, killed, reference, caplog)


@pytest.mark.slow
def test_classifier_unlearn_killed_resumes_bit_identical(tmp_path, caplog):
    data = ["--dataset", "digits", "--max-train", "400"]
    assert main(["train", *data, "--train", "epochs=2", "--train", "batch_size=32", "--out", str(tmp_path / "model"),
                 "-q"]) == 0
    # finetune on the retain set: 2 epochs x 22 steps, checkpoint every 4 steps
    argv = ["unlearn", "--model", str(tmp_path / "model"), *data, "--forget", "class:3", "--method", "finetune",
            "--param", "epochs=2", "--param", "batch_size=16", "--param", "lr=0.05", "-q"]
    (tmp_path / "runs").mkdir()
    reference, killed = tmp_path / "runs" / "reference", tmp_path / "runs" / "out"
    assert main([*argv, "--out", str(reference)]) == 0
    resumable = [*argv, "--out", str(killed), "--checkpoint-every", "4"]
    cmd = [sys.executable, "-m", "obliviate.cli", *resumable]
    _kill_when(cmd, lambda: any(p.name >= "fit-000-000000008" for p in _checkpoints(killed)))
    assert not killed.exists()
    _resume_and_compare(resumable, killed, reference, caplog)


@pytest.mark.slow
def test_bench_killed_after_first_row_resumes_same_results(tmp_path):
    argv = ["bench", "classifier", "--dataset", "digits", "--max-train", "300", "--forget", "random:0.1",
            "--methods", "finetune,grad_ascent", "--seeds", "1", "--train", "epochs=2",
            "--mia-max-per-side", "100", "-q"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert main([*argv, "--cache-dir", str(tmp_path / "cache-a"), "--out", str(reference)]) == 0
    cmd = [sys.executable, "-m", "obliviate.cli", *argv, "--cache-dir", str(tmp_path / "cache-b"), "--out", str(killed)]
    _kill_when(cmd, lambda: any((killed / "rows").glob("*.json")) if (killed / "rows").is_dir() else False)
    rows_before = {p.name: p.read_text() for p in (killed / "rows").glob("*.json")}
    assert rows_before and not (killed / "results.json").exists()
    for text in rows_before.values():  # a row file is complete JSON or absent
        assert json.loads(text)["status"] == "ok"
    assert main([*argv, "--cache-dir", str(tmp_path / "cache-b"), "--out", str(killed)]) == 0
    assert {p.name: p.read_text() for p in (killed / "rows").glob("*.json") if p.name in rows_before} == rows_before

    def metrics(out: Path) -> dict:
        doc = json.loads((out / "results.json").read_text())
        return {(r["method"]["name"], r["seed"], r["task"]["forget_spec"]): r["metrics"] for r in doc["runs"]}

    assert metrics(killed) == metrics(reference)
