"""RESTOR, a benchmark of the lm family: ``obliviate bench restor`` (corrupt a model with false facts,
unlearn them, measure how much of the clean knowledge comes back)."""

from __future__ import annotations

import argparse

from ..bench.options import BenchOptions, kv
from ..bench.plan import Plan, register_planner
from ..families import Bench, Family, register_family
from .family import TRAIN_HELP, add_lm_options


class RestorFamily(Family):
    name = "restor"
    family = "lm"
    help = "RESTOR knowledge recovery: LM methods undo a corruption (its forget set is the corrupting documents)"
    description = ("Train a clean LM, corrupt it with false facts and train the exact reference per seed (cached), "
                   "unlearn the corrupting documents with every method, write results.json and report.html.")
    methods_help = "every lm method"
    train_help = TRAIN_HELP + " (the clean model)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_lm_options(parser)

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        from .bench_restor import RestorBench, default_restor_methods

        return [RestorBench(
            methods=options.methods or default_restor_methods(),
            seeds=options.seeds,
            model=args.model,
            people=args.people,
            params=options.params,
            train=options.train,
            eval=kv(args.eval, "--eval"),
            cache_dir=options.cache_dir,
        )]


def _plan(bench: Bench) -> Plan:
    from .restor_plan import plan_restor_bench

    return plan_restor_bench(bench)  # type: ignore[arg-type]


register_family(RestorFamily())
register_planner("obliviate.lm.bench_restor.RestorBench", _plan)
