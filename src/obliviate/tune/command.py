"""The command line of ``obliviate tune FAMILY``: the family adapter's own bench options (dataset, forget
specs, ...) plus the search's. Families: classifier and lm (the lm family with the retrain objective only)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from ..bench.options import BenchOptions, kv, split_list
from ..errors import ConfigError
from ..families import Bench, Family, get_family
from .objective import NEEDS_REFERENCE, OBJECTIVES, applicable
from .space import default_space, parse_space
from .study import STUDY_FILE, TuneSpec, open_study, optimize, require_optuna, write_outputs

#: the families ``obliviate tune`` supports
TUNABLE = ("classifier", "lm")
#: the lowest validation seed: reports use seeds 0..N-1 (``--seeds N``), so tuning on them would tune the
#: reported numbers on themselves
FIRST_VALIDATION_SEED = 100


def add_tune_parser(sub: Any) -> None:
    """``obliviate tune FAMILY`` with the family's bench options and the search's."""
    t = sub.add_parser(
        "tune", help="search one method's hyperparameters on validation tasks (Optuna) and write a recipe",
        description="Hyperparameter search for one method (Optuna TPE, median pruning) on validation seeds, "
        "disjoint from the seeds reports use. The study lives in OUT/study.db: rerun the same command to "
        "resume it, or run it in several processes at once. Writes OUT/recipe.toml (the chosen parameters "
        "and their provenance) and OUT/trials.json. Families: " + ", ".join(TUNABLE) + ".")
    fams = t.add_subparsers(dest="family", metavar="FAMILY", required=True)
    for name in TUNABLE:
        family = get_family(name)
        p = fams.add_parser(name, help=family.help, description=t.description)
        family.add_arguments(p)
        add_search_options(p, family)


def add_search_options(p: argparse.ArgumentParser, family: Family) -> None:
    p.add_argument("--method", required=True, help="the method to tune (see `obliviate ls methods`)")
    p.add_argument("--validation-seeds", default="100,101", metavar="S1,S2,...",
                   help="seeds of the validation tasks (default 100,101); the objective is the mean over them and "
                   f"the forget specs. Seeds below {FIRST_VALIDATION_SEED} are refused: reports use seeds 0..N-1, "
                   "and parameters tuned on a reported seed make its numbers partly tuned on themselves")
    p.add_argument("--allow-report-seeds", action="store_true",
                   help=f"allow validation seeds below {FIRST_VALIDATION_SEED} (then the reported numbers on those "
                   "seeds are no longer held out)")
    p.add_argument("--trials", type=int, default=20, help="trials the study should hold (complete or pruned, "
                   "counting earlier runs; default 20)")
    p.add_argument("--space", action="append", metavar="NAME=LOW:HIGH[:log]",
                   help="a tuned parameter and its range, repeatable (an integer parameter takes integers). "
                   "Default: lr log-uniform on [default/10, default*10] and epochs an integer in [1, 2*default], "
                   "whichever the method has; every other parameter stays at its default")
    p.add_argument("--objective", choices=tuple(OBJECTIVES), default="retrain",
                   help="retrain (default): the mean average gap to retrain; retrain-free: forget accuracy toward "
                   "test accuracy (toward 0 for class-wise forgetting) and retain accuracy lost against the "
                   "original, averaged: no retrain model is trained at all (unless --agreement)")
    p.add_argument("--agreement", action="store_true",
                   help="with --objective retrain-free: also train the exact-retrain reference of every validation "
                   "task and record each trial's average gap to retrain, to measure how the retrain-free choice "
                   "agrees with the retrain-based one (without it no retrain model is trained at all)")
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler (default 0)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="fix one of the method's other parameters, repeatable")
    p.add_argument("--train", action="append", metavar="NAME=VALUE", help=family.train_help)
    p.add_argument("--out", required=True, help="the study's directory (study.db, recipe.toml, trials.json, runs/)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out that `obliviate tune` did not write (its own is resumed)")
    p.add_argument("--cache-dir", default=None, help="model cache (default $OBLIVIATE_CACHE or ~/.cache/obliviate)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summaries")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="torch intra-op threads")


def validation_seeds(text: str, allow_report_seeds: bool) -> list[int]:
    """The seeds of ``--validation-seeds``; those below :data:`FIRST_VALIDATION_SEED` refused unless allowed."""
    try:
        seeds = [int(s) for s in split_list(text)]
    except ValueError:
        raise ConfigError(f"--validation-seeds expects comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--validation-seeds needs distinct non-negative seeds, got {text!r}")
    low = [s for s in seeds if s < FIRST_VALIDATION_SEED]
    if low and not allow_report_seeds:
        raise ConfigError(f"--validation-seeds {low} are below {FIRST_VALIDATION_SEED}: reports use seeds 0..N-1, "
                          "so tuning on them tunes the reported numbers on themselves; use seeds >= "
                          f"{FIRST_VALIDATION_SEED} (or pass --allow-report-seeds)")
    return seeds


def cmd_tune(args: argparse.Namespace) -> int:
    optuna = require_optuna()
    from ..methods import get_method
    from ..utils.outputs import check_output, prepare_dir

    family = get_family(args.family)
    seeds = validation_seeds(args.validation_seeds, args.allow_report_seeds)
    if args.trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {args.trials}")
    method = args.method
    if get_method(method, family=family.family).is_exact:
        raise ConfigError(f"{method} is the exact reference every trial compares with; tune an approximate method")
    fixed, train = kv(args.param, "--param"), kv(args.train, "--train")
    reference = args.objective in NEEDS_REFERENCE or args.agreement
    if args.objective not in applicable(family.name, reference=True):
        raise ConfigError(f"--objective {args.objective} scores classifier rows (forget / test / retain accuracy); "
                          f"the {family.name} family has only --objective retrain so far")
    if args.agreement and args.objective in NEEDS_REFERENCE:
        raise ConfigError(f"--agreement measures a retrain-free objective against the retrain-based one; "
                          f"--objective {args.objective} already is retrain-based")

    def bench(seed_list: list[int], params: dict[str, Any]) -> Bench:
        options = BenchOptions(methods=(["retrain"] if reference else []) + [method], seeds=seed_list,
                               params={method: params}, train=train, cache_dir=args.cache_dir)
        (found,) = family.benches(args, options)
        if not reference:  # truly reference-free: no exact retrain is trained, cached or read
            if not hasattr(found, "reference"):
                raise ConfigError(f"{family.name} benches cannot run without their reference yet: use --agreement")
            found.reference = False  # type: ignore[attr-defined]
        return found

    probe = bench(seeds, fixed)
    probe.validate()
    resolved = probe.resolved()
    defaults = resolved["methods"][method]
    space = parse_space(args.space, defaults, method) if args.space else default_space(defaults, method)
    both = sorted({d.name for d in space} & set(fixed))
    if both:
        raise ConfigError(f"{', '.join(both)} both tuned (--space or the default space) and fixed (--param)")
    spec = TuneSpec(
        family=family.name, method=method, dataset=str(resolved.get("dataset") or resolved.get("corpus")),
        model=str(resolved.get("model")),
        objective=args.objective, validation_seeds=seeds, forget=list(resolved.get("forget", [])), space=space,
        fixed={k: defaults[k] for k in fixed}, sampler_seed=args.sampler_seed,
        train={k: resolved["train"][k] for k in train}, base_recipe=getattr(args, "recipe", None),
        bench=json.loads(json.dumps({k: v for k, v in resolved.items() if k not in ("methods", "seeds", "reference")},
                                    default=str)),
        reference=reference,
    )
    out = prepare_dir(check_output(args.out, "tune", inputs=probe.inputs(), overwrite=args.overwrite))
    if args.quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(spec, out)
    runs = out / "runs"
    optimize(study, spec, lambda seed, params: bench([seed], {**fixed, **params}).run(runs), args.trials)
    command = "obliviate " + " ".join(shlex.quote(a) for a in args.argv)
    summary = write_outputs(study, spec, out, command)
    if not args.quiet:
        print(summary_text(summary, spec, out))
    return 0


def summary_text(summary: dict[str, Any], spec: TuneSpec, out: Path) -> str:
    """What ``obliviate tune`` prints at the end."""
    c = summary["counts"]
    lines = [f"tune {spec.method} on {spec.dataset} {', '.join(spec.forget)}, validation seeds "
             f"{list(spec.validation_seeds)}, space {spec.space_text()}: {c['COMPLETE']} complete, {c['PRUNED']} "
             f"pruned, {c['FAIL']} failed trials"]
    best = summary.get("best")
    if best is None:
        lines.append("no trial completed: no recipe written")
    else:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines.append(f"best: trial {best['number']}: {params} -> {best['value']:.3f} "
                     f"({OBJECTIVES[spec.objective][1]})")
        lines.append(f"recipe: {out / 'recipe.toml'}")
    agree = summary.get("agreement")
    if spec.objective != "retrain" and agree and "retrain" in agree["by"]:
        ref = agree["by"]["retrain"]
        rho = "n/a (under 3 distinct values)" if ref["spearman"] is None else f"{ref['spearman']:.2f}"
        lines.append(f"agreement: its choice ranks {ref['rank']} of {agree['trials']} complete trials by the average "
                     f"gap to retrain ({ref['value']:.3f}; best {ref['best']:.3f}); Spearman rho over the trials {rho}")
    lines.append(f"trials: {out / 'trials.json'}\nstudy:  {out / STUDY_FILE} (rerun the same command to resume or "
                 "add trials)")
    return "\n".join(lines)
