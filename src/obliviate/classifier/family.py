"""The image-classifier family's adapter: ``obliviate bench classifier``."""

from __future__ import annotations

import argparse

from ..bench.options import BenchOptions
from ..bench.plan import Plan, register_planner
from ..families import Bench, Family, first_line, register_family
from .defaults import DEFAULT_METHODS, QUICK_METHODS
from .report import SECTION


class ClassifierFamily(Family):
    name = "classifier"
    family = "classifier"
    help = "image classifiers: random, class-wise, worst-case, scaling and sequential forgetting"
    report_section = SECTION
    description = ("Train the original classifier and the exact-retrain reference per seed (cached), run every "
                   "method, write results.json and report.html.")
    methods_help = ",".join(DEFAULT_METHODS)
    train_help = "override the original-training / retrain recipe (epochs, lr, batch_size, ...), repeatable"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dataset", default=None,
                            help="dataset name (see `obliviate ls datasets`; default: the --recipe file's, else digits)")
        parser.add_argument("--recipe", default=None, metavar="FILE",
                            help="recipe file (TOML, e.g. recipes/cifar10-resnet18.toml; docs/recipes.md): original "
                            "training and method settings over the built-in recipe, under --train / --param")
        parser.add_argument("--forget", action="append", metavar="SPEC",
                            help="forget spec, repeatable: random:0.1, random:500, class:3[,5], indices:FILE, "
                            "worst_case:N[,lower=M][,mode=easiest], worst_classes:K, scaling:1,5,10,25 (%% of train), "
                            "sequential:K[:SPEC] (default random:0.1)")
        parser.add_argument("--model", default=None, help="architecture (cnn, resnet18; default: the dataset's recipe)")
        parser.add_argument("--model-factory", default=None, metavar="MODULE:FUNCTION",
                            help="your own model: FUNCTION(in_channels, num_classes, image_size) -> torch.nn.Module "
                            "(contract: obliviate.models.factory; docs/recipes.md)")
        parser.add_argument("--data-dir", default=None, help="folder with the dataset's files (fashion-mnist IDX files)")
        parser.add_argument("--max-train", type=int, default=None, help="keep a stratified subset of this many training samples")
        parser.add_argument("--prune", default=None, metavar="SPEC",
                            help="prune first, then unlearn (Jia et al. 2023): omp:SPARSITY or "
                            "imp:SPARSITY[,retrain=E,rewind=K,scope=conv|body|all], e.g. omp:0.95")
        parser.add_argument("--accelerate", type=int, default=None, metavar="N",
                            help="train the originals and retrain references in N processes (one per GPU) through "
                            "accelerate, then run the methods here (obliviate.classifier.launch)")
        parser.add_argument("--mia-max-per-side", type=int, default=5000, help="cap on attacker training samples per side")

    def benches(self, args: argparse.Namespace, options: BenchOptions) -> list[Bench]:
        from .bench import ClassifierBench

        dataset = args.dataset
        if dataset is None:
            from .recipe_files import load_recipe

            dataset = (load_recipe(args.recipe).dataset if args.recipe else None) or "digits"
        return [ClassifierBench(
            dataset=dataset,
            recipe=args.recipe,
            model_factory=args.model_factory,
            accelerate=args.accelerate,
            forget=args.forget or ["random:0.1"],
            methods=options.methods or list(DEFAULT_METHODS),
            seeds=options.seeds,
            model=args.model,
            params=options.params,
            train=options.train,
            data_dir=args.data_dir,
            max_train=args.max_train,
            cache_dir=options.cache_dir,
            mia_max_per_side=args.mia_max_per_side,
            prune=args.prune,
        )]

    def quick_benches(self, cache_dir: str | None, seeds: int) -> list[Bench]:
        from .bench import ClassifierBench

        return [
            ClassifierBench(dataset="digits", forget=["random:0.1", "class:3"], methods=list(QUICK_METHODS),
                            seeds=list(range(seeds)), cache_dir=cache_dir),
            # Challenging Forgets: a searched worst-case set, reported against random:0.1 (the same size)
            ClassifierBench(dataset="digits", forget=["worst_case:0.1"],
                            methods=["retrain", "finetune", "grad_ascent", "random_label"],
                            seeds=list(range(seeds)), cache_dir=cache_dir),
        ]

    def datasets(self) -> list[tuple[str, str]]:
        from ..data import IMAGE_DATASETS

        return [(name, first_line(IMAGE_DATASETS.get(name))) for name in IMAGE_DATASETS.names()]

    def models(self) -> list[tuple[str, str]]:
        from ..models import CLASSIFIERS

        return [(name, first_line(CLASSIFIERS.get(name))) for name in CLASSIFIERS.names()]


def _plan(bench: Bench) -> Plan:
    from .plan import plan_classifier_bench

    return plan_classifier_bench(bench)  # type: ignore[arg-type]


register_family(ClassifierFamily())
register_planner("obliviate.classifier.bench.ClassifierBench", _plan)
