"""Scale-out through accelerate: an LM unlearning job on 2 CPU processes (gloo) matches one process.

The 2-process run is launched exactly as the README says, with the shipped DDP config:
``accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 -m obliviate.cli unlearn ...``
(on a machine without CUDA the Accelerator is built with ``cpu=True`` and accelerate runs
MULTI_CPU with the gloo backend). Both runs use the same *global* batch: ``batch_size`` is split across
the processes (``split_batches``), and the shuffled order is the same, so the two runs see the same
documents at every step; they differ only by float summation order (DDP averages the two half-batch
gradients; one process takes the mean over the whole batch).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from obliviate.cli import main
from obliviate.lm.data import lm_dataset, sequence_logprobs
from obliviate.lm.model import load_causal_lm, save_causal_lm, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

ROOT = Path(__file__).resolve().parents[1]
DDP_CONFIG = ROOT / "configs" / "accelerate" / "ddp.yaml"
# documents of (almost) equal length: the per-process token means then average to the global one
FORGET = [f"Zhora Vrelik number {i} was born in Dounmere and worked as a glassblower." for i in range(8)]
RETAIN = [f"Kwaeth Lidros {i} worked as a weaver in Pellow near the river." for i in range(8)]
# 8 forget documents, global batch 4 (2 per process), 2 epochs: 4 optimiser steps
ARGS = ["--documents", "lines", "--param", "lr=0.01", "--param", "epochs=2", "--param", "batch_size=4", "--quiet"]

# Logs every file a rank-holding process (RANK set by the launcher) opens for writing or renames into
# place, so the test can tell which process wrote what.
SITECUSTOMIZE = '''
import builtins, os
_log = os.environ.get("WRITE_LOG")
if _log and "RANK" in os.environ:
    _rank, _open, _replace = os.environ["RANK"], builtins.open, os.replace
    def _note(kind, path):
        with _open(f"{_log}.{_rank}", "a") as fh:
            fh.write(f"{kind} {path}\\n")
    def _logged_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            _note("open", os.fspath(file))
        return _open(file, mode, *args, **kwargs)
    def _logged_replace(src, dst, *args, **kwargs):
        _note("replace", os.fspath(dst))
        return _replace(src, dst, *args, **kwargs)
    builtins.open, os.replace = _logged_open, _logged_replace
    _note("started", os.getpid())
'''


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    tok = train_bpe_tokenizer(FORGET + RETAIN, vocab_size=300)
    save_causal_lm(tiny_llama(len(tok), seed=3), tok, root / "model")
    (root / "forget.txt").write_text("\n".join(FORGET) + "\n")
    (root / "retain.txt").write_text("\n".join(RETAIN) + "\n")
    return root


def _unlearn_args(root: Path, method: str, out: Path) -> list[str]:
    return ["unlearn", "--family", "lm", "--model", str(root / "model"), "--forget", str(root / "forget.txt"),
            "--retain", str(root / "retain.txt"), "--method", method, *ARGS, "--out", str(out)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _forget_nll(model_dir: Path) -> float:
    """Evaluation on a saved checkpoint: mean next-token NLL of the forget documents."""
    model, tok = load_causal_lm(model_dir, device="cpu")
    with torch.no_grad():
        logp, n = sequence_logprobs(model, lm_dataset(tok, FORGET, max_length=64).tensors)
    return float(-logp.sum() / n.sum())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["npo"])
def test_two_gloo_processes_match_one_process(job, tmp_path, method):
    single, ddp, logs = tmp_path / "single", tmp_path / "ddp", tmp_path / "logs"
    assert main(_unlearn_args(job, method, single)) == 0  # one process (this one)

    logs.mkdir()
    (logs / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WRITE_LOG": str(logs / "writes"),
           "PYTHONPATH": os.pathsep.join([str(logs), os.environ.get("PYTHONPATH", "")])}
    launcher = Path(sys.executable).with_name("accelerate")
    cmd = [str(launcher), "launch", "--config_file", str(DDP_CONFIG), "--num_processes", "2",
           "--main_process_port", str(_free_port()), "-m", "obliviate.cli",
           *_unlearn_args(job, method, ddp), "--checkpoint-every", "1"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    # the unlearned weights match the one-process run (same global batches), and they did move
    a, b = load_file(str(single / "model.safetensors")), load_file(str(ddp / "model.safetensors"))
    original = load_file(str(job / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    moved = max(float((a[k] - original[k]).abs().max()) for k in a)
    assert diff < 1e-4 < 1e-2 < moved, (diff, moved)

    # only rank 0 wrote files: rank 1 ran (it logged its start) but opened nothing for writing
    rank0 = (logs / "writes.0").read_text().splitlines()
    rank1 = (logs / "writes.1").read_text().splitlines()
    assert [line.split()[0] for line in rank1] == ["started"], rank1
    replaced = [line.split(" ", 1)[1] for line in rank0 if line.startswith("replace ")]
    assert any(path.endswith("record.json") for path in replaced)  # the record, in the temporary model dir ...
    assert str(ddp) in replaced  # ... which rank 0 renamed into place with the model
    assert any("ddp.checkpoints" in line for line in rank0)  # rank 0 also wrote the checkpoints ...
    assert not Path(str(ddp) + ".checkpoints").exists()  # ... and removed them once the model was saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "logs", "single"]  # no stray temp dirs

    record = json.loads((ddp / "record.json").read_text())
    assert record["method"] == method and record["params"]["batch_size"] == 4
    assert record["unlearned_weights_sha256"] != record["original_weights_sha256"]

    # evaluation runs on the saved checkpoints and agrees between the two runs
    nll_single, nll_ddp = _forget_nll(single), _forget_nll(ddp)
    assert abs(nll_single - nll_ddp) < 1e-4
    assert nll_ddp > _forget_nll(job / "model") + 0.01  # the forget documents got less likely
