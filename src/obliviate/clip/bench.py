"""The vision-language benchmark (ADU protocol): per seed a CLIP (the embedded tiny CLIP pretrained
contrastively on the multi-domain data, cached; or a user's CLIP directory), then for each forget spec
every forget-domain combination it names, every method on each, Mem / For / H averaged over the
combinations. One row per (forget spec, method, seed).

Decisions:
- ``domain:any=K`` specs (default K = 1, 2, 3) give one row per seed averaged over all C(|D|, K)
  combinations, as the paper reports; ``max_combinations`` keeps a fixed subset (the same for every seed
  and method) when CPU time forces it; an explicit ``domain:sketch,clipart`` is one combination.
- Row metrics: ``mem``, ``for``, ``h`` (means over combinations) and per domain ``acc_<d>_forgotten`` /
  ``acc_<d>_memorised`` (class accuracy of domain d averaged over the combinations where it was
  forgotten / memorised). ``seconds`` is the mean unlearning time of one combination.
- ``original`` is the zero-shot CLIP (no prompts) scored against the same forget sets. There is no exact
  retrain reference in ADU's protocol (it would mean pretraining CLIP without the forgotten domains),
  so rows carry no gaps and no time ratio; ``original`` records the pretraining seconds instead.
- Seeds vary the tiny CLIP's pretraining, the few-shot training images and the prompts' initialisation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..methods import get_method
from ..bench.cache import cached_model, default_cache_dir
from ..bench.rows import RowSink, RowStore, result_row, run_method_row
from .defaults import DEFAULT_FORGET, DEFAULT_METHODS



@dataclass
class ClipBench:
    """Forget specs x methods x seeds on a multi-domain dataset with a frozen CLIP."""

    dataset: str = "digits"
    domains: list[str] = field(default_factory=lambda: ["photo", "sketch", "painting", "clipart"])
    forget: list[str] = field(default_factory=lambda: list(DEFAULT_FORGET))
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: "tiny" (the embedded CLIP, pretrained here) or a directory holding a Hugging Face CLIPModel
    model: str = "tiny"
    shots: int = 16
    image_size: int = 16
    max_combinations: int | None = None
    max_train: int | None = None
    max_test: int | None = None
    #: method name -> {param: value}
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: overrides of the tiny CLIP's pretraining recipe (PretrainConfig fields)
    pretrain: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    #: a domain folder DIR/<domain>/<class>/<image> (:mod:`obliviate.clip.folder_data`) instead of the
    #: rendered ``dataset``; needs a user's CLIP ``model``; its domains are the folder's
    data: str | None = None

    def domain_list(self) -> list[str]:
        """The domains: the folder's subfolders with ``data``, else ``domains``."""
        if self.data is None:
            return list(self.domains)
        from .folder_data import domain_names

        return list(domain_names(self.data))

    def folder_image_size(self) -> int:
        """The user's CLIP's input size (its config.json), the size folder images are decoded at."""
        import json

        try:
            config = json.loads((Path(self.model) / "config.json").read_text(encoding="utf-8"))
            return int(config["vision_config"]["image_size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            from ..errors import ModelLoadError

            raise ModelLoadError(f"cannot read the image size from {Path(self.model) / 'config.json'}: {exc}") from None

    def load_data(self):
        """The multi-domain data: the domain folder (few-shot split) or the rendered dataset."""
        if self.data is None:
            from ..clip.domains import make_multidomain

            return make_multidomain(**self.data_args())
        from .folder_data import load_domain_data

        return load_domain_data(self.data, shots=self.shots, image_size=self.folder_image_size())

    def pretrain_config(self):
        from ..clip.pretrain import PretrainConfig

        return PretrainConfig.from_params(self.pretrain)

    def method_params(self, name: str) -> dict[str, Any]:
        method = get_method(name, family="clip")  # another family's method fails here, before training
        return method.Config.from_params(self.params.get(name, {})).as_dict()

    def data_args(self) -> dict[str, Any]:
        if self.data is not None:  # what determines a domain folder's data (part of every cache / row key)
            return {"data": str(Path(self.data).resolve()), "domains": self.domain_list(),
                    "image_size": self.folder_image_size(), "split_shots": self.shots}
        limits = {"max_train": self.max_train, "max_test": self.max_test}
        if self.dataset == "fashion-mnist":  # 60k x |domains| RGB images would not fit a small machine
            limits = {"max_train": self.max_train or 6000, "max_test": self.max_test or 2000}
        return {"dataset": self.dataset, "domains": list(self.domains), "image_size": self.image_size, **limits}

    def resolved(self) -> dict[str, Any]:
        return {
            "family": "clip", **self.data_args(), "model": self.model, "shots": self.shots,
            "forget": list(self.forget), "max_combinations": self.max_combinations, "seeds": list(self.seeds),
            "pretrain": self.pretrain_config().as_dict() if self.model == "tiny" else None,
            "methods": {m: self.method_params(m) for m in self.methods},
        }

    def inputs(self) -> list[Path]:
        """The model directory, when ``model`` is one (the built-in sizes and smollm2 come from the cache), and
        the domain folder."""
        found = [Path(self.model)] if "/" in self.model or Path(self.model).is_dir() else []
        return found + ([Path(self.data)] if self.data else [])

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        return run_clip_bench(self, out_dir)

    def row_count(self) -> int:
        """The rows :meth:`run` emits: per seed and forget spec, the original plus one per method."""
        return len(self.seeds) * len(dict.fromkeys(self.forget)) * (1 + len(self.methods))

    def validate(self) -> None:
        """Fail fast, before any training, on every bad name, spec or parameter."""
        from ..clip.domains import DOMAINS
        from ..clip.task import parse_domain_spec
        from ..data import IMAGE_DATASETS

        if self.data is not None:
            if self.model == "tiny":
                raise ConfigError("--data (a domain folder) needs --model CLIP_DIR, a Hugging Face CLIPModel directory "
                                  "(e.g. openai/clip-vit-base-patch16 downloaded); the tiny CLIP is for rendered data")
        else:
            IMAGE_DATASETS.get(self.dataset)
            for name in self.domains:
                DOMAINS.get(name)
        domains = self.domain_list()
        if len(domains) < 2 or len(set(domains)) != len(domains):
            raise ConfigError(f"the clip bench needs at least 2 distinct domains, got {domains}")
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if self.shots < 1:
            raise ConfigError(f"shots must be >= 1, got {self.shots}")
        if self.max_combinations is not None and self.max_combinations < 1:
            raise ConfigError(f"max_combinations must be >= 1, got {self.max_combinations}")
        for spec in self.forget:
            parse_domain_spec(spec, domains)
        unknown = set(self.params) - set(self.methods)
        if unknown:
            raise ConfigError(f"--param given for {sorted(unknown)}, which are not among --methods {self.methods}")
        if self.model != "tiny" and not Path(self.model).is_dir():
            from ..errors import ModelLoadError

            raise ModelLoadError(f"--model must be 'tiny' or a directory with a Hugging Face CLIPModel; {self.model} does not exist")
        self.resolved()

    def combinations(self, spec: str) -> list[tuple[str, ...]]:
        """The spec's forget-domain combinations (a fixed subset of ``max_combinations`` when set)."""
        from ..clip.task import parse_domain_spec

        combos = parse_domain_spec(spec, self.domain_list())
        if self.max_combinations is not None and len(combos) > self.max_combinations:
            keep = np.sort(np.random.default_rng(0).choice(len(combos), self.max_combinations, replace=False))
            combos = [combos[i] for i in keep]
        return combos


def run_clip_bench(bench: ClipBench, out_dir: Path) -> list[dict[str, Any]]:
    """Run (or resume) the bench; returns the rows in order. Rows are stored under out_dir/rows."""
    from ..clip.model import tiny_clip, word_tokenizer
    from ..utils.threads import built_params, thread_scope

    bench.validate()
    # the embedded CLIP's size (its vocabulary, a few caption words, hardly counts); a user's CLIP: unknown
    params = built_params(lambda: tiny_clip(word_tokenizer([]))) if bench.model == "tiny" else None
    with thread_scope(params, scope="clip bench"):
        return _run(bench, Path(out_dir))


def _backbone(bench: ClipBench, data, seed: int, cache_dir: Path):
    """(backbone, pretraining seconds or None): the tiny CLIP pretrained for ``seed`` (cached) or the user's."""
    from ..clip.model import load_clip

    if bench.model != "tiny":
        return load_clip(bench.model), None
    from ..clip.pretrain import load_cached, pretrain_tiny_clip, save_cached

    conf = bench.pretrain_config()
    backbone, meta = cached_model(cache_dir, "clip-pretrained", pretrain_key(bench, seed),
                                  lambda: pretrain_tiny_clip(data, conf, seed=seed), save_cached, load_cached)
    return backbone, float(meta["seconds"])


def pretrain_key(bench: ClipBench, seed: int) -> dict[str, Any]:
    """The cache key of the embedded tiny CLIP pretrained for ``seed``."""
    return {"family": "clip", **bench.data_args(), "pretrain": bench.pretrain_config().as_dict(), "seed": seed}


def _average(results: list[tuple[tuple[str, ...], dict[str, float]]], domains: list[str]) -> dict[str, float | None]:
    """Mean Mem / For / H over combinations, and each domain's accuracy when forgotten / memorised."""
    out: dict[str, float | None] = {k: float(np.mean([m[k] for _, m in results])) for k in ("mem", "for", "h")}
    for d in domains:
        for status, pick in (("forgotten", True), ("memorised", False)):
            vals = [m[f"acc_{d}"] for combo, m in results if (d in combo) == pick]
            out[f"acc_{d}_{status}"] = float(np.mean(vals)) if vals else None
    return out


def _run(bench: ClipBench, out_dir: Path) -> list[dict[str, Any]]:
    from ..clip.folder_data import readable
    from ..clip.model import ClipClassifier, TEMPLATE
    from ..clip.task import DomainTask
    from ..metrics.domain import domain_accuracies, evaluate_domain_model, mem_for_h
    from ..training.predict import predict_logits
    from ..utils.seeding import seed_everything

    conf = bench.resolved()
    data = bench.load_data()
    cache_dir = Path(bench.cache_dir) if bench.cache_dir else default_cache_dir()
    store = RowStore(out_dir)
    templates = [TEMPLATE.replace("{domain}", readable(d) if bench.data else d) for d in data.domains]
    test = data.test
    specs = {spec: bench.combinations(spec) for spec in bench.forget}
    emit = RowSink(bench.row_count(), "bench clip")
    model_name = "tiny-clip" if bench.model == "tiny" else Path(bench.model).name

    def describe(spec: str, combos: list[tuple[str, ...]], seed: int) -> dict[str, Any]:
        tasks = [DomainTask(data, c, seed, bench.shots).describe() for c in combos]
        return {"dataset": data.name, "scenario": "domain", "forget_spec": spec, "model": model_name,
                "forget_size": int(round(np.mean([t["forget_size"] for t in tasks]))),
                "retain_size": int(round(np.mean([t["retain_size"] for t in tasks]))),
                "combinations": [",".join(c) for c in combos], "domains": list(data.domains), "shots": bench.shots}

    for seed in bench.seeds:
        backbone, pretrain_seconds = _backbone(bench, data, seed, cache_dir)
        zero_shot = ClipClassifier(backbone, data.class_names, templates)
        zs_acc = domain_accuracies(predict_logits(zero_shot, test.x, 512, "zero-shot").argmax(1), test.y, test.d,
                                   data.domains)
        key_base = {"family": "clip", **bench.data_args(), "model": bench.model, "pretrain": conf["pretrain"],
                    "shots": bench.shots, "seed": seed, "dataset": data.name}
        for spec, combos in specs.items():
            task_info = describe(spec, combos, seed)
            key = {**key_base, "forget": spec, "combinations": task_info["combinations"]}
            row = store.get({**key, "method": "original"})
            if row is None:
                per = [(c, {**mem_for_h(zs_acc, c), **{f"acc_{k}": v for k, v in zs_acc.items()}}) for c in combos]
                params = {"model": bench.model, "pretrain_seconds": pretrain_seconds,
                          **{f"zero_shot_acc_{k}": v for k, v in zs_acc.items()}}
                row = result_row("clip", task_info, "original", params, seed, {"metrics": _average(per, list(data.domains))},
                                 0.0, None)
                store.put({**key, "method": "original"}, row)
            emit(row)
            for name in bench.methods:
                params = conf["methods"][name]
                emit(_method_row(store, {**key, "method": name, "params": params}, name, params, seed, combos, task_info,
                                 lambda combo: DomainTask(data, combo, seed, bench.shots),
                                 lambda: ClipClassifier(backbone, data.class_names, templates),
                                 lambda model, combo: evaluate_domain_model(model, test.x, test.y, test.d, data.domains, combo),
                                 list(data.domains), seed_everything))
    return emit.close()


def _method_row(store: RowStore, key: dict, name: str, params: dict, seed: int, combos: list[tuple[str, ...]],
                task_info: dict, make_task: Callable, make_model: Callable, evaluate: Callable, domains: list[str],
                seed_everything: Callable) -> dict:
    method = get_method(name, family="clip")
    config = method.Config.from_params(params)

    def unlearn() -> dict[str, Any]:
        results, seconds = [], []
        for combo in combos:
            data = make_task(combo).unlearn_data()  # few-shot train images only: the test split never reaches a method
            model = make_model()
            seed_everything(seed)
            start = time.perf_counter()
            model = method().run(model, data, config, seed=seed)
            seconds.append(time.perf_counter() - start)
            results.append((combo, evaluate(model, combo)))
        return {"metrics": _average(results, domains), "seconds": float(np.mean(seconds))}

    return run_method_row(
        store, key, f"{name} on {task_info['forget_spec']} seed {seed}", unlearn, lambda evaluation: evaluation,
        lambda evaluation, seconds: result_row("clip", task_info, name, params, seed, evaluation,
                                               evaluation.get("seconds", seconds / max(len(combos), 1)), None),
    )
