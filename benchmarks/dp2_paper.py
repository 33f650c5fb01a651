"""DP2Unlearning in its paper's regime on the bios bench (issue 19 item 2): the tiny Llama pretrained on KJV
verses, then original / exact retrain / DP base fine-tuned from it, on held-out seeds.

    python benchmarks/dp2_paper.py --seeds 10,11,12 --out benchmarks/results/dp2-paper
    python benchmarks/dp2_paper.py --seeds 10,11,12 --scratch --out benchmarks/results/dp2-paper/scratch

It is ``obliviate bench lm --pretrain kjv --people 20 --methods ...`` with a seed list (the CLI's
``--seeds N`` runs 0..N-1); ``--scratch`` runs today's default pipeline (no pretraining) on the same seeds
for comparison; ``--param METHOD.NAME=VALUE`` as the CLI's (e.g. ``dp2.epochs=40``). results.json and report.html are written by obliviate's ``run_suite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from obliviate.bench.options import method_params
from obliviate.bench.run import run_suite
from obliviate.lm.bench import LMBench

METHODS = "retrain,grad_ascent,grad_diff,npo,npo_gdr,simnpo,task_vector,dp2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="10,11,12", help="comma-separated seeds (held out: never tuned on)")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--scratch", action="store_true", help="today's default pipeline (no pretraining)")
    parser.add_argument("--param", action="append", metavar="METHOD.NAME=VALUE", help="a method parameter")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    bench = LMBench(methods=args.methods.split(","), seeds=[int(s) for s in args.seeds.split(",")],
                    people=args.people, pretrain=None if args.scratch else "kjv", params=method_params(args.param),
                    cache_dir=args.cache_dir)
    run_suite("lm", [bench], args.out, " ".join(["python", *sys.argv]))


if __name__ == "__main__":
    main()
