"""Run a pytest selection under every torch kernel path x thread count x fixture seed; tabulate the margins.

The behaviour tests (``-m behaviour``) record their accuracies and the slack of each assertion
(``m_*``: points above the bound, negative = failed) with pytest's ``record_property``; this script runs
the selection once per configuration, in a fresh process (``ATEN_CPU_CAPABILITY`` is read when torch
loads), reads the properties back from ``--junitxml`` and prints one row per test and configuration,
then each test's worst margin over the grid. Example (about 1-2 min per configuration on one core)::

    python benchmarks/numerics_grid.py --out benchmarks/results/numerics_grid.json
    python benchmarks/numerics_grid.py -k laf --capabilities avx512 --seeds 0 1 2 -- -m behaviour

Everything after ``--`` is passed to pytest (default: ``-m behaviour``). Exit status 1 if any run failed.
``--from-json A.json B.json`` prints the tables of saved grids (e.g. parts run in parallel) without running.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from obliviate.utils.io import atomic_write_json  # noqa: E402


def effective_capability(env: dict[str, str]) -> str:
    """The kernel path torch actually uses under ``env`` (a CPU without AVX-512 falls back to AVX2)."""
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def run_config(capability: str, threads: int, seed: int, pytest_args: list[str]) -> dict:
    """One pytest run; returns the effective capability, the exit code and every test's outcome and properties."""
    # OMP_WAIT_POLICY=PASSIVE: on shared cores libgomp's spinning made a 2-thread epoch ~10x slower (measured:
    # one finetune epoch 16.5 s spinning vs 1.9 s passive); it changes no result.
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "OBLIVIATE_TEST_THREADS": str(threads),
           "OBLIVIATE_TEST_SEED": str(seed), "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
               f"--junitxml={xml}", "-o", "junit_family=xunit1", *pytest_args]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        tests = parse_junit(xml) if xml.exists() else {}
    return {"capability": capability, "effective": effective_capability(env), "threads": threads, "seed": seed,
            "returncode": proc.returncode, "tests": tests, "tail": proc.stdout[-2000:] if proc.returncode else ""}


def parse_junit(path: Path) -> dict[str, dict]:
    """{test name: {"outcome": passed|failed|skipped|error, property: value, ...}} from a junit xml file."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
        row: dict = {"outcome": outcome}
        for prop in case.iter("property"):
            value = prop.get("value", "")
            try:
                row[prop.get("name")] = float(value)
            except ValueError:
                row[prop.get("name")] = value
        out[name] = row
    return out


def fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) and abs(value) < 1 else (
        f"{value:.1f}" if isinstance(value, float) else str(value))


#: the columns of the per-run table (every property is in --out's JSON)
SHOWN = ["m_forget", "m_keep", "m_retain", "m_gap", "m_ft", "forget_after", "keep_before", "keep_after", "ft_forget", "cos_f",
         "gap_salun", "gap_random_label"]


def print_tables(runs: list[dict]) -> None:
    present = {k for run in runs for row in run["tests"].values() for k in row}
    keys = [k for k in SHOWN if k in present]
    print("| test | capability | threads | seed | outcome | " + " | ".join(keys) + " |")
    print("|---" * (5 + len(keys)) + "|")
    names = sorted({n for run in runs for n in run["tests"]})
    for name in names:
        for run in runs:
            row = run["tests"].get(name)
            if row is None:
                continue
            cells = [fmt(row[k]) if k in row else "" for k in keys]
            cap = run["effective"] if run["effective"].lower() == run["capability"] else f"{run['capability']}->{run['effective']}"
            print(f"| {name} | {cap} | {run['threads']} | {run['seed']} | {row['outcome']} | " + " | ".join(cells) + " |")
    print("\nWorst margin of each test over the grid (points above the assertion's bound; < 0 fails):\n")
    margin_keys = [k for k in keys if k.startswith("m_")]
    print("| test | runs | not passed | " + " | ".join(f"min {k}" for k in margin_keys) + " |")
    print("|---" * (3 + len(margin_keys)) + "|")
    for name in names:
        rows = [run["tests"][name] for run in runs if name in run["tests"]]
        failed = sum(r["outcome"] != "passed" for r in rows)
        mins = [fmt(min(r[k] for r in rows if k in r)) if any(k in r for r in rows) else "" for k in margin_keys]
        print(f"| {name} | {len(rows)} | {failed} | " + " | ".join(mins) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capabilities", nargs="+", default=["default", "avx2", "avx512"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("-k", help="pytest -k expression")
    parser.add_argument("--jobs", type=int, default=1, help="configurations run at once (default 1)")
    parser.add_argument("--out", type=Path, help="write every run's outcomes and properties to this JSON file")
    parser.add_argument("--from-json", type=Path, nargs="+", help="only print the tables of these saved grids")
    parser.add_argument("pytest_args", nargs="*", help="after --: pytest arguments (default: -m behaviour)")
    args = parser.parse_args()
    if args.from_json:
        runs = [run for path in args.from_json for run in json.loads(path.read_text())["runs"]]
        print_tables(runs)
        return int(any(run["returncode"] != 0 for run in runs))
    pytest_args = args.pytest_args or ["-m", "behaviour"]
    if args.k:
        pytest_args += ["-k", args.k]
    grid = list(itertools.product(args.seeds, args.threads, args.capabilities))
    runs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_config, capability, threads, seed, pytest_args) for seed, threads, capability in grid]
        for future in concurrent.futures.as_completed(futures):
            run = future.result()
            runs.append(run)
            n_failed = sum(r["outcome"] != "passed" for r in run["tests"].values())
            print(f"# {run['capability']} ({run['effective']}) threads={run['threads']} seed={run['seed']}: exit "
                  f"{run['returncode']}, {len(run['tests'])} tests, {n_failed} not passed", file=sys.stderr, flush=True)
            if args.out:  # after every run, so a long grid leaves its evidence even if stopped
                atomic_write_json(args.out, {"pytest_args": pytest_args, "runs": runs})
    runs.sort(key=lambda r: (r["seed"], r["threads"], args.capabilities.index(r["capability"])))
    print_tables(runs)
    return int(any(run["returncode"] != 0 for run in runs))


if __name__ == "__main__":
    sys.exit(main())
