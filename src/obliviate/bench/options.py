"""Command-line options every bench has, and the parsers of their KEY=VALUE forms.

``obliviate bench`` (the quick suite) takes the run options (--seeds, --out, --overwrite, --cache-dir,
--quiet, --threads, --config, --dry-run, --report-to); each ``obliviate bench <family>`` takes them too, plus --methods, --param and
--train, plus the options its adapter adds. A flag of another family is an argparse error.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..families import Family


def kv(items: list[str] | None, what: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; ``what`` names the flag in errors."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def method_params(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``finetune.lr=0.02`` -> {"finetune": {"lr": "0.02"}}; ``dp2.dp.epsilon=1`` -> {"dp2": {"dp.epsilon": "1"}}."""
    out: dict[str, dict[str, str]] = {}
    for key, value in kv(items, "--param").items():
        method, dot, name = key.partition(".")
        if not dot or not name:
            raise ConfigError(f"--param expects METHOD.NAME=VALUE (e.g. finetune.lr=0.02), got {key}={value}")
        out.setdefault(method, {})[name] = value
    return out


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_seeds(value: "str | int | Sequence[int]") -> int | list[int]:
    """``--seeds``: a count N (seeds 0..N-1) or explicit seeds ``10,11,12`` (held-out seeds for reports)."""
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return [int(v) for v in value]
    try:
        seeds = [int(v) for v in split_list(value)]
    except ValueError:
        seeds = []
    if not seeds:  # argparse names the flag: "argument --seeds: ..."
        raise argparse.ArgumentTypeError(f"a count N or comma-separated seeds (e.g. 10,11,12), got {value!r}")
    return seeds[0] if "," not in value else seeds


def seed_list(n: "int | Sequence[int]") -> list[int]:
    """The seeds of ``--seeds``: 0..n-1 for a count, else the explicit seeds (distinct, >= 0)."""
    if not isinstance(n, int):
        seeds = [int(s) for s in n]
        if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
            raise ConfigError(f"explicit --seeds must be distinct and >= 0, got {seeds}")
        return seeds
    if n < 1:
        raise ConfigError(f"--seeds must be >= 1, got {n}")
    return list(range(n))


#: Run options that belong to the whole run, not to one bench (a config file sets them at its top level).
RUN_KEYS: tuple[str, ...] = ("out", "overwrite", "quiet", "threads", "config", "dry_run", "report_to")
#: Where run results can be logged besides results.json (``--report-to``).
REPORT_TARGETS: tuple[str, ...] = ("tensorboard", "mlflow")


def add_run_options(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """--seeds, --out, --overwrite, --cache-dir, --quiet, --threads, --config, --dry-run, --report-to. ``inherited``: on a family's parser,
    where they may also stand before the family name (``obliviate bench --seeds 1 lm``), so they default
    to what the bench parser read."""
    default = (lambda value: argparse.SUPPRESS) if inherited else (lambda value: value)
    parser.add_argument("--seeds", type=parse_seeds, default=default(3),
                        help="number of seeds N (seeds 0..N-1; default 3) or explicit seeds, e.g. 10,11,12")
    parser.add_argument("--out", default=default(None),
                        help="output directory (default runs/<suite>-<hash of the resolved configuration>, so rerunning "
                        "the same command resumes it); rerun with the same --out to resume")
    parser.add_argument("--overwrite", action="store_true", default=default(False),
                        help="replace an existing --out that `obliviate bench` did not write (default: refuse; its "
                        "own outputs are reused); never the filesystem root, your home directory, the current "
                        "directory or an input of the run")
    parser.add_argument("--cache-dir", default=default(None),
                        help="model cache (default $OBLIVIATE_CACHE or ~/.cache/obliviate)")
    parser.add_argument("--quiet", "-q", action="store_true", default=default(False),
                        help="no progress bars or summaries")
    parser.add_argument("--threads", type=int, default=default(None), metavar="N",
                        help="torch intra-op threads (default: $OBLIVIATE_THREADS, $OMP_NUM_THREADS, else chosen "
                        "from the CPUs this process may use and the model's size; recorded in results.json)")
    parser.add_argument("--config", default=default(None), metavar="FILE",
                        help="read the bench from a YAML (.yaml/.yml) or TOML (.toml) file: the same keys as these "
                        "flags (dashes or underscores), one bench or `benches: [{family: ..., ...}, ...]`; flags on "
                        "the command line override it. Every run saves the file that reproduces it in its output")
    parser.add_argument("--dry-run", action="store_true", default=default(False),
                        help="print the rows, the models to train (cached or not) and a time estimate; write nothing")
    parser.add_argument("--report-to", action="append", choices=REPORT_TARGETS, default=default(None),
                        help="also log every finished row's metrics to TensorBoard or MLflow (installed separately) "
                        "in the output directory, repeatable")


def add_bench_commands(bench: argparse.ArgumentParser, families: Iterable["Family"]) -> None:
    """The options of ``obliviate bench`` and one sub-command per family adapter in ``families``, whose
    options come from the adapter (a flag of another family is an argparse error)."""
    add_run_options(bench)
    sub = bench.add_subparsers(dest="family", metavar="FAMILY")  # sub-parsers share bench's class
    for family in families:
        p = sub.add_parser(family.name, help=family.help, description=family.description or family.help)
        add_family_arguments(p, family, inherited=True)


def add_family_arguments(parser: argparse.ArgumentParser, family: "Family", *, inherited: bool = False) -> None:
    """Every option of ``obliviate bench <family>``: the adapter's, --methods/--param/--train, the run options."""
    family.add_arguments(parser)
    for action in parser._actions:  # a required option may come from a --config file: checked after merging it
        if action.required and action.option_strings:
            action.required = False
            action.needed = True  # type: ignore[attr-defined]  (read by bench.config_file.resolve_run)
            action.help = f"{action.help or ''} (required)".strip()
    add_family_options(parser, family.methods_help, family.train_help)
    add_run_options(parser, inherited=inherited)


def add_family_options(parser: argparse.ArgumentParser, default_methods: str, train_help: str) -> None:
    """--methods, --param and --train, which every family's bench has with its own defaults."""
    parser.add_argument("--methods", default=None, help=f"comma-separated method names (default: {default_methods})")
    parser.add_argument("--param", action="append", metavar="METHOD.NAME=VALUE",
                        help="override a method parameter, repeatable (nested: METHOD.GROUP.NAME=VALUE)")
    parser.add_argument("--train", action="append", metavar="NAME=VALUE", help=train_help)


@dataclass(frozen=True)
class BenchOptions:
    """The options every family's bench has, parsed."""

    methods: list[str] | None
    seeds: list[int]
    params: dict[str, dict[str, str]]
    train: dict[str, str]
    cache_dir: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "BenchOptions":
        return cls(
            methods=split_list(args.methods) if getattr(args, "methods", None) else None,
            seeds=seed_list(args.seeds),
            params=method_params(getattr(args, "param", None)),
            train=kv(getattr(args, "train", None), "--train"),
            cache_dir=args.cache_dir,
        )
