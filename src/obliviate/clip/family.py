"""The CLIP family's adapter: ``obliviate bench clip`` (domain unlearning, ADU's protocol)."""

from __future__ import annotations

import argparse

from ..bench.options import BenchOptions, split_list
from ..bench.plan import Plan, register_planner
from ..families import Bench, Family, first_line, register_family
from .defaults import DEFAULT_FORGET, DEFAULT_METHODS
from .report import SECTION


class ClipFamily(Family):
    name = "clip"
    family = "clip"
    help = "CLIP models: forget a visual domain, keep the others (Mem / For / H)"
    report_section = SECTION
    description = ("Pretrain the embedded tiny CLIP per seed (cached) or load yours, run every method on every "
                   "forget-domain combination, write results.json and report.html.")
    methods_help = ",".join(DEFAULT_METHODS)
    train_help = "override the tiny CLIP's pretraining recipe (PretrainConfig fields), repeatable"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dataset", default="digits",
                            help="the image dataset rendered in every domain (see `obliviate ls datasets`; default digits)")
        parser.add_argument("--forget", action="append", metavar="SPEC",
                            help="domain:sketch, domain:sketch,clipart or domain:any=K (every K-domain combination, "
                            "averaged); repeatable (default any=1, any=2, any=3)")
        parser.add_argument("--domains", default=None,
                            help="comma-separated domains the images are rendered in (default photo,sketch,painting,"
                            "clipart; also negative, noisy)")
        parser.add_argument("--model", default="tiny",
                            help="tiny (embedded, pretrained here; --train overrides its pretraining) or a Hugging Face "
                            "CLIPModel directory")
        parser.add_argument("--data", default=None, metavar="DOMAIN_DIR",
                            help="a domain folder DOMAIN_DIR/<domain>/<class>/<image> (Office-Home, PACS, DomainNet "
                            "layout) instead of rendered --dataset; needs --model CLIP_DIR; --shots images per "
                            "(domain, class) train the methods, the rest is test data")
        parser.add_argument("--shots", type=int, default=16, help="training images per (domain, class) the methods see")
        parser.add_argument("--max-combinations", type=int, default=None,
                            help="at most this many forget-domain combinations per domain:any=K spec (a fixed subset)")
        parser.add_argument("--max-train", type=int, default=None, help="keep a stratified subset of this many training samples")

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        from ..errors import ConfigError
        from .bench import ClipBench

        forget = args.forget
        if args.data is not None:
            if args.domains:
                raise ConfigError("--domains picks rendered domains; a domain folder's domains are its subfolders")
            if not forget:  # ADU's |D_forget| = 1, 2, 3, as far as the folder's domains allow
                from .folder_data import domain_names

                forget = [f"domain:any={k}" for k in range(1, min(3, len(domain_names(args.data)) - 1) + 1)]
        return [ClipBench(
            data=args.data,
            dataset=args.dataset,
            **({"domains": split_list(args.domains)} if args.domains else {}),
            forget=forget or list(DEFAULT_FORGET),
            methods=options.methods or list(DEFAULT_METHODS),
            seeds=options.seeds,
            model=args.model,
            shots=args.shots,
            max_combinations=args.max_combinations,
            max_train=args.max_train,
            params=options.params,
            pretrain=options.train,
            cache_dir=options.cache_dir,
        )]

    def quick_benches(self, cache_dir: str | None, seeds: int) -> list[Bench]:
        """Domain unlearning for CLIP: one pretrained tiny CLIP, every single forgotten domain."""
        from .bench import ClipBench

        return [ClipBench(forget=["domain:any=1"], seeds=[0], cache_dir=cache_dir)]

    def datasets(self) -> list[tuple[str, str]]:
        from .domains import DOMAINS

        return [(f"domain:{name}", first_line(DOMAINS.get(name))) for name in DOMAINS.names()]


def _plan(bench: Bench) -> Plan:
    from .plan import plan_clip_bench

    return plan_clip_bench(bench)  # type: ignore[arg-type]


register_family(ClipFamily())
register_planner("obliviate.clip.bench.ClipBench", _plan)
