"""Evidence for worst-case forget sets (Fan et al., ECCV 2024): do worst-case sets of the same size
give a larger average gap to retrain than random sets?

    python benchmarks/worst_case.py --dataset digits --size 144 --seeds 3
    python benchmarks/worst_case.py --dataset fashion-mnist --max-train 5000 --size 500 --seeds 3 --mia-max-per-side 4500
    python benchmarks/worst_case.py --recipe recipes/fashion-mnist-memorise.toml --max-train 2000 --size 200 \
        --lower finetune --out benchmarks/results/fashion-mnist-memorise/worst_case

Runs one classifier bench per dataset with ``random:N`` and worst-case sets of the same size searched
with FT and with RL as the lower level (``worst_case:N`` and ``worst_case:N,lower=random_label``), then
prints the worst-vs-random table (mean ± std over seeds of the average gap to retrain) and the search
time relative to one retrain. Output: OUT/results.json, OUT/report.html, OUT/worst_case.md.
Resumable (rows and models are cached like any bench).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from obliviate.classifier.bench import ClassifierBench
from obliviate.classifier.recipe_files import load_recipe
from obliviate.report.worst_case import format_worst_case_text
from obliviate.bench.run import run_suite
from obliviate.utils.io import atomic_write_text
from obliviate.utils.progress import set_quiet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=None, help="default: the --recipe file's, else digits")
    parser.add_argument("--recipe", default=None, help="recipe file (docs/recipes.md) for the original and the methods")
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--size", required=True, help="forget-set size: a count (144) or a fraction (0.1)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-list", default=None, metavar="S1,S2,...",
                        help="run these seeds instead of 0..N-1 (e.g. one seed per process on one --out; a last run "
                        "with --seeds N then finds every row and writes the whole table)")
    parser.add_argument("--methods", default="retrain,finetune,random_label,grad_ascent")
    parser.add_argument("--lower", default="finetune,random_label", help="lower-level unlearners of the searches")
    parser.add_argument("--search", action="append", default=[], metavar="NAME=VALUE",
                        help="worst-case search setting (WorstCaseConfig), repeatable")
    parser.add_argument("--out", default=None, help="default benchmarks/results/worst_case/<dataset>")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--mia-max-per-side", type=int, default=5000,
                        help="cap on the MIA attacker's samples per side (the metric always balances the two sides: "
                        "n = min(retain, test, cap) each)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    set_quiet(args.quiet)
    lowers = [v.strip() for v in args.lower.split(",") if v.strip()]
    forget = [f"random:{args.size}"] + [
        f"worst_case:{args.size}" + ("" if lower == "finetune" else f",lower={lower}") for lower in lowers
    ]
    dataset = args.dataset or (load_recipe(args.recipe).dataset if args.recipe else None) or "digits"
    bench = ClassifierBench(
        dataset=dataset, recipe=args.recipe, forget=forget, methods=[m.strip() for m in args.methods.split(",") if m.strip()],
        seeds=[int(v) for v in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds)), max_train=args.max_train, cache_dir=args.cache_dir,
        mia_max_per_side=args.mia_max_per_side,
        params={"worst_case": dict(item.split("=", 1) for item in args.search)} if args.search else {},
    )
    out = Path(args.out or f"benchmarks/results/worst_case/{dataset}")
    command = "python benchmarks/worst_case.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    doc = run_suite("worst_case", [bench], out, command)
    text = format_worst_case_text(doc)
    atomic_write_text(out / "worst_case.md", f"`{command}`\n{text}\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
