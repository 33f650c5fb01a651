"""Peak memory of ``obliviate unlearn --family lm``'s data preparation against the forget file's size.

    python benchmarks/lm_memory.py --sizes 2,8,32,128 --old-sizes 2,8

For each size a forget file of generated paragraphs (words of the ``bios`` corpus, 40-120 words a
paragraph, blank-line separated) is written, and a fresh Python process runs the CLI's data path
(:func:`obliviate.lm.unlearn.unlearn_lm_from_dirs` up to training) on a tiny Llama saved as a model
directory, measuring with :func:`obliviate.utils.resources.peak_memory` (the resident set's high-water
mark above the start of each phase):

1. ``scan``: one streaming pass that checks the file (UTF-8, at least one document), counts and hashes
   its documents (``scan_documents``);
2. ``dataset``: the second streaming pass, tokenised in chunks into a ``TokenDataset`` (``max_length``
   512, the CLI's default);
3. ``step``: one NPO training step (reference log-probs of one batch, forward, backward, Adam step) on a
   batch of 32 sequences from that dataset.

``process_peak_mb`` is the child process's whole high-water mark (interpreter, torch and transformers
included). ``--old-sizes`` repeats phase 2 with the code before the bounded-memory change (dense
``documents x max_length`` int64 tensors, all documents read into memory at once), from ``--old-src``
(default: none; pass a checkout's ``src`` to compare). A least-squares line ``peak = a + b x input MB``
over the new path's sizes states the budget. Writes result.json and memory.png under
benchmarks/results/lm_memory/. One tokenizer thread (RAYON_NUM_THREADS=1), one torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "lm_memory"
MAX_LENGTH = 512
BATCH = 32


def write_text(path: Path, megabytes: float, seed: int = 0) -> None:
    """About ``megabytes`` MB of paragraphs of bios words, separated by blank lines."""
    from obliviate.lm.bios import make_bios

    words = sorted({w for t in make_bios(n_people=40, seed=0).all_text() for w in t.split()})
    rng = np.random.default_rng(seed)
    target, written = int(megabytes * 1e6), 0
    with path.open("w", encoding="utf-8") as f:
        while written < target:
            lengths = rng.integers(40, 121, size=256)
            picks = rng.integers(0, len(words), size=int(lengths.sum()))
            bounds = np.concatenate(([0], np.cumsum(lengths)))
            block = "\n\n".join(" ".join(words[i] for i in picks[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
            block = block[: target - written] + "\n\n"
            f.write(block)
            written += len(block.encode("utf-8"))


def make_model(directory: Path) -> None:
    from obliviate.lm.bios import make_bios
    from obliviate.lm.model import save_causal_lm, tiny_llama
    from obliviate.lm.tokenizer import train_bpe_tokenizer

    corpus = make_bios(n_people=40, seed=0)
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=512)
    save_causal_lm(tiny_llama(len(tok), seed=0), tok, directory)


def child(model_dir: Path, forget: Path, retain: Path, impl: str) -> dict:
    """Runs in a fresh process: the phases of the module doc, with their peaks."""
    import torch

    from obliviate.lm.data import lm_dataset
    from obliviate.lm.model import load_causal_lm
    from obliviate.utils.resources import _status_kib, peak_memory

    torch.set_num_threads(1)
    model, tok = load_causal_lm(model_dir, device="cpu")
    result: dict = {"impl": impl, "input_mb": forget.stat().st_size / 1e6}
    start = time.perf_counter()
    if impl == "new":
        from obliviate.lm.documents import scan_documents

        with peak_memory("cpu") as scan_peak:
            docs = scan_documents(forget, "paragraphs", what="forget")
            scan_documents(retain, "paragraphs", what="retain")
        result["scan_peak_mb"], result["scan_s"] = scan_peak.peak_mb, time.perf_counter() - start
        source = docs
    else:
        from obliviate.lm.documents import read_documents

        source = None
    start = time.perf_counter()
    with peak_memory("cpu") as data_peak:
        if source is None:
            source = read_documents(forget, "paragraphs", what="forget")
        dataset = lm_dataset(tok, source, max_length=MAX_LENGTH)
    result["dataset_peak_mb"], result["dataset_s"] = data_peak.peak_mb, time.perf_counter() - start
    result["documents"] = len(dataset)
    if impl == "new":
        result["tokens"] = int(dataset.lengths.sum())
        result["dataset_bytes"] = dataset.nbytes()
        result["id_bytes_per_token"] = dataset.ids.itemsize
    else:
        result["tokens"] = int(dataset.tensors[1].sum())
        result["dataset_bytes"] = int(sum(t.numel() * t.element_size() for t in dataset.tensors))
    if impl == "new":
        from obliviate.lm.data import sequence_logprobs
        from obliviate.methods.lm.common import frozen_copy, with_reference_logprobs
        from obliviate.methods.lm.npo import npo_loss

        start = time.perf_counter()
        with peak_memory("cpu") as step_peak:
            reference = frozen_copy(model)
            batch_ds = with_reference_logprobs(reference, _first(dataset, BATCH))
            ids, mask, labels, ref = batch_ds.tensors
            opt = torch.optim.Adam(model.parameters(), lr=1e-5)
            model.train()
            logp, _ = sequence_logprobs(model, [ids, mask, labels])
            loss = npo_loss(logp, ref, 0.1)
            loss.backward()
            opt.step()
        result["step_peak_mb"], result["step_s"] = step_peak.peak_mb, time.perf_counter() - start
        result["step_loss"] = float(loss)
    result["process_peak_mb"] = _status_kib("VmHWM") / 1024
    return result


def _first(dataset, n: int):
    """The first ``n`` sequences of a TokenDataset (a view of its arrays)."""
    from obliviate.lm.data import TokenDataset

    n = min(n, len(dataset))
    end = int(dataset.offsets[n])
    return TokenDataset(dataset.ids[:end], dataset.offsets[: n + 1], pad=dataset.pad, max_length=dataset.max_length)


def run_child(args: argparse.Namespace, impl: str, src: str, model_dir: Path, forget: Path, retain: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1", RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, __file__, "--child", impl, str(model_dir), str(forget), str(retain)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {impl} on {forget} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit_line(xs: list[float], ys: list[float]) -> dict[str, float]:
    b, a = np.polyfit(xs, ys, 1)
    residual = float(np.max(np.abs(np.polyval([b, a], xs) - np.asarray(ys))))
    return {"a_mb": float(a), "b_mb_per_input_mb": float(b), "max_residual_mb": residual}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,8,32,128", help="forget file sizes in MB (new code)")
    parser.add_argument("--old-sizes", default="", help="sizes to run with the old code from --old-src")
    parser.add_argument("--old-src", default="", help="src directory of a checkout before the change")
    parser.add_argument("--child", nargs=4, metavar=("IMPL", "MODEL", "FORGET", "RETAIN"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--replot", action="store_true", help="only redraw memory.png from OUT/result.json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((args.out / "result.json").read_text()), args.out / "memory.png")
        return
    if args.child:
        impl, model_dir, forget, retain = args.child
        print(json.dumps(child(Path(model_dir), Path(forget), Path(retain), impl)))
        return
    new_src = str(Path(__file__).resolve().parents[1] / "src")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_model(work / "model")
        retain = work / "retain.txt"
        write_text(retain, 0.05, seed=1)
        sizes = [float(s) for s in args.sizes.split(",") if s]
        old_sizes = [float(s) for s in args.old_sizes.split(",") if s] if args.old_src else []
        for size in sorted(set(sizes) | set(old_sizes)):
            forget = work / f"forget-{size:g}.txt"
            write_text(forget, size)
            for impl, src, todo in (("new", new_src, sizes), ("old", args.old_src, old_sizes)):
                if size in todo:
                    row = run_child(args, impl, src, work / "model", forget, retain)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
            forget.unlink()
    new = [r for r in rows if r["impl"] == "new"]
    report = {
        "command": "python benchmarks/lm_memory.py " + " ".join(sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "max_length": MAX_LENGTH,
        "rows": rows,
        "fit_dataset_peak": fit_line([r["input_mb"] for r in new], [r["dataset_peak_mb"] for r in new]),
        "fit_process_peak": fit_line([r["input_mb"] for r in new], [r["process_peak_mb"] for r in new]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    from obliviate.utils.io import atomic_write_json

    atomic_write_json(args.out / "result.json", report)
    plot(report, args.out / "memory.png")
    print(f"wrote {args.out / 'result.json'} and memory.png")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    names = {"new": "streamed, unpadded uint16", "old": "before: dense int64, N x 512"}
    for impl, style in (("new", "o-"), ("old", "s--")):
        rows = sorted((r for r in report["rows"] if r["impl"] == impl), key=lambda r: r["input_mb"])
        if not rows:
            continue
        xs = [r["input_mb"] for r in rows]
        ax.plot(xs, [r["dataset_peak_mb"] for r in rows], style, label=f"{names[impl]}: tokenise + dataset")
        ax.plot(xs, [r["process_peak_mb"] for r in rows], style.replace("-", ":").replace("::", ":"), alpha=0.6,
                label=f"{names[impl]}: whole process incl. one NPO step" if impl == "new" else
                f"{names[impl]}: whole process (no training step)")
    ax.set_xlabel("forget file (MB)")
    ax.set_ylabel("peak resident memory (MiB)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"obliviate unlearn --family lm: data preparation, max_length {report['max_length']}")
    fig.tight_layout()
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as tmp:
        fig.savefig(tmp.name, dpi=120)
    os.replace(tmp.name, path)
    plt.close(fig)


if __name__ == "__main__":
    main()
