"""The published LM benchmarks as benches of the lm family: ``obliviate bench tofu``, ``bench muse`` and
``bench wmdp`` (:mod:`.bench_tofu`, :mod:`.bench_muse`, :mod:`.bench_wmdp`), with their report sections:
TOFU's forget quality vs model utility scatter (the TOFU paper's figure), MUSE's criteria (the lm family's
section) and a card of what the WMDP rows did not measure (MMLU without lm-evaluation-harness)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..bench.options import BenchOptions, kv, split_list
from ..families import Bench, Family, register_family
from ..report.cards import esc
from ..report.plots import scatter
from ..report.sections import Plot, Section
from .report import SECTION as MUSE_SECTION

_DTYPE_HELP = "weights' dtype when loading the given models: auto (as saved), float32, bfloat16, float16"


def _common(parser: argparse.ArgumentParser, data_help: str, sections: str, example: str) -> None:
    parser.add_argument("--data", required=True, metavar="DIR_OR_HUB_ID", help=data_help)
    parser.add_argument("--dtype", default="auto", help=_DTYPE_HELP)
    parser.add_argument("--recipe", default=None, metavar="FILE",
                        help=f"recipe file (TOML; docs/recipes.md), e.g. {example}: its {sections}; --param / --eval "
                        "override it")


# ----- TOFU ----------------------------------------------------------------------------------------

def plot_tofu(entries: Sequence[dict], colors: Mapping[str, str], title: str, target: Path) -> bool:
    """Forget quality against model utility, mean ± std over seeds (the TOFU paper's figure)."""
    return scatter(entries, colors, target, x="model_utility", y="forget_quality",
                   xlabel="Model utility  →  higher keeps more",
                   ylabel="Forget quality (KS p-value)  →  higher is closer to retain-only",
                   title=f"TOFU: forget quality vs model utility — {title}\nmean ± std over seeds; ★ retain-only")


class TofuFamily(Family):
    name = "tofu"
    family = "lm"
    help = "TOFU (Maini et al. 2024): unlearn fictitious authors' QA from a TOFU-fine-tuned model"
    description = ("Fine-tune the given model on TOFU (forget + retain) and on retain only (the reference), both "
                   "cached, or take an already fine-tuned --original; every lm method unlearns the forget split; "
                   "rows carry forget quality, model utility and the per-split probability / ROUGE / truth ratio.")
    methods_help = "grad_ascent, grad_diff, npo, simnpo, rmu (retrain = the retain-only reference row)"
    train_help = "override the TOFU fine-tune recipe (LMTrainConfig: epochs, lr, batch_size, ...), repeatable"
    report_section = Section(plots=(Plot("tofu", plot_tofu, "TOFU forget quality vs model utility"),))

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _common(parser, "TOFU as published (a local copy of locuslab/TOFU: <split>.json ...) or its hub id",
                "[train] (the fine-tune; --train overrides it), [methods.X] and [eval]", "recipes/tofu-phi-1.5.toml")
        parser.add_argument("--model", required=True, metavar="DIR", help="the model to fine-tune (HF directory)")
        parser.add_argument("--forget-split", default="forget10", help="forget01, forget05 or forget10 (default)")
        parser.add_argument("--original", default=None, metavar="DIR",
                            help="an already TOFU-fine-tuned model to unlearn from (skips the full fine-tune)")
        parser.add_argument("--eval", action="append", metavar="NAME=VALUE",
                            help="evaluation size (max_items: 300, max_length: 200, batch_size: 16)")

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        from .bench_tofu import TOFU_METHODS, TofuBench

        return [TofuBench(data=args.data, model=args.model, forget_split=args.forget_split, original=args.original,
                          methods=options.methods or list(TOFU_METHODS), seeds=options.seeds, params=options.params,
                          train=options.train, eval=kv(args.eval, "--eval"), dtype=args.dtype,
                          cache_dir=options.cache_dir, recipe=args.recipe)]

    def datasets(self) -> list[tuple[str, str]]:
        return [("tofu", "TOFU in its published layout (obliviate bench tofu --data DIR_OR_HUB_ID)")]


# ----- MUSE ----------------------------------------------------------------------------------------

class MuseFamily(Family):
    name = "muse"
    family = "lm"
    help = "MUSE (Shi et al. 2024) News / Books: unlearn from the published target model, MUSE's protocol"
    description = ("Evaluate the given target and retrained models, unlearn raw/forget from the target with every lm "
                   "method (retain terms on raw/retain1), score VerbMem, KnowMem, PrivLeak (Min-40% against the "
                   "retrained model) and utility; --series scal,sust adds MUSE's scalability and sustainability.")
    methods_help = "grad_ascent, grad_diff, kl, npo, npo_gdr, npo_klr, task_vector, whp (MUSE's baselines)"
    report_section = MUSE_SECTION

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _common(parser, "MUSE as published (a local copy of muse-bench/MUSE-News or -Books, or muse_bench's "
                        "data/<corpus>) or its hub id",
                "[methods.X] and [eval]", "recipes/muse-news-llama2-7b.toml")
        parser.add_argument("--corpus", default="news", choices=("news", "books"), help="news (default) or books")
        parser.add_argument("--target", required=True, metavar="DIR", help="MUSE's target model (HF directory)")
        parser.add_argument("--retrain", required=True, metavar="DIR", help="MUSE's retrained model (HF directory)")
        parser.add_argument("--model", default=None, metavar="DIR",
                            help="the tokenizer's directory (MUSE: Llama-2-7b; default: the target's tokenizer)")
        parser.add_argument("--series", default="", help="comma-separated: scal (scalability), sust (sustainability)")
        parser.add_argument("--eval", action="append", metavar="NAME=VALUE",
                            help="verbmem_max_new_tokens (128), knowmem_max_new_tokens (32), privleak_max_length "
                            "(2048), batch_size (8)")

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        from ..errors import ConfigError
        from .bench_muse import MUSE_METHODS, MuseBench

        if options.train:
            raise ConfigError("bench muse trains no model of its own (the target and retrained models are given): "
                              "--train does not apply")
        return [MuseBench(data=args.data, target=args.target, retrain=args.retrain, corpus=args.corpus,
                          model=args.model, methods=options.methods or list(MUSE_METHODS), seeds=options.seeds,
                          series=split_list(args.series), params=options.params, eval=kv(args.eval, "--eval"),
                          dtype=args.dtype, cache_dir=options.cache_dir, recipe=args.recipe)]

    def datasets(self) -> list[tuple[str, str]]:
        return [("muse-news", "MUSE-News as published (obliviate bench muse --corpus news --data DIR_OR_HUB_ID)"),
                ("muse-books", "MUSE-Books as published (obliviate bench muse --corpus books --data DIR_OR_HUB_ID)")]


# ----- WMDP ----------------------------------------------------------------------------------------

def wmdp_notes(results: Mapping[str, Any], plots_dir: Path) -> list[str]:
    """A card with what the WMDP rows did not measure (their ``task.note``: MMLU without lm-evaluation-harness)."""
    notes = sorted({r["task"]["note"] for r in results.get("runs", [])
                    if r.get("task", {}).get("dataset") == "wmdp" and r["task"].get("note")})
    if not notes:
        return []
    items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return [f'<section class="card"><h2>WMDP: not measured</h2><ul>{items}</ul>'
            '<p class="sub">General utility is MMLU through lm-evaluation-harness (the extra lmeval).</p></section>']


class WmdpFamily(Family):
    name = "wmdp"
    family = "lm"
    help = "WMDP (Li et al. 2024): unlearn a hazardous-knowledge corpus (RMU by default), WMDP accuracy"
    description = ("Unlearn the forget corpus from the given model with RMU (and any other lm method), keep the "
                   "retain corpus; score WMDP multiple-choice accuracy per subset as lm-evaluation-harness does, and "
                   "MMLU through lm-evaluation-harness when installed (pip install lm-eval).")
    methods_help = "rmu"
    report_section = Section(cards=wmdp_notes)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _common(parser, "WMDP as published (a local copy of cais/wmdp: wmdp-bio/test-*.parquet ...) or its hub id",
                "[methods.X] and [eval]", "recipes/wmdp-zephyr-7b-rmu.toml")
        parser.add_argument("--model", required=True, metavar="DIR", help="the model to unlearn (HF directory)")
        parser.add_argument("--forget-corpus", required=True, metavar="FILE",
                            help="forget texts: .jsonl with a text field per line, or blank-line separated text")
        parser.add_argument("--retain-corpus", required=True, metavar="FILE", help="retain texts (same formats)")
        parser.add_argument("--eval", action="append", metavar="NAME=VALUE",
                            help="batch_size (16), mmlu (1: measure MMLU when lm-eval is installed; 0: skip), "
                            "mmlu_limit (questions per MMLU subject; 0 = all), add_bos (0: no BOS before the prompt, "
                            "as lm-eval's HFLM scored WMDP in 2024; 1: the tokenizer's BOS, lm-eval 0.4.13's default)")

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        from ..errors import ConfigError
        from .bench_wmdp import WmdpBench

        if options.train:
            raise ConfigError("bench wmdp trains no model of its own: --train does not apply")
        return [WmdpBench(data=args.data, model=args.model, forget_corpus=args.forget_corpus,
                          retain_corpus=args.retain_corpus, methods=options.methods or ["rmu"], seeds=options.seeds,
                          params=options.params, eval=kv(args.eval, "--eval"), dtype=args.dtype,
                          cache_dir=options.cache_dir, recipe=args.recipe)]

    def datasets(self) -> list[tuple[str, str]]:
        return [("wmdp", "WMDP as published (obliviate bench wmdp --data DIR_OR_HUB_ID)")]


for _adapter in (TofuFamily(), MuseFamily(), WmdpFamily()):
    register_family(_adapter)
