"""Hyperparameter sweep of classifier methods on one task: how each setting's gap to retrain and
run time compare, so a dataset recipe's method parameters are chosen from measurements.

    python benchmarks/sweep_classifier.py --dataset fashion-mnist --forget random:0.1 --seed 0 \\
        --grid finetune.lr=0.01,0.05 --grid finetune.epochs=1,2 --grid salun.lr=0.005,0.013

Each ``--grid METHOD.NAME=V1,V2,...`` adds a parameter axis of that method; a method's settings are
the product of its axes. The original model and the retrain reference come from the bench cache,
every setting is one bench row (resumable), and the table is sorted by average gap to retrain.
Writes OUT/sweep.json. Tuning against the retrain reference is what the papers do (e.g. SalUn's
learning-rate search); the recipe records the chosen values and this script's output justifies them.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from obliviate.classifier.bench import ClassifierBench, run_classifier_bench
from obliviate.errors import ConfigError
from obliviate.utils.io import atomic_write_json
from obliviate.utils.progress import set_quiet


def parse_grid(items: list[str]) -> dict[str, dict[str, list[str]]]:
    grid: dict[str, dict[str, list[str]]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not values:
            raise ConfigError(f"--grid expects METHOD.NAME=V1,V2,..., got {item!r}")
        grid.setdefault(method, {})[name] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def settings(axes: dict[str, list[str]]) -> list[dict[str, str]]:
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--forget", default="random:0.1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", action="append", default=[], help="METHOD.NAME=V1,V2,..., repeatable")
    p.add_argument("--prune", default=None, help="prune-first spec for every setting, e.g. omp:0.95")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--train", action="append", default=[], help="NAME=VALUE recipe override, repeatable")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default="benchmarks/results/sweep")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    set_quiet(args.quiet)
    from obliviate.cli import _kv

    grid = parse_grid(args.grid)
    if not grid:
        p.error("give at least one --grid METHOD.NAME=V1,V2,...")
    out = Path(args.out)
    results = []
    for method, axes in grid.items():
        for setting in settings(axes):
            bench = ClassifierBench(
                dataset=args.dataset, forget=[args.forget], methods=[method], seeds=[args.seed],
                params={method: setting}, train=_kv(args.train, "--train"), data_dir=args.data_dir,
                max_train=args.max_train, cache_dir=args.cache_dir, prune=args.prune,
            )
            rows = run_classifier_bench(bench, out)
            for row in rows:
                if row["method"]["name"] in (method, "retrain", "original") and row["status"] == "ok":
                    name = row["method"]["name"]
                    entry = {"method": name, "setting": setting if name == method else {}, **row["metrics"],
                             "avg_gap": row["gap_to_retrain"].get("average"), "time_ratio": row["time_ratio"]}
                    if entry not in results:
                        results.append(entry)
    results.sort(key=lambda r: (r["method"] != "retrain", r["avg_gap"] if r["avg_gap"] is not None else 1e9))
    head = f"{'method':<18}{'setting':<34}{'UA':>7}{'RA':>7}{'TA':>7}{'MIA':>7}{'gap':>7}{'t/retr':>8}"
    print(f"\n{args.dataset} {args.forget} seed {args.seed}" + (f" pruned {args.prune}" if args.prune else ""))
    print(head)
    for r in results:
        setting = ",".join(f"{k}={v}" for k, v in r["setting"].items())
        print(f"{r['method']:<18}{setting:<34}{r['unlearning_accuracy']:>7.2f}{r['retain_accuracy']:>7.2f}"
              f"{r['test_accuracy']:>7.2f}{r['mia_efficacy']:>7.2f}{r['avg_gap'] or 0:>7.2f}{r['time_ratio'] or 0:>8.3f}")
    atomic_write_json(out / "sweep.json", {"dataset": args.dataset, "forget": args.forget, "seed": args.seed,
                                           "prune": args.prune, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
