"""``obliviate bench --config`` (YAML/TOML, flags over the file, saved back), ``--dry-run``, ``--report-to``
with fake TensorBoard/MLflow modules, and the at-a-glance summary across task groups."""

from __future__ import annotations

import json
import sys
import tomllib
import types
from pathlib import Path

import pytest
import yaml

from obliviate.bench.config_file import resolve_run
from obliviate.cli import build_parser, main
from obliviate.errors import ConfigError
from obliviate.report import summary_text, write_report
from obliviate.report.summary import group_summaries
from obliviate.report.stats import summarize

#: a tiny classifier bench, as a config file (dashes and underscores, a mapping for --param)
TINY = {
    "family": "classifier",
    "dataset": "digits",
    "forget": ["class:3"],
    "methods": ["retrain", "finetune"],
    "seeds": 1,
    "max-train": 300,
    "train": {"epochs": 2},
    "param": {"finetune": {"epochs": 1}},
}


def resolve(argv: list[str]):
    args = build_parser().parse_args(argv)
    args.argv = argv
    return resolve_run(args)


def resolved(argv: list[str]) -> list[dict]:
    return [b.resolved() for b in resolve(argv).benches()]


def write_yaml(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny bench run from a YAML file (its cache is reused by the tests below)."""
    root = tmp_path_factory.mktemp("cfg")
    config = write_yaml(root / "tiny.yaml", TINY | {"cache-dir": str(root / "cache")})
    assert main(["bench", "--config", str(config), "--out", str(root / "out"), "--quiet"]) == 0
    return root


def test_file_and_flags_resolve_the_same_benches(tmp_path):
    config = write_yaml(tmp_path / "b.yaml", TINY)
    flags = ["bench", "classifier", "--dataset", "digits", "--forget", "class:3", "--methods", "retrain,finetune",
             "--seeds", "1", "--max-train", "300", "--train", "epochs=2", "--param", "finetune.epochs=1"]
    assert resolved(["bench", "--config", str(config)]) == resolved(flags)
    run = resolve(["bench", "--config", str(config)])
    assert run.suite == "classifier"
    assert resolved(flags)[0]["methods"]["finetune"]["epochs"] == 1 and resolved(flags)[0]["train"]["epochs"] == 2


def test_flags_on_the_command_line_override_the_file(tmp_path):
    config = write_yaml(tmp_path / "b.yaml", TINY | {"seeds": 3, "forget": ["class:3", "random:0.1"]})
    # a family's flags stand after its name (as without a file); run options may stand before it
    conf = resolved(["bench", "classifier", "--config", str(config), "--seeds", "1", "--forget", "random:500"])[0]
    assert conf["seeds"] == [0] and conf["forget"] == ["random:500"]  # replaced, not appended
    assert conf["max_train"] == 300  # what the command line did not set comes from the file
    before = resolved(["bench", "--seeds", "2", "classifier", "--config", str(config)])[0]
    assert before["seeds"] == [0, 1]  # a run option before the family name counts too
    assert resolved(["bench", "--config", str(config)])[0]["seeds"] == [0, 1, 2]


def test_a_list_of_benches_with_shared_keys(tmp_path):
    doc = {"seeds": 2, "cache_dir": str(tmp_path / "c"), "benches": [
        {"family": "classifier", "dataset": "digits", "forget": "class:3"},
        {"family": "classifier", "dataset": "digits", "seeds": 1, "methods": "finetune"},
    ]}
    run = resolve(["bench", "--config", str(write_yaml(tmp_path / "b.yaml", doc))])
    first, second = (b.resolved() for b in run.benches())
    assert first["seeds"] == [0, 1] and first["forget"] == ["class:3"]
    assert second["seeds"] == [0] and list(second["methods"]) == ["finetune"] and second["forget"] == ["random:0.1"]
    assert all(b.cache_dir == str(tmp_path / "c") for b in run.benches())
    # the family on the command line picks its benches and its flags override theirs
    doc["benches"].append({"family": "lm", "methods": "grad_ascent"})
    config = write_yaml(tmp_path / "c.yaml", doc)
    assert [b["family"] for b in resolved(["bench", "--config", str(config)])] == ["classifier", "classifier", "lm"]
    assert resolve(["bench", "--config", str(config)]).suite == "config"
    picked = resolved(["bench", "classifier", "--config", str(config), "--seeds", "3"])
    assert [b["seeds"] for b in picked] == [[0, 1, 2], [0, 1, 2]]


@pytest.mark.parametrize("key", ["datset", "corpus", "people"])
def test_unknown_key_and_another_familys_key_are_errors_naming_the_known_keys(tmp_path, key, capsys):
    config = write_yaml(tmp_path / "b.yaml", TINY | {key: "x"})
    with pytest.raises(ConfigError) as err:
        resolve(["bench", "--config", str(config)])
    message = str(err.value)
    assert f"unknown key {key!r}" in message and "dataset" in message and "max_train" in message
    assert str(config) in message
    entry = write_yaml(tmp_path / "e.yaml", {"benches": [TINY | {key: "x"}]})
    with pytest.raises(ConfigError, match=rf"benches\[0\] \(classifier\): unknown key '{key}'") as err:
        resolve(["bench", "--config", str(entry)])
    assert "max_train" in str(err.value) and "overwrite" not in str(err.value)  # run options go at the top
    assert main(["bench", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert f"unknown key {key!r}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # the same key as a flag of this family's command is refused too (argparse: exit 2)
    if key != "datset":
        with pytest.raises(SystemExit) as exc:
            main(["bench", "classifier", f"--{key}", "x"])
        assert exc.value.code == 2


def test_bad_values_and_misplaced_keys_are_errors(tmp_path):
    cases = [
        ({**TINY, "seeds": "many"}, "argument --seeds: a count N or comma-separated seeds (e.g. 10,11,12), got 'many'"),
        ({**TINY, "overwrite": "yes"}, "overwrite takes true or false"),
        ({"benches": [{**TINY, "out": "x"}]}, "belong(s) to the whole run"),
        ({"benches": [{"dataset": "digits"}]}, "'family' must be one of"),
        ({"dataset": "digits"}, "the quick suite: no family"),
        ({**TINY, "benches": [TINY]}, "not both"),
        ({**TINY, "max-train": 1, "max_train": 2}, "given twice"),
    ]
    for i, (doc, expected) in enumerate(cases):
        with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            resolve(["bench", "--config", str(write_yaml(tmp_path / f"{i}.yaml", doc))])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        resolve(["bench", "--config", str(tmp_path / "x.json")])


def test_toml_files_read_and_save_as_toml(tmp_path):
    text = "\n".join(['family = "classifier"', 'dataset = "digits"', 'forget = ["class:3"]', "seeds = 1",
                      'methods = ["retrain", "finetune"]', "max-train = 300", "[param.finetune]", "epochs = 1"])
    (tmp_path / "b.toml").write_text(text + "\n")
    run = resolve(["bench", "--config", str(tmp_path / "b.toml")])
    yaml_file = write_yaml(tmp_path / "b.yaml", {k: v for k, v in TINY.items() if k != "train"})
    assert [b.resolved() for b in run.benches()] == resolved(["bench", "--config", str(yaml_file)])
    name, saved = run.saved_file()
    assert name == "bench.toml"
    (tmp_path / "saved.toml").write_text(saved)
    assert tomllib.loads(saved)["benches"][0]["param"] == ["finetune.epochs=1"]
    assert resolved(["bench", "--config", str(tmp_path / "saved.toml")]) == [b.resolved() for b in run.benches()]


def test_saved_file_of_a_flag_run_and_of_the_quick_suite(tmp_path):
    run = resolve(["bench", "classifier", "--forget", "class:3", "--seeds", "2", "--out", "somewhere", "--overwrite"])
    doc = run.document()
    assert doc["benches"][0]["family"] == "classifier" and doc["benches"][0]["seeds"] == 2
    assert not {"out", "overwrite", "quiet", "dry_run", "config"} & (set(doc) | set(doc["benches"][0]))
    quick = resolve(["bench", "--seeds", "1"])
    assert quick.suite == "quick" and quick.document() == {"seeds": 1}
    config = write_yaml(tmp_path / "q.yaml", quick.document())
    assert resolve(["bench", "--config", str(config)]).suite == "quick"


@pytest.mark.slow
def test_run_with_config_saves_a_file_that_reproduces_it(tiny_run):
    root = tiny_run
    out = root / "out"
    saved = out / "bench.yaml"
    assert saved.is_file() and (out / "config.json").is_file()
    first = json.loads((out / "config.json").read_text())
    assert first["benches"][0]["forget"] == ["class:3"] and first["benches"][0]["train"]["epochs"] == 2
    assert main(["bench", "--config", str(saved), "--out", str(root / "again"), "--quiet"]) == 0
    second = json.loads((root / "again" / "config.json").read_text())
    assert second == first
    rows = [json.loads((d / "results.json").read_text())["runs"] for d in (out, root / "again")]
    key = [[(r["task"]["forget_spec"], r["method"]["name"], r["seed"], r["method"]["params"]) for r in rs] for rs in rows]
    assert key[0] == key[1] and len(key[0]) == 3  # original, retrain, finetune
    assert (root / "again" / "bench.yaml").read_text() == saved.read_text()


@pytest.mark.slow
def test_dry_run_lists_rows_models_and_time_and_writes_nothing(tiny_run, tmp_path, capsys):
    root = tiny_run
    cache = root / "cache"
    entries = sorted(p.name for p in cache.iterdir())
    config = write_yaml(tmp_path / "b.yaml", TINY | {"cache-dir": str(cache), "forget": ["class:3", "class:5"]})
    capsys.readouterr()
    assert main(["bench", "--config", str(config), "--seeds", "2", "--dry-run", "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "rows on class:3: 6 = original 2 (reference), retrain 2 (reference), finetune 2" in text
    assert "rows on class:5: 6 = " in text
    assert "original  cached" in text and "cnn on digits, seed 0" in text  # the fixture trained it
    assert "reference cached" in text and "retrain without class:3, seed 0" in text
    assert "original  to train (~" in text and "cnn on digits, seed 1" in text  # estimated from seed 0's
    assert "total: 12 rows (4 unlearning runs)" in text and "4 model(s) to train" in text
    assert "nothing was trained or written" in text
    assert not (tmp_path / "out").exists() and sorted(p.name for p in cache.iterdir()) == entries
    # the fixture's own bench: its 3 rows, every model cached
    fixture = write_yaml(tmp_path / "fixture.yaml", TINY | {"cache-dir": str(cache)})
    assert main(["bench", "--config", str(fixture), "--dry-run", "--out", str(root / "out")]) == 0
    text = capsys.readouterr().out
    assert "total: 3 rows (1 unlearning runs)" in text and "every model is cached" in text
    assert f"{root / 'out'} holds 3 stored row file(s)" in text
    finetune = [json.loads(p.read_text()) for p in (root / "out" / "rows").glob("*.json")]
    seconds = next(r["seconds"] for r in finetune if r["method"]["name"] == "finetune")
    assert f"unlearning runs: ~{seconds:.0f} s for 1 of them" in text and "0 of unknown time" in text
    # with no cache the times are unknown
    assert main(["bench", "--config", str(config), "--dry-run", "--cache-dir", str(tmp_path / "empty")]) == 0
    text = capsys.readouterr().out
    assert "(time unknown)" in text and "of unknown time" in text and not (tmp_path / "empty").exists()


class _FakeWriter:
    instances: list["_FakeWriter"] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir, self.scalars, self.texts, self.closed = log_dir, [], [], False
        _FakeWriter.instances.append(self)

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def add_text(self, tag, text, global_step):
        self.texts.append((tag, text, global_step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def _fake_mlflow() -> types.ModuleType:
    module = types.ModuleType("mlflow")
    module.calls = []
    for name in ("set_tracking_uri", "set_experiment", "start_run", "log_metrics", "set_tag", "end_run"):
        setattr(module, name, (lambda n: lambda *a, **k: module.calls.append((n, a, k)))(name))
    return module


@pytest.mark.slow
def test_report_to_logs_every_finished_row_with_fake_modules(tiny_run, tmp_path, monkeypatch):
    tb = types.ModuleType("torch.utils.tensorboard")
    tb.SummaryWriter = _FakeWriter
    mlflow = _fake_mlflow()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", tb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    _FakeWriter.instances.clear()
    config = write_yaml(tmp_path / "b.yaml", TINY | {"cache-dir": str(tiny_run / "cache"),
                                                      "report-to": ["tensorboard", "mlflow"]})
    out = tmp_path / "out"
    assert main(["bench", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "results.json").read_text())["runs"]
    (writer,) = _FakeWriter.instances
    assert writer.log_dir == str(out / "tensorboard") and writer.closed
    tags = [text for _, text, _ in writer.texts]
    assert tags == [f"classifier/digits/class:3/{r['method']['name']}/seed0" for r in rows]
    assert [step for _, _, step in writer.texts] == list(range(len(rows)))
    for step, row in enumerate(rows):
        logged = {t.rsplit("/", 1)[1]: v for t, v, s in writer.scalars if s == step}
        assert logged["forget_accuracy"] == row["metrics"]["forget_accuracy"]
        assert logged["seconds"] == row["seconds"]
    names = [c[0] for c in mlflow.calls]
    assert names[:3] == ["set_tracking_uri", "set_experiment", "start_run"] and names[-1] == "end_run"
    assert mlflow.calls[0][1][0] == (out / "mlruns").resolve().as_uri()
    metrics = [c for c in mlflow.calls if c[0] == "log_metrics"]
    assert [c[2]["step"] for c in metrics] == list(range(len(rows)))
    assert "classifier/digits/class_3/finetune/seed0/forget_accuracy" in metrics[-1][1][0]  # ':' is not allowed
    assert "report_to" in yaml.safe_load((out / "bench.yaml").read_text())


def test_report_to_a_missing_package_fails_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["bench", "classifier", "--forget", "class:3", "--seeds", "1", "--out", str(out), "--cache-dir", str(cache),
            "--report-to", "mlflow"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--report-to mlflow needs the mlflow package" in err and "pip install mlflow" in err
    assert not out.exists() and not cache.exists()


def _row(spec, method, seed, avg=None, seconds=1.0, retrain_seconds=10.0, family="classifier", **metrics):
    return {"family": family, "task": {"dataset": "digits", "forget_spec": spec}, "method": {"name": method},
            "seed": seed, "status": "ok", "metrics": metrics, "seconds": seconds, "retrain_seconds": retrain_seconds,
            "gap_to_retrain": {} if avg is None else {"average": avg}}


def test_summary_names_the_closest_method_its_cost_and_whether_it_beats_doing_nothing(tmp_path):
    rows = []
    for seed in (0, 1):
        rows += [_row("class:3", "retrain", seed, 0.0, seconds=10.0),
                 _row("class:3", "original", seed, 30.0, seconds=0.0),
                 _row("class:3", "finetune", seed, 5.0 + seed, seconds=2.0),
                 _row("class:3", "scrub", seed, 8.0, seconds=4.0),
                 _row("random:0.1", "retrain", seed, 0.0),
                 _row("random:0.1", "original", seed, 1.0, seconds=0.0),
                 _row("random:0.1", "grad_ascent", seed, 3.0, seconds=1.0),
                 # a group without a retrain reference: judged by the family's headline metric (clip: H)
                 _row("domain:x", "original", seed, None, seconds=0.0, retrain_seconds=None, family="clip", h=10.0 + seed),
                 _row("domain:x", "domain_baseline", seed, None, seconds=3.0, retrain_seconds=None, family="clip",
                      h=40.0 + seed),
                 _row("domain:x", "adu", seed, None, seconds=5.0, retrain_seconds=None, family="clip", h=60.0 + seed)]
    results = {"suite": "t", "runs": rows}
    lines = group_summaries(summarize(results))
    # grad_ascent is worse than not unlearning: no winner is named for its group
    assert [line.best for line in lines] == [("finetune",), (), ("adu",)]
    first, second, third = lines
    assert first.value == "5.50 ± 0.71" and first.original == "30.00 ± 0.00" and first.beats_original
    assert "0.200 ± 0.000× retrain" in first.cost and first.criterion == "average gap to retrain (lower is better)"
    assert second.beats_original is False and second.original == "1.00 ± 0.00" and second.value == "-"
    assert third.criterion == "H (higher is better)" and third.value == "60.50 ± 0.71"
    assert third.cost == "5.00 ± 0.00 s" and third.beats_original
    text = summary_text(results)
    assert text.startswith("At a glance") and "none*" in text and "* none: no method is better than not unlearning" in text
    html = write_report(results, tmp_path).read_text()
    assert html.index('id="summary"') < html.index('id="g1"')
    assert "no method is better than not unlearning" in html and "0.200 ± 0.000× retrain" in html


@pytest.mark.parametrize("argv, expected", [
    (["lm", "--forget", "documents", "--forget", "sequential:2", "--methods", "retrain,npo,dp2", "--seeds", "2"],
     ["rows on documents: 10 = original 2 (reference), retrain 2 (reference), dp2_base 2 (reference), npo 2, dp2 2",
      "rows on sequential:2: 16 = ", "retrain without sequential:2 point 1/2, seed 1", "DP-SGD base for dp2, seed 0",
      "total: 26 rows (12 unlearning runs)"]),
    (["restor", "--methods", "npo", "--seeds", "1"],
     ["rows on restor: 4 = clean 1 (reference), corrupted 1 (reference), retrain 1 (reference), npo 1",
      "corrupted to train (time unknown)"]),
    (["clip", "--forget", "domain:any=2", "--methods", "domain_baseline,adu", "--seeds", "1"],
     ["rows on domain:any=2: 3 = original 1 (reference), domain_baseline 1, adu 1", "tiny CLIP pretrained for seed 0",
      "6 domain combination(s)"]),
])
def test_dry_run_of_every_family_plans_without_writing(tmp_path, capsys, argv, expected):
    cache = tmp_path / "cache"
    assert main(["bench", *argv, "--dry-run", "--cache-dir", str(cache), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    for line in expected:
        assert line in text
    assert "not planned" not in text and list(tmp_path.iterdir()) == []
