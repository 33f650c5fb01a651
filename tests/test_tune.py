"""obliviate tune: the study, its resume, the recipe and its provenance, the refusals."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from obliviate.cli import main
from obliviate.errors import ConfigError
from obliviate.tune.command import validation_seeds
from obliviate.tune.objective import retrain_free, spearman
from obliviate.tune.space import Dimension, default_space, parse_space

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

#: the tests that run a study; the others (refusals, scores, the missing-optuna message) run without it
needs_optuna = pytest.mark.skipif(importlib.util.find_spec("optuna") is None,
                                  reason="optuna not installed (pip install 'obliviate[tune]')")

FAST = ["tune", "classifier", "--method", "finetune", "--max-train", "300", "--train", "epochs=2",
        "--validation-seeds", "100", "--quiet"]


def _tune(out: Path, *extra: str) -> int:
    return main([*FAST, "--out", str(out), *extra])


@needs_optuna
def test_recipe_has_the_chosen_params_and_their_provenance(tmp_path: Path) -> None:
    out = tmp_path / "study"
    assert _tune(out, "--trials", "3", "--space", "lr=1e-3:1e-1:log", "--space", "epochs=1:3") == 0
    trials = json.loads((out / "trials.json").read_text())
    done = [t for t in trials["trials"] if t["state"] == "COMPLETE"]
    assert len(done) == 3 and trials["counts"]["COMPLETE"] == 3
    best = min(done, key=lambda t: t["value"])
    for t in done:  # the value is the retrain objective, the mean over the seeds of the average gap
        assert t["value"] == pytest.approx(t["objectives"]["retrain"])
        assert t["per_seed"]["retrain"] == [pytest.approx(t["value"])]
        assert 1e-3 <= t["params"]["lr"] <= 1e-1 and t["params"]["epochs"] in (1, 2, 3)
    recipe = tomllib.loads((out / "recipe.toml").read_text())
    assert recipe["recipe"]["family"] == "classifier" and recipe["recipe"]["dataset"] == "digits"
    assert recipe["recipe"]["model"] == "cnn"
    assert recipe["recipe"]["sources"][0].startswith("obliviate tune: obliviate tune classifier --method finetune")
    assert recipe["methods"]["finetune"] == best["params"]
    for name in ("lr", "epochs"):
        text = recipe["provenance"][f"methods.finetune.{name}"]
        assert text.startswith(f"tuned: study {out / 'study.db'}, 3 trials, objective {best['value']:.4g} "
                               "(mean average gap to retrain)")
        assert "validation seeds [100]" in text and "space lr=loguniform(0.001, 0.1), epochs=int(1, 3)" in text
    assert recipe["train"] == {"epochs": 2}  # the --train the search ran with
    assert recipe["provenance"]["train.epochs"] == "given: --train on the tune command"
    from obliviate.classifier.recipe_files import load_recipe, validate_recipe

    loaded = load_recipe(out / "recipe.toml")  # what `obliviate bench classifier --recipe` reads
    validate_recipe(loaded)
    assert loaded.method_params("finetune") == best["params"] and loaded.train == {"epochs": 2}


@needs_optuna
def test_an_interrupted_study_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from obliviate.classifier.bench import ClassifierBench

    out, calls = tmp_path / "study", []
    real_run = ClassifierBench.run

    def killed_at_the_third(self, out_dir):  # the third trial is interrupted (Ctrl-C)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(self, out_dir)

    monkeypatch.setattr(ClassifierBench, "run", killed_at_the_third)
    assert _tune(out, "--trials", "4") == 130
    monkeypatch.setattr(ClassifierBench, "run", real_run)
    first = json.loads((out / "trials.json").read_text()) if (out / "trials.json").exists() else None
    assert first is None  # the interrupted run wrote no outputs; the study holds its trials
    assert _tune(out, "--trials", "2") == 0  # the two finished trials suffice: nothing runs
    two = json.loads((out / "trials.json").read_text())
    assert two["counts"] == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 1, "RUNNING": 0}
    assert _tune(out, "--trials", "4") == 0
    four = json.loads((out / "trials.json").read_text())
    assert four["counts"]["COMPLETE"] == 4
    assert [t["params"] for t in four["trials"][:2]] == [t["params"] for t in two["trials"][:2]]
    assert "4 trials" in tomllib.loads((out / "recipe.toml").read_text())["provenance"]["methods.finetune.lr"]


@needs_optuna
def test_another_search_in_the_same_out_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    assert _tune(out, "--trials", "1") == 0
    assert _tune(out, "--trials", "1", "--space", "lr=1e-3:1e-2:log") == 2
    assert "another search (differs in space)" in capsys.readouterr().err


@needs_optuna
def test_retrain_free_objective_reports_its_agreement(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    assert main([*FAST[:-1], "--out", str(out), "--trials", "3", "--objective", "retrain-free", "--agreement"]) == 0
    printed = capsys.readouterr().out
    assert "agreement: its choice ranks" in printed and "of 3 complete trials by the average gap to retrain" in printed
    trials = json.loads((out / "trials.json").read_text())
    assert all(t["value"] == pytest.approx(t["objectives"]["retrain-free"]) for t in trials["trials"])
    assert trials["agreement"]["by"]["retrain"]["rank"] in (1, 2, 3)
    assert "retrain-free score" in tomllib.loads((out / "recipe.toml").read_text())["provenance"]["methods.finetune.lr"]


@needs_optuna
def test_retrain_free_trains_no_retrain_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    """Without --agreement the retrain-free search trains, loads and evaluates no exact retrain at all."""
    from obliviate.classifier import bench as classifier_bench
    from obliviate.methods.classifier.retrain import Retrain

    calls: list[str] = []
    real_retrain = Retrain.run

    def counted(self, *args, **kwargs):  # the exact retrain (the original is trained by train_classifier)
        calls.append("Retrain.run")
        return real_retrain(self, *args, **kwargs)

    def no_reference(*args, **kwargs):
        calls.append("reference")
        raise AssertionError("a reference-free search asked for the retrain reference")

    monkeypatch.setattr(Retrain, "run", counted)
    monkeypatch.setattr(classifier_bench._SeedRun, "reference_rows", no_reference)
    monkeypatch.setattr(classifier_bench._SeedRun, "train_reference", no_reference)
    out, cache = tmp_path / "study", tmp_path / "cache"
    argv = [*FAST, "--out", str(out), "--cache-dir", str(cache), "--trials", "2", "--objective", "retrain-free",
            "--space", "lr=1e-3:1e-1:log"]
    assert main(argv) == 0
    assert calls == []  # no exact retrain ran, and no reference was asked for
    entries = [p.name for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and entries[0].startswith("original-")  # no retrain entry in the model cache
    trials = json.loads((out / "trials.json").read_text())
    assert trials["spec"]["reference"] is False and trials["counts"]["COMPLETE"] == 2
    for t in trials["trials"]:  # only the retrain-free score is recorded: no gap to retrain exists
        assert set(t["objectives"]) == {"retrain-free"} and t["value"] == pytest.approx(t["objectives"]["retrain-free"])
    assert trials["agreement"]["by"] == {}
    rows = [json.loads(f.read_text()) for f in (out / "runs" / "rows").glob("*.json")]
    assert {r["method"]["name"] for r in rows} == {"original", "finetune"}
    assert all(r["gap_to_retrain"] == {} and r["retrain_seconds"] is None for r in rows)
    assert "retrain-free score" in tomllib.loads((out / "recipe.toml").read_text())["provenance"]["methods.finetune.lr"]
    assert _tune(tmp_path / "x", "--agreement") == 2  # the retrain objective is retrain-based already
    assert "--objective retrain already is retrain-based" in capsys.readouterr().err


@needs_optuna
def test_report_seeds_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([*FAST[:-3], "--validation-seeds", "0,100", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "--validation-seeds [0] are below 100" in err and "--allow-report-seeds" in err
    assert not (tmp_path / "s").exists()
    assert validation_seeds("0,100", allow_report_seeds=True) == [0, 100]


@needs_optuna
def test_unknown_space_param_names_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _tune(tmp_path / "s", "--space", "alpha=0.1:0.9") == 2
    err = capsys.readouterr().err
    assert "finetune has no numeric parameter 'alpha'" in err and "epochs" in err and "lr" in err
    with pytest.raises(ConfigError, match="integer parameter"):
        parse_space(["epochs=1.5:3"], {"epochs": 2, "lr": 0.01}, "finetune")
    with pytest.raises(ConfigError, match="LOW > 0"):
        parse_space(["lr=0:1:log"], {"epochs": 2, "lr": 0.01}, "finetune")


def test_missing_optuna_names_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    assert _tune(tmp_path / "s") == 2
    err = capsys.readouterr().err
    assert "needs Optuna" in err and "pip install 'obliviate[tune]'" in err


def test_default_space_follows_the_effective_defaults() -> None:
    assert default_space({"lr": 0.01, "epochs": 5, "batch_size": 32}, "finetune") == [
        Dimension("lr", 0.001, 0.1, log=True), Dimension("epochs", 1, 10, integer=True)]
    with pytest.raises(ConfigError, match="no default search space"):
        default_space({"alpha": 0.5}, "x")


def _row(method: str, scenario: str, fa: float, ta: float, ra: float) -> dict:
    return {"method": {"name": method}, "status": "ok", "task": {"scenario": scenario, "forget_spec": scenario},
            "metrics": {"forget_accuracy": fa, "test_accuracy": ta, "retain_accuracy": ra}}


def test_retrain_free_score() -> None:
    random = [_row("original", "random", 100.0, 95.0, 100.0), _row("ft", "random", 90.0, 94.0, 98.0)]
    assert retrain_free(random, "ft") == pytest.approx((4.0 + 2.0) / 2)  # |FA - TA| and RA lost
    better = [random[0], _row("ft", "random", 95.0, 94.0, 101.0)]
    assert retrain_free(better, "ft") == pytest.approx(0.5)  # no utility term when RA rises
    cls = [_row("original", "class", 100.0, 95.0, 100.0), _row("ft", "class", 10.0, 86.0, 99.0)]
    assert retrain_free(cls, "ft") == pytest.approx((10.0 + 1.0) / 2)  # class-wise: FA toward 0


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3, 4], [1, 3, 2, 4, 5]) == pytest.approx(0.97467943448)  # as scipy.stats.spearmanr
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 2, 3], [5, 5, 5]) is None
    assert spearman([1, 1, 2, 2], [1, 1, 2, 2]) is None  # two groups of ties: no rank information


@needs_optuna
def test_trials_report_each_seed_and_are_pruned(tmp_path: Path) -> None:
    import optuna

    from obliviate.tune.study import TuneSpec, objective

    spec = TuneSpec(family="classifier", method="ft", dataset="digits", model="cnn", objective="retrain",
                    validation_seeds=[100, 101, 102], forget=["random"], space=[Dimension("lr", 0.001, 0.1, log=True)])
    seen: list[tuple[int, float]] = []

    def run_seed(seed: int, params: dict) -> list[dict]:  # the gap grows with lr
        seen.append((seed, params["lr"]))
        gap = 100 * params["lr"]
        original = _row("original", "random", 100.0, 95.0, 100.0)
        ft = _row("ft", "random", 90.0, 94.0, 98.0) | {"gap_to_retrain": {"average": gap + seed - 100}}
        return [original, ft]

    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    study.enqueue_trial({"lr": 0.01})
    study.enqueue_trial({"lr": 0.05})
    study.optimize(objective(spec, run_seed), n_trials=2)
    first, second = study.trials
    assert first.value == pytest.approx(1 + 1)  # mean of 1, 2, 3
    assert first.intermediate_values == pytest.approx({0: 1.0, 1: 1.5, 2: 2.0})
    assert first.user_attrs["per_seed"]["retrain"] == pytest.approx([1.0, 2.0, 3.0])
    assert second.state == optuna.trial.TrialState.PRUNED and second.intermediate_values == pytest.approx({0: 5.0})
    assert [s for s, _ in seen] == [100, 101, 102, 100]


@needs_optuna
def test_out_follows_the_output_rules(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from obliviate.utils.outputs import mark

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert _tune(foreign, "--trials", "1") == 2
    assert "a non-empty directory obliviate did not write" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    bench = tmp_path / "bench"
    bench.mkdir()
    mark(bench, "bench")
    (bench / "results.json").write_text("{}")
    assert _tune(bench, "--trials", "1") == 2
    assert "was written by `obliviate bench`" in capsys.readouterr().err


@needs_optuna
def test_a_fixed_param_is_in_the_recipe_and_may_not_be_tuned(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    assert _tune(out, "--trials", "1", "--space", "lr=1e-3:1e-1:log", "--param", "weight_decay=0.001") == 0
    recipe = tomllib.loads((out / "recipe.toml").read_text())
    assert recipe["methods"]["finetune"]["weight_decay"] == 0.001 and "epochs" not in recipe["methods"]["finetune"]
    assert recipe["provenance"]["methods.finetune.weight_decay"] == "given: --param on the tune command"
    assert _tune(tmp_path / "other", "--param", "lr=0.01") == 2  # lr is in the default space
    assert "lr both tuned (--space or the default space) and fixed (--param)" in capsys.readouterr().err


def test_retrain_gap_is_the_mean_over_the_forget_specs() -> None:
    from obliviate.tune.objective import retrain_gap

    rows = [_row("ft", "random", 90, 94, 98) | {"gap_to_retrain": {"average": 2.0}},
            _row("ft", "class", 5, 86, 99) | {"gap_to_retrain": {"average": 6.0}},
            _row("retrain", "class", 0, 86, 99) | {"gap_to_retrain": {"average": 0.0}}]
    assert retrain_gap(rows, "ft") == pytest.approx(4.0)
    failed = [rows[0] | {"status": "failed", "error": "boom"}]
    with pytest.raises(Exception, match="ft failed: boom"):
        retrain_gap(failed, "ft")


@needs_optuna
def test_class_wise_study_resumes_after_its_process_is_killed(tmp_path: Path) -> None:
    """A class-wise search (validation classes 1 and 7, other than the reported class:3) whose process is
    SIGKILLed mid-search resumes: the finished trials are kept, the killed one stays RUNNING and is not counted."""
    import os
    import signal
    import subprocess
    import time

    import optuna

    out = tmp_path / "study"
    argv = [*FAST, "--forget", "class:1", "--forget", "class:7", "--out", str(out), "--trials", "4",
            "--cache-dir", str(tmp_path / "cache"), "--space", "lr=1e-3:1e-1:log"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "obliviate", *argv[:]], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(2)
            if not (out / "study.db").exists():
                continue
            try:
                study = optuna.load_study(study_name="classifier-finetune", storage=f"sqlite:///{out / 'study.db'}")
                states = [t.state for t in study.trials]
            except Exception:  # the tables are being created
                continue
            if states.count(optuna.trial.TrialState.COMPLETE) >= 1 and optuna.trial.TrialState.RUNNING in states:
                break
        assert proc.poll() is None, "the search ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "trials.json").exists()  # killed: no outputs yet
    assert main(argv) == 0
    trials = json.loads((out / "trials.json").read_text())
    assert trials["counts"]["COMPLETE"] == 4 and trials["counts"]["RUNNING"] == 1
    assert trials["spec"]["forget"] == ["class:1", "class:7"]
    recipe = tomllib.loads((out / "recipe.toml").read_text())
    source = recipe["provenance"]["methods.finetune.lr"]
    assert "validation seeds [100]" in source and "forget [class:1, class:7]" in source
    from obliviate.bench.tuned_seeds import tuned_classes, tuned_seeds

    assert tuned_seeds(source) == {100} and tuned_classes(source) == {1, 7}  # what the bench guard reads


@needs_optuna
def test_lm_family_is_tuned_with_the_retrain_objective(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    lm = ["tune", "lm", "--method", "npo", "--people", "6", "--train", "epochs=3", "--param", "epochs=1",
          "--validation-seeds", "100", "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert main([*lm, "--objective", "retrain-free", "--out", str(out)]) == 2
    assert "the lm family has only --objective retrain so far" in capsys.readouterr().err
    assert main([*lm, "--trials", "2", "--space", "lr=1e-4:1e-2:log", "--out", str(out)]) == 0
    trials = json.loads((out / "trials.json").read_text())
    assert trials["counts"]["COMPLETE"] == 2 and trials["spec"]["dataset"] == "bios"
    assert all(t["value"] == pytest.approx(t["objectives"]["retrain"]) for t in trials["trials"])
    recipe = tomllib.loads((out / "recipe.toml").read_text())
    assert recipe["recipe"]["family"] == "lm" and recipe["recipe"]["model"] == "tiny"
    assert recipe["methods"]["npo"]["epochs"] == 1 and 1e-4 <= recipe["methods"]["npo"]["lr"] <= 1e-2
    assert "validation seeds [100], forget [documents]" in recipe["provenance"]["methods.npo.lr"]
