"""The Optuna study of ``obliviate tune``: TPE sampler (seeded), median pruner, kept in ``OUT/study.db``
(SQLite) so that rerunning the same command resumes it and several processes can share it.

Each trial runs the family's bench for [retrain, METHOD] with the trial's parameters, one validation seed
at a time (originals and references come from the model cache, so after the first trial only the method
runs), and reports the running mean after every seed to the pruner. Result rows are kept under
``OUT/runs`` (keyed by the parameters: a killed trial's finished seeds are reused when retried).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bench.tuned_seeds import forget_text, seeds_text
from ..errors import ConfigError, ObliviateError
from ..utils.io import atomic_write_json, atomic_write_text
from .objective import OBJECTIVES, applicable, scores, spearman
from .space import Dimension

STUDY_FILE = "study.db"
PIP = "pip install 'obliviate[tune]'  (or: pip install 'optuna>=3')"


def require_optuna() -> Any:
    """The optuna module, or a ConfigError naming the pip command."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(f"obliviate tune needs Optuna, which is not installed: {PIP}") from None
    return optuna


@dataclass
class TuneSpec:
    """Everything that determines a study: a rerun must agree on all of it to resume the study."""

    family: str
    method: str
    dataset: str
    model: str
    objective: str
    validation_seeds: list[int]
    forget: list[str]
    space: list[Dimension]
    #: the method's parameters that are not tuned (given with --param), and the bench's resolved setting
    fixed: dict[str, Any] = field(default_factory=dict)
    #: the original-training settings given on the command line (--train; the recipe's [train])
    train: dict[str, Any] = field(default_factory=dict)
    #: the recipe file the search ran over (--recipe), if any
    base_recipe: str | None = None
    bench: dict[str, Any] = field(default_factory=dict)
    sampler_seed: int = 0
    #: whether the trials train the exact-retrain reference (always for the retrain objective; for the
    #: retrain-free one only with --agreement, to measure how its choice agrees with the retrain-based one)
    reference: bool = True

    def objectives(self) -> list[str]:
        """The objectives every trial records (those needing the reference only when it is trained)."""
        return applicable(self.family, self.reference)

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "method": self.method, "dataset": self.dataset, "model": self.model,
                "objective": self.objective, "validation_seeds": list(self.validation_seeds),
                "forget": list(self.forget), "space": [d.as_dict() for d in self.space], "fixed": dict(self.fixed),
                "train": dict(self.train), "base_recipe": self.base_recipe,
                "bench": self.bench, "sampler_seed": self.sampler_seed,
                # only when false: studies made before this field (which trained the reference) still resume
                **({} if self.reference else {"reference": False})}

    def space_text(self) -> str:
        return ", ".join(d.describe() for d in self.space)


#: runs one validation seed with a trial's method parameters into the rows folder; the seed's rows
RunSeed = Callable[[int, dict[str, Any]], list[dict[str, Any]]]


def open_study(spec: TuneSpec, out: Path) -> Any:
    """Create ``out/study.db``'s study, or load it when it exists and was made by the same ``spec``."""
    optuna = require_optuna()
    storage = _storage(out)
    name = f"{spec.family}-{spec.method}"
    existing = set(optuna.study.get_all_study_names(storage))
    if existing and name not in existing:
        raise ConfigError(f"{out / STUDY_FILE} holds the studies {sorted(existing)}, not {name}: choose another --out")
    probe = optuna.create_study(study_name=name, storage=storage, direction="minimize", load_if_exists=True)
    wanted = json.loads(json.dumps(spec.as_dict()))  # as stored (tuples become lists)
    stored = probe.user_attrs.get("spec")
    if stored is None:
        probe.set_user_attr("spec", wanted)
    elif stored != wanted:
        differs = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ConfigError(f"{out / STUDY_FILE} is a study of another search (differs in {', '.join(differs)}); "
                          "rerun its own command to resume it, or choose another --out")
    # seeded, and reseeded by the history's length so that a resumed search draws new startup points
    sampler = optuna.samplers.TPESampler(seed=spec.sampler_seed + len(probe.trials))
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                             pruner=optuna.pruners.MedianPruner())


def _storage(out: Path, attempts: int = 5) -> Any:
    """The SQLite storage of ``out/study.db``; processes that create it at once retry (one creates the tables
    while another's ``CREATE TABLE`` fails), and wait up to a minute for its lock."""
    optuna = require_optuna()
    from sqlalchemy.exc import OperationalError  # optuna's own dependency

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(f"sqlite:///{(out / STUDY_FILE).resolve()}",
                                              engine_kwargs={"connect_args": {"timeout": 60}})
        except OperationalError:
            if attempt + 1 == attempts:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def objective(spec: TuneSpec, run_seed: RunSeed) -> Callable[[Any], float]:
    """The trial function: the mean over the validation seeds of the chosen objective (lower is better)."""
    optuna = require_optuna()

    def run(trial: Any) -> float:
        params = {d.name: d.suggest(trial) for d in spec.space}
        per_seed: dict[str, list[float]] = {name: [] for name in spec.objectives()}
        for step, seed in enumerate(spec.validation_seeds):
            try:
                rows = run_seed(seed, params)
                found = scores(rows, spec.method, spec.objectives())
            except ObliviateError as exc:  # a failing method fails this trial; the search goes on
                trial.set_user_attr("error", str(exc))
                return math.nan
            for name, value in found.items():
                per_seed[name].append(value)
            trial.set_user_attr("per_seed", per_seed)
            trial.report(sum(per_seed[spec.objective]) / len(per_seed[spec.objective]), step)
            if step + 1 < len(spec.validation_seeds) and trial.should_prune():
                raise optuna.TrialPruned()
        means = {name: sum(v) / len(v) for name, v in per_seed.items()}
        trial.set_user_attr("objectives", means)
        return means[spec.objective]

    return run


def finished(study: Any) -> int:
    """How many trials of ``study`` are done (complete or pruned): what --trials counts."""
    states = _states()
    return sum(t.state in states for t in study.trials)


def _states() -> tuple[Any, ...]:
    optuna = require_optuna()
    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def optimize(study: Any, spec: TuneSpec, run_seed: RunSeed, n_trials: int) -> None:
    """Run trials until ``n_trials`` are done in the study (counting those of earlier or other processes)."""
    optuna = require_optuna()
    todo = n_trials - finished(study)
    if todo > 0:
        study.optimize(objective(spec, run_seed), n_trials=todo, catch=(),
                       callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=_states())])


def trial_records(study: Any) -> list[dict[str, Any]]:
    """Every trial: number, state, params, value, both objectives' means, per-seed scores, error."""
    return [{"number": t.number, "state": t.state.name, "params": dict(t.params), "value": t.value,
             "objectives": t.user_attrs.get("objectives"), "per_seed": t.user_attrs.get("per_seed"),
             **({"error": t.user_attrs["error"]} if "error" in t.user_attrs else {})}
            for t in study.trials]


def agreement(study: Any, objective: str) -> dict[str, Any] | None:
    """Where ``objective``'s best trial ranks under every other objective among the complete trials, and the
    rank correlation of the objectives over them; None with no complete trial."""
    optuna = require_optuna()
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get("objectives")]
    if not done:
        return None
    best = min(done, key=lambda t: t.value)
    out: dict[str, Any] = {"trials": len(done), "best_trial": best.number, "by": {}}
    for other in OBJECTIVES:
        if other == objective or any(other not in t.user_attrs["objectives"] for t in done):
            continue  # itself, or not recorded (no reference trained)
        values = [t.user_attrs["objectives"][other] for t in done]
        mine = best.user_attrs["objectives"][other]
        out["by"][other] = {
            "rank": 1 + sum(v < mine for v in values), "value": mine, "best": min(values),
            "spearman": spearman([t.value for t in done], values),
        }
    return out


def write_outputs(study: Any, spec: TuneSpec, out: Path, command: str) -> dict[str, Any]:
    """``out/trials.json`` and ``out/recipe.toml`` (the best complete trial); the summary they hold."""
    optuna = require_optuna()
    records = trial_records(study)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    summary: dict[str, Any] = {
        "spec": spec.as_dict(), "command": command,
        "counts": {s: sum(r["state"] == s for r in records) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")},
        "agreement": agreement(study, spec.objective),
    }
    if complete:
        best = min(complete, key=lambda t: t.value)
        summary["best"] = {"number": best.number, "value": best.value, "params": dict(best.params)}
        atomic_write_text(out / "recipe.toml", recipe_text(spec, out, command, dict(best.params), best.value,
                                                           finished(study)))
    atomic_write_json(out / "trials.json", {**summary, "trials": records})
    return summary


def recipe_text(spec: TuneSpec, out: Path, command: str, params: dict[str, Any], value: float, n_trials: int) -> str:
    """The recipe file (docs/recipes.md): [recipe], [train] with the --train settings the search ran with,
    [methods.<method>] with the chosen and the fixed parameters, and [provenance] saying where each came from."""
    from ..bench.config_file import _toml_key, _toml_value

    what = OBJECTIVES[spec.objective][1]
    tuned = (f"tuned: study {out / STUDY_FILE}, {n_trials} trials, objective {value:.4g} ({what}), "
             f"{seeds_text(spec.validation_seeds)}, {forget_text(spec.forget)}, space {spec.space_text()}")
    chosen = {**spec.fixed, **params}
    provenance = {f"train.{name}": "given: --train on the tune command" for name in spec.train}
    provenance.update({f"methods.{spec.method}.{name}": tuned if name in params else "given: --param on the tune command"
                       for name in chosen})
    sources = ["obliviate tune: " + command] + ([f"base recipe: {spec.base_recipe}"] if spec.base_recipe else [])

    def table(name: str, values: dict[str, Any]) -> list[str]:
        return ["", f"[{name}]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items())]

    head = {"name": f"{spec.method}-{spec.dataset}-tuned", "family": spec.family, "dataset": spec.dataset,
            "model": spec.model, "sources": sources}
    lines = table("recipe", head)[1:]
    if spec.train:
        lines += table("train", spec.train)
    lines += table(f"methods.{_toml_key(spec.method)}", chosen) + table("provenance", provenance)
    return "\n".join(lines) + "\n"
