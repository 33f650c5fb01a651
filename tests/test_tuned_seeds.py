"""Held-out seeds: a bench refuses to report on a seed its recipe was tuned on, or (--allow-tuned-seeds)
marks those rows in results.json and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from obliviate.bench.options import seed_list, seeds_arg
from obliviate.bench.tuned_seeds import (check_tuned_seeds, forget_classes, forget_text, mark_tuned_rows, overlaps,
                                         seeds_text, tuned_classes, tuned_seeds)
from obliviate.cli import main
from obliviate.errors import ConfigError

#: what `obliviate tune` writes for a tuned value (tune.study.recipe_text), tuned on seeds 100 and 101
TUNED = ("tuned: study runs/t/study.db, 4 trials, objective 1.2 (mean average gap to retrain), "
         f"{seeds_text([100, 101])}, {forget_text(['random:0.1'])}, space lr=loguniform(0.001, 0.1)")
#: ... tuned on forgetting classes 1 and 7 (and 3 and 5 at once)
TUNED_CLASS = TUNED.replace("forget [random:0.1]", forget_text(["class:1", "class:7", "class:3,5"]))


class _Bench:
    def __init__(self, seeds: list[int], methods: list[str], provenance: dict[str, str],
                 forget: tuple[str, ...] = ("random:0.1",)) -> None:
        self._resolved = {"seeds": seeds, "methods": {m: {} for m in methods}, "forget": list(forget),
                          "recipe": {"path": "r.toml", "provenance": provenance}}

    def resolved(self) -> dict[str, Any]:
        return self._resolved


def test_provenance_seeds_round_trip() -> None:
    assert tuned_seeds(TUNED) == {100, 101}
    assert tuned_seeds("given: --param on the tune command") == set()
    assert tuned_seeds("paper default (Table 3)") == set()
    assert tuned_classes(TUNED) == set() and tuned_classes(TUNED_CLASS) == {1, 7, 3, 5}
    assert forget_classes("class:3,5") == {3, 5} and forget_classes("random:0.1") == set()


def test_a_class_tuned_on_is_not_held_out_whatever_the_seed() -> None:
    """A class-wise forget set is the same on every seed: only other classes are held out."""
    prov = {"methods.finetune.lr": TUNED_CLASS}
    assert overlaps(_Bench([0, 1, 2], ["finetune"], prov, ("class:2", "random:0.1"))) is None
    bench = _Bench([0, 1], ["retrain", "finetune"], prov, ("class:2", "class:7"))
    found = overlaps(bench)
    assert found is not None and found.classes == {"finetune": [7]} and found.seeds == {"finetune": []}
    with pytest.raises(ConfigError, match=r"tuned on forgetting classes \[7\] that this bench reports.*other classes"):
        check_tuned_seeds([bench])
    rows = [{"method": {"name": m}, "seed": 0, "task": {"forget_spec": f}}
            for f in ("class:2", "class:7") for m in ("retrain", "finetune")]
    mark_tuned_rows(bench, rows)
    assert [r.get("tuned_on_class", False) for r in rows] == [False, False, False, True]
    assert not any("tuned_on_seed" in r for r in rows)


def test_only_the_methods_the_bench_runs_and_its_seeds_count() -> None:
    prov = {"methods.finetune.lr": TUNED, "methods.finetune.epochs": TUNED, "methods.ssd.alpha": TUNED,
            "train.epochs": "given: --train on the tune command"}
    assert overlaps(_Bench([0, 1, 2], ["retrain", "finetune", "ssd"], prov)) is None  # held-out seeds
    assert overlaps(_Bench([100, 102], ["retrain", "scrub"], prov)) is None  # no tuned method runs
    found = overlaps(_Bench([99, 100, 101], ["retrain", "finetune"], prov))
    assert found is not None and found.seeds == {"finetune": [100, 101]}
    assert found.keys == {"finetune": ["methods.finetune.lr", "methods.finetune.epochs"]}
    with pytest.raises(ConfigError) as err:
        check_tuned_seeds([_Bench([99, 100, 101], ["retrain", "finetune"], prov)])
    text = str(err.value)
    assert "recipe r.toml was tuned on seeds [100, 101]" in text and "--allow-tuned-seeds" in text
    assert "finetune (tuned on seeds [100, 101]: methods.finetune.lr, methods.finetune.epochs)" in text
    check_tuned_seeds([_Bench([100], ["finetune"], prov)], allow=True)  # allowed: no error


def test_a_tuned_training_value_concerns_every_row() -> None:
    bench = _Bench([100, 5], ["retrain", "finetune"], {"train.epochs": TUNED})
    rows = [{"method": {"name": m}, "seed": s} for s in (100, 5) for m in ("original", "retrain", "finetune")]
    mark_tuned_rows(bench, rows)
    assert [r.get("tuned_on_seed", False) for r in rows] == [True, True, True, False, False, False]


def test_seeds_take_a_number_or_a_list() -> None:
    assert seed_list(seeds_arg("3")) == [0, 1, 2]
    assert seed_list(seeds_arg("10,11,12")) == [10, 11, 12]
    assert seed_list(seeds_arg("100,")) == [100]
    with pytest.raises(ConfigError, match="distinct"):
        seed_list(seeds_arg("10,10"))


def test_a_seed_list_survives_the_saved_config(tmp_path: Path) -> None:
    """The bench.yaml/toml a run saves gives back the same seeds, a one-seed list included."""
    from obliviate.bench.config_file import resolve_run
    from obliviate.cli import build_parser

    for seeds, expected in (("100,", [100]), ("10,11,12", [10, 11, 12]), ("2", [0, 1])):
        argv = ["bench", "classifier", "--seeds", seeds, "--out", str(tmp_path / "o")]
        args = build_parser().parse_args(argv)
        args.argv = argv
        name, text = resolve_run(args).saved_file()
        (tmp_path / name).write_text(text)
        argv = ["bench", "--config", str(tmp_path / name), "--out", str(tmp_path / "o")]
        again = build_parser().parse_args(argv)
        again.argv = argv
        assert resolve_run(again).benches()[0].resolved()["seeds"] == expected


def _recipe(tmp_path: Path) -> Path:
    """A recipe as `obliviate tune` writes it: finetune's lr tuned on seeds 100 and 101."""
    path = tmp_path / "recipe.toml"
    path.write_text('[recipe]\nname = "finetune-digits-tuned"\nfamily = "classifier"\ndataset = "digits"\n'
                    'model = "cnn"\n\n[methods.finetune]\nlr = 0.02\nepochs = 1\n\n[provenance]\n'
                    f'"methods.finetune.lr" = "{TUNED}"\n'
                    '"methods.finetune.epochs" = "given: --param on the tune command"\n')
    return path


def _bench(tmp_path: Path, seeds: str, *extra: str) -> list[str]:
    return ["bench", "classifier", "--recipe", str(_recipe(tmp_path)), "--methods", "retrain,finetune",
            "--seeds", seeds, "--max-train", "200", "--train", "epochs=1", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--quiet", *extra]


def test_a_bench_on_a_tuned_seed_is_refused_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(_bench(tmp_path, "7,101")) == 2
    err = capsys.readouterr().err
    assert f"recipe {tmp_path / 'recipe.toml'} was tuned on seeds [101] that this bench reports" in err
    assert "finetune (tuned on seeds [101]: methods.finetune.lr)" in err and "--allow-tuned-seeds" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing trained or written


def test_allowed_tuned_seeds_are_marked_in_results_and_report(tmp_path: Path) -> None:
    from obliviate.bench.results import validate_results

    assert main(_bench(tmp_path, "7,101", "--allow-tuned-seeds")) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    validate_results(doc)
    marked = {(r["method"]["name"], r["seed"]) for r in doc["runs"] if r.get("tuned_on_seed")}
    assert marked == {("finetune", 101)}  # the reference, the original and the held-out seed 7 are not
    assert all(r.get("tuned_on_seed", True) is True for r in doc["runs"])  # a mark is true or absent
    html = (tmp_path / "out" / "report.html").read_text()
    assert "‡ tuned on seed 101</span>" in html
    assert "‡ tuned on a reported task: finetune (seed 101)" in html
    from obliviate.report import format_table_text

    text = format_table_text(doc)
    assert "finetune (n=2) ‡" in text and "retrain (n=2) ‡" not in text
