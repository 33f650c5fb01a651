"""Cost of every method, as ratios measured in one run: unlearning time / retrain time, peak memory, and
how both grow with the forget-set size.

    python benchmarks/performance.py --family classifier --dataset digits --sizes 1,5,10,25
    python benchmarks/performance.py --family lm --points 4          # tiny Llama on bios, nested forget sets
    python benchmarks/performance.py --family classifier --dataset fashion-mnist --max-train 10000

Runs the family's bench with the forget-size scaling series (classifier ``scaling:1,5,10,25``: nested
random sets of that % of the training set; lm ``scaling:K``: K nested sets of bios people), every method
of the family unless ``--methods``. Each point compares a method with the exact retrain on the same
forget set, trained in the same run. Every bench row carries the unlearning step's ``peak_memory_mb``
(resident-set high-water mark above the start on a CPU, the allocator's peak on CUDA; see
``obliviate.utils.resources``). Prints and writes, under ``--out`` (default: a new directory
runs/performance/<family>-<dataset>-<timestamp>, so the committed results are never touched by accident;
``--overwrite`` without ``--out`` replaces the committed benchmarks/results/performance/<family>-<dataset>):

- performance.json: per method and size, mean over seeds of seconds, time ratio (unlearning / retrain),
  growth (seconds / the method's seconds at the smallest size) and peak memory;
- time_ratio.png, growth.png, peak_memory.png; the bench's results.json and report.html.

The membership-attack scoring cost (all attacks vs one forward pass) is ``benchmarks/lm_scoring.py``.
On a CUDA machine both scripts run unchanged (the bench picks the device; memory is the GPU's).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from obliviate.classifier.bench import ClassifierBench
from obliviate.bench.run import run_suite
from obliviate.errors import ObliviateError
from obliviate.methods import METHODS, load_all
from obliviate.utils.io import atomic_write_json
from obliviate.utils.progress import set_quiet

#: the committed results (written only with --overwrite, or an explicit --out)
COMMITTED = Path(__file__).resolve().parent / "results" / "performance"
#: reference rows: retrain is the denominator, original costs nothing
REFERENCES = ("retrain", "original")


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """method -> x (forget size) -> means over seeds of seconds, time_ratio, growth and peak_memory_mb."""
    cells: dict[str, dict[float, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for run in runs:
        series = run["task"].get("series") or {}
        if run["status"] != "ok" or series.get("kind") != "scaling" or run["method"]["name"] == "original":
            continue
        cell = cells[run["method"]["name"]][float(series["x"])]
        cell["seconds"].append(run["seconds"])
        cell["retrain_seconds"].append(run["retrain_seconds"])
        if run.get("time_ratio") is not None:
            cell["time_ratio"].append(run["time_ratio"])
        if run.get("peak_memory_mb") is not None:
            cell["peak_memory_mb"].append(run["peak_memory_mb"])
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for method, by_x in cells.items():
        xs = sorted(by_x)
        first = statistics.fmean(by_x[xs[0]]["seconds"])
        out[method] = {}
        for x in xs:
            c = {k: statistics.fmean(v) if v else None for k, v in by_x[x].items()}
            c["growth"] = c["seconds"] / first if first > 0 else None
            c["seeds"] = len(by_x[x]["seconds"])
            out[method][f"{x:g}"] = c
    return out


def print_table(summary: dict, x_label: str) -> None:
    sizes = sorted({x for cells in summary.values() for x in cells}, key=float)
    for key, title, fmt in (("time_ratio", "unlearning time / retrain time", "{:.3f}"),
                            ("growth", "unlearning time / its time at the smallest forget set", "{:.2f}"),
                            ("peak_memory_mb", "peak memory of the unlearning step (MiB above its start)", "{:.1f}")):
        print(f"\n{title}  [{x_label}: {', '.join(sizes)}]")
        for method in sorted(summary, key=lambda m: (m != "retrain", m)):
            vals = [summary[method].get(x, {}).get(key) for x in sizes]
            print(f"  {method:<20}" + "".join(f"{(fmt.format(v) if v is not None else '-'):>10}" for v in vals))


def plot(summary: dict, key: str, ylabel: str, x_label: str, path: Path, *, log: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    for method in sorted(summary):
        pts = [(float(x), c[key]) for x, c in summary[method].items() if c.get(key) is not None]
        if pts:
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, ys, marker="o", label=method, linestyle="--" if method == "retrain" else "-")
    ax.set_xlabel(x_label)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def output_dir(out: str | None, name: str, overwrite: bool) -> Path:
    """``--out``; else with ``--overwrite`` the committed results of ``name``; else a new directory."""
    if out is not None:
        return Path(out)
    if overwrite:
        return COMMITTED / name
    return Path("runs") / "performance" / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", choices=("classifier", "lm"), default="classifier")
    p.add_argument("--dataset", default="digits", help="classifier dataset (lm: the bios corpus)")
    p.add_argument("--max-train", type=int, default=None, help="classifier: stratified training subset")
    p.add_argument("--sizes", default="1,5,10,25", help="classifier: forget sizes in %% of the training set")
    p.add_argument("--points", type=int, default=4, help="lm: number of nested forget sets")
    p.add_argument("--people", type=int, default=40, help="lm: bios people")
    p.add_argument("--methods", default=None, help="comma list (default: every method of the family)")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--cache-dir", default=None,
                   help="model cache (default OUT.cache beside OUT: a fresh one for a new OUT, so every retrain "
                   "is timed in this run; an output may not hold an input of its run)")
    p.add_argument("--out", default=None,
                   help="output directory (default: a new runs/performance/<family>-<dataset>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what is there: without --out, the committed benchmarks/results/performance/"
                   "<family>-<dataset>")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    set_quiet(args.quiet)
    load_all()
    family = args.family
    own = METHODS.short_names(family)
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else own
    if "retrain" not in methods:
        methods = ["retrain", *methods]
    seeds = list(range(args.seeds))
    out = output_dir(args.out, f"{family}-{'bios' if family == 'lm' else args.dataset}", args.overwrite)
    args.cache_dir = args.cache_dir or str(out.with_name(out.name + ".cache"))
    if family == "classifier":
        bench: Any = ClassifierBench(dataset=args.dataset, forget=[f"scaling:{args.sizes}"], methods=methods,
                                     seeds=seeds, max_train=args.max_train, cache_dir=args.cache_dir)
        name, x_label = args.dataset, "forget size (% of train)"
    else:
        from obliviate.lm.bench import LMBench

        # methods that need another base (dp2) or leave the weights alone (eco) are not scaling points
        methods = [m for m in methods if m not in ("dp2", "eco")]
        bench = LMBench(forget=[f"scaling:{args.points}"], methods=methods, seeds=seeds, people=args.people,
                        cache_dir=args.cache_dir)
        name, x_label = "bios", "forget size (people)"
    command = "python benchmarks/performance.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        doc = run_suite(f"performance-{family}", [bench], out, command, overwrite=args.overwrite)
    except ObliviateError as exc:
        print(f"performance.py: error: {exc}", file=sys.stderr)
        return 2
    summary = summarise(doc["runs"])
    failed = sorted({r["method"]["name"] for r in doc["runs"] if r["status"] != "ok"})
    print_table(summary, x_label)
    if failed:
        print(f"\nfailed (see {out / 'bench.log'}): {', '.join(failed)}")
    atomic_write_json(out / "performance.json", {"command": command, "family": family, "dataset": name,
                                                 "x_label": x_label, "methods": summary, "failed": failed})
    plot(summary, "time_ratio", "unlearning time / retrain time", x_label, out / "time_ratio.png", log=True)
    plot(summary, "growth", "time / time at the smallest forget set", x_label, out / "growth.png")
    plot(summary, "peak_memory_mb", "peak memory of the step (MiB)", x_label, out / "peak_memory.png")
    print(f"\nwrote {out}/performance.json, time_ratio.png, growth.png, peak_memory.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
