"""Output safety (issue 14): every command that writes refuses a target whose replacement would lose
something (another command's output, a foreign directory, an input, the filesystem root, $HOME),
before writing anything and without touching it; OUT.checkpoints follows the same rule; resume and
--overwrite work; a killed run's temporaries are cleaned by the next run; a method of another
family, a no-op setting and a bad bench option are refused before the first file is written."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from obliviate.cli import main
from obliviate.errors import ConfigError
from obliviate.methods import METHODS, get_method, load_all
from obliviate.training.checkpoint import checkpoint_dir_for
from obliviate.utils.io import TEMP_TAG, atomic_dir, clean_stale_temps, temp_prefix
from obliviate.utils.outputs import MARKER, check_output, mark, output_kind

DATA = ["--dataset", "digits", "--max-train", "300"]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its mtime and (files) SHA-256: any change shows."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            found[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size if path.is_file() else 0, digest)
    found["."] = (root.stat().st_mtime_ns,)
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A trained model, another command's output, a user's own folder and files, a fake home."""
    root = tmp_path_factory.mktemp("world")
    assert main(["train", *DATA, "--train", "epochs=1", "--out", str(root / "model"), "-q"]) == 0
    shutil.copytree(root / "model", root / "model2")  # a train output that is not this run's input
    (root / "notes").mkdir()
    (root / "notes" / "thesis.tex").write_text("my thesis")
    (root / "notes" / "config.json").write_text('{"mine": true}')  # a user's own config.json
    (root / "forget.txt").write_text("1 2 3\n")
    (root / "own.txt").write_text("a file of mine\n")
    (root / "data").mkdir()
    (root / "data" / "readme").write_text("data")
    (root / "benchdir").mkdir()  # an output another command (bench) wrote
    mark(root / "benchdir", "bench")
    (root / "benchdir" / "results.json").write_text("{}")
    (root / "home").mkdir()
    (root / "home" / ".bashrc").write_text("export X=1\n")
    return root


def _bench(w: Path, out: Path | str) -> list[str]:
    return ["bench", "classifier", *DATA, "--methods", "retrain,finetune", "--seeds", "1", "--train", "epochs=1",
            "--forget", f"indices:{w / 'forget.txt'}", "--cache-dir", str(w / "cache"), "-q", "--out", str(out)]


def _unlearn(w: Path, out: Path | str) -> list[str]:
    return ["unlearn", "--model", str(w / "model"), *DATA, "--forget", f"indices:{w / 'forget.txt'}",
            "--method", "finetune", "--param", "epochs=1", "-q", "--out", str(out)]


def _train(w: Path, out: Path | str) -> list[str]:
    return ["train", *DATA, "--data-dir", str(w / "data"), "--train", "epochs=1", "-q", "--out", str(out)]


def _worst_case(w: Path, out: Path | str) -> list[str]:
    return ["worst-case", *DATA, "--size", "10", "--model", str(w / "model"), "--param", "outer_steps=1",
            "--param", "epochs=1", "--cache-dir", str(w / "cache"), "-q", "--out", str(out)]


COMMANDS = {"bench": _bench, "unlearn": _unlearn, "train": _train, "worst-case": _worst_case}
#: (command, target relative to the world, a part of the expected message)
REFUSALS = [
    ("bench", "model", "was written by `obliviate train`"),  # issue 14 #1: bench replaced the model's config.json
    ("bench", "notes", "obliviate did not write"),  # a user's own config.json
    ("bench", "forget.txt", "is an input"),
    ("bench", "own.txt", "is not a directory"),  # issue 14 #7: bench --out FILE was a traceback
    ("unlearn", "model", "is an input"),
    ("unlearn", "model2", "was written by `obliviate train`"),
    ("unlearn", "notes", "obliviate did not write"),
    ("unlearn", "forget.txt", "is an input"),
    ("unlearn", "benchdir", "was written by `obliviate bench`"),
    ("train", "benchdir", "was written by `obliviate bench`"),
    ("train", "notes", "obliviate did not write"),
    ("train", "data", "is an input"),
    ("worst-case", "model/model.safetensors", "lies inside an input"),  # issue 14 #3: replaced the weights
    ("worst-case", "model", "is a directory"),
    ("worst-case", "own.txt", "is not a file `obliviate worst-case` wrote"),
    ("worst-case", "notes", "is a directory"),
]


@pytest.mark.parametrize("command, target, message", REFUSALS)
def test_refuses_a_target_it_would_damage_without_touching_anything(world, capsys, command, target, message):
    before = snapshot(world)
    assert main(COMMANDS[command](world, world / target)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert snapshot(world) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_refuses_home_and_its_parents(world, monkeypatch, capsys, command):
    monkeypatch.setenv("HOME", str(world / "home"))
    before = snapshot(world)
    for target, message in ((world / "home", "is your home directory"), (world, "a parent of your home")):
        assert main(COMMANDS[command](world, target)) == 2
        assert message in capsys.readouterr().err
        assert main([*COMMANDS[command](world, target), "--overwrite"]) == 2  # --overwrite does not lift it
        assert message in capsys.readouterr().err
    assert snapshot(world) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_refuses_the_filesystem_root_before_any_write(world, monkeypatch, capsys, command):
    import tempfile

    def no_write(*args, **kwargs):
        raise AssertionError("a write was attempted")

    for owner, name in ((Path, "mkdir"), (tempfile, "mkstemp"), (tempfile, "mkdtemp"), (os, "replace")):
        monkeypatch.setattr(owner, name, no_write)  # every write of obliviate starts with one of these
    root_before = (sorted(os.listdir("/")), os.stat("/").st_mtime_ns)
    assert main(COMMANDS[command](world, "/")) == 2
    assert "is the filesystem root" in capsys.readouterr().err
    assert (sorted(os.listdir("/")), os.stat("/").st_mtime_ns) == root_before


def test_foreign_or_file_checkpoint_directory_is_refused(world, tmp_path, capsys):
    out = tmp_path / "x"
    side = checkpoint_dir_for(out)
    (side / "sub").mkdir(parents=True)
    (side / "sub" / "thesis.tex").write_text("d")  # issue 14 #2: it was deleted with everything in it
    argv = [*_unlearn(world, out), "--checkpoint-every", "5"]
    before = snapshot(tmp_path)
    assert main(argv) == 2
    assert "checkpoint directory" in capsys.readouterr().err and snapshot(tmp_path) == before
    shutil.rmtree(side)
    side.write_text("a file")  # issue 14 #7: a traceback before
    assert main(argv) == 2
    assert "is not a directory" in capsys.readouterr().err and side.read_text() == "a file" and not out.exists()
    side.unlink()
    side.mkdir()  # an empty directory is fine; the successful run removes it with its checkpoints
    assert main(argv) == 0 and (out / "record.json").is_file() and not side.exists()


def test_successful_run_keeps_what_it_did_not_write_in_its_checkpoint_directory(world, tmp_path, monkeypatch):
    """The checkpoints of a run are ours; a file a user drops in mid-run survives the cleanup."""
    import obliviate.training.checkpoint as ckpt

    out = tmp_path / "x"
    real_save = ckpt.FitCheckpoints.save

    def save_and_drop(self, *args, **kwargs):
        real_save(self, *args, **kwargs)
        (self.session.root / "keep.me").write_text("mine")

    monkeypatch.setattr(ckpt.FitCheckpoints, "save", save_and_drop)
    assert main([*_unlearn(world, out), "--checkpoint-every", "5"]) == 0
    side = checkpoint_dir_for(out)
    assert sorted(p.name for p in side.iterdir()) == sorted([MARKER, "keep.me"])


def test_overwrite_replaces_a_foreign_target_and_checkpoint_directory(world, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "old.txt").write_text("old")
    side = checkpoint_dir_for(out)
    side.mkdir()
    (side / "junk").write_text("junk")
    argv = [*_unlearn(world, out), "--checkpoint-every", "5"]
    assert main(argv) == 2
    assert main([*argv, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "config.json", "model.safetensors", "record.json"])
    assert output_kind(out) == "unlearn" and not side.exists()
    # train --overwrite over a bench output
    bench = tmp_path / "bench"
    shutil.copytree(world / "benchdir", bench)
    assert main(_train(world, bench)) == 2
    assert main([*_train(world, bench), "--overwrite"]) == 0 and output_kind(bench) == "train"
    assert not (bench / "results.json").exists()
    # worst-case --overwrite over a user's file
    own = tmp_path / "own.txt"
    own.write_text("mine\n")
    assert main([*_worst_case(world, own), "--overwrite"]) == 0
    assert output_kind(own) == "worst-case"
    capsys.readouterr()


def test_overwrite_never_replaces_the_current_directory(world, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / "file").write_text("keep")
    monkeypatch.chdir(work)
    for target in (".", ".."):
        assert main([*_train(world, target), "--overwrite"]) == 2
        assert "current directory" in capsys.readouterr().err
    assert (work / "file").read_text() == "keep"


def test_rerun_into_its_own_output(world, tmp_path):
    """The same command may write again where it wrote before (unlearn replaces, worst-case rewrites)."""
    out = tmp_path / "u"
    assert main(_unlearn(world, out)) == 0
    first = json.loads((out / "record.json").read_text())
    assert main([*_unlearn(world, out), "--param", "lr=0.002"]) == 0
    assert json.loads((out / "record.json").read_text())["params"]["lr"] != first["params"]["lr"]
    indices = tmp_path / "wc.txt"
    assert main(_worst_case(world, indices)) == 0 and main(_worst_case(world, indices)) == 0
    assert output_kind(indices) == "worst-case"


def test_bench_resumes_its_own_output_and_refuses_after_a_late_user_error(world, tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["bench", "classifier", *DATA, "--methods", "finetune", "--seeds", "1", "--train", "epochs=1",
            "--param", "finetune.epochs=1", "--forget", "class:3", "--mia-max-per-side", "50",
            "--cache-dir", str(tmp_path / "cache"), "-q", "--out", str(out)]
    assert main(argv) == 0 and output_kind(out) == "bench"
    assert main(argv) == 0 and "skip finished row" in (out / "bench.log").read_text()
    # a user error found only while running (an index outside the training data) removes the fresh directory
    (tmp_path / "bad.txt").write_text("5 99999\n")
    late = tmp_path / "late"
    bad = [*argv[:-1], str(late)]
    bad[bad.index("class:3")] = f"indices:{tmp_path / 'bad.txt'}"
    assert main(bad) == 2
    assert "outside" in capsys.readouterr().err and not late.exists()


def _killed_inside_atomic_dir(target: Path) -> None:
    """A process killed (SIGKILL) while writing ``target`` with atomic_dir: its temporary stays."""
    code = ("import os, signal, sys; from obliviate.utils.io import atomic_dir\n"
            "cm = atomic_dir(sys.argv[1]); tmp = cm.__enter__(); (tmp / 'half.bin').write_bytes(b'x' * 1000)\n"
            "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(target)])
    assert proc.returncode == -signal.SIGKILL


def test_stale_temporaries_of_a_killed_run_are_cleaned_by_the_next_run(world, tmp_path):
    out = tmp_path / "u"
    _killed_inside_atomic_dir(out)
    _killed_inside_atomic_dir(checkpoint_dir_for(out) / "fit-000-000000005")
    stale = [p for p in tmp_path.iterdir() if TEMP_TAG in p.name]
    inner = [p for p in checkpoint_dir_for(out).iterdir() if TEMP_TAG in p.name]
    assert len(stale) == 1 and (stale[0] / "half.bin").is_file() and len(inner) == 1
    mark(checkpoint_dir_for(out), "checkpoints")  # the killed run had marked its checkpoint directory
    live = tmp_path / f"{temp_prefix('u')}live"  # a temporary of a running process (this one): kept
    live.mkdir()
    lookalike = tmp_path / ".u.bak"  # a user's file that merely starts like ours: kept
    lookalike.write_text("mine")
    assert main([*_unlearn(world, out), "--checkpoint-every", "5"]) == 0
    assert not stale[0].exists() and not checkpoint_dir_for(out).exists()
    assert live.is_dir() and lookalike.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".u.bak", live.name, "u"])


def test_clean_stale_temps_only_takes_dead_processes_of_this_host(tmp_path):
    _killed_inside_atomic_dir(tmp_path / "a")
    (tmp_path / f".a{TEMP_TAG}otherhost-1-xyz").mkdir()  # another machine's (shared filesystem): kept
    (tmp_path / f"{temp_prefix('a')}mine").mkdir()
    removed = clean_stale_temps(tmp_path, "b")  # another target's name: nothing
    assert removed == []
    removed = clean_stale_temps(tmp_path, "a")
    assert len(removed) == 1 and not removed[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".a{TEMP_TAG}otherhost-1-xyz", f"{temp_prefix('a')}mine"])
    with atomic_dir(tmp_path / "a") as tmp:
        (tmp / "f").write_text("ok")
    assert (tmp_path / "a" / "f").read_text() == "ok"


def _methods_of(family: str) -> list[str]:
    load_all()
    return METHODS.short_names(family)


@pytest.mark.parametrize("method", [*(m for m in _methods_of("lm") if m not in _methods_of("classifier")), "npo_gdr",
                                    *_methods_of("clip")])
def test_a_method_of_another_family_on_a_classifier_is_a_clear_error(world, tmp_path, capsys, method):
    # issue 14 #7: each LM-only method on a classifier was AttributeError 'ImageDataset' ... 'tensors'
    out = tmp_path / "o"
    assert main(["unlearn", "--model", str(world / "model"), "--forget", "class:3", "--method", method,
                 "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    family = "clip" if method in _methods_of("clip") else "lm"
    assert f"belongs to the {family} family, not classifier" in err and "classifier model" in err
    assert "Traceback" not in err and not out.exists()


def test_a_classifier_method_on_an_lm_is_a_clear_error(world, tmp_path, capsys):
    assert main(["unlearn", "--family", "lm", "--model", str(world / "model"), "--forget", str(world / "forget.txt"),
                 "--retain", str(world / "own.txt"), "--method", "l1_sparse", "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "belongs to the classifier family, not lm" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="belongs to the lm family"):
        get_method("npo", family="classifier")


def _configs_with_epochs() -> list[str]:
    load_all()
    return sorted(n for n in METHODS.names() if "epochs" in {f.name for f in dataclasses.fields(METHODS.get(n).Config)})


@pytest.mark.parametrize("method", _configs_with_epochs())
def test_epochs_zero_is_refused_for_every_method(method):
    # issue 14 #8: epochs=0 handed back the original weights as "unlearned"
    config = METHODS.get(method).Config
    with pytest.raises(ConfigError, match="epochs=0 makes the method a no-op"):
        config.from_params({"epochs": 0})
    config.from_params({"epochs": 1})  # one epoch is fine


@pytest.mark.parametrize("method, name, value", [("influence", "alpha", 0.0), ("eco", "strength", 0.0)])
def test_a_declared_no_op_value_is_refused(method, name, value):
    """Fields other than epochs declare the value that makes their method a no-op (``param(noop=...)``)."""
    config = get_method(method).Config
    assert {f.name: f.metadata.get("noop") for f in dataclasses.fields(config)}[name] == value
    with pytest.raises(ConfigError, match=f"{name}=0.0 makes the method a no-op"):
        config.from_params({name: value})


def test_epochs_zero_is_refused_before_any_work(world, tmp_path, capsys):
    from obliviate.api import unlearn
    from obliviate.models import load_classifier

    assert len(_configs_with_epochs()) >= 15  # every family's training methods (classifier, lm, clip)
    out = tmp_path / "o"
    assert main([*_unlearn(world, out), "--param", "epochs=0"]) == 2
    assert "no-op" in capsys.readouterr().err and not out.exists()
    assert main(["bench", "classifier", *DATA, "--methods", "finetune", "--param", "finetune.epochs=0", "--seeds", "1",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(out), "-q"]) == 2
    assert "no-op" in capsys.readouterr().err and not out.exists() and not (tmp_path / "c").exists()
    with pytest.raises(ConfigError, match="no-op"):
        unlearn(load_classifier(world / "model"), None, "grad_ascent", epochs=0)  # type: ignore[arg-type]


def test_mia_max_per_side_zero_leaves_no_files(tmp_path, capsys):
    out = tmp_path / "b"
    # issue 14 #8: rejected only after config.json and bench.log were written
    assert main(["bench", "classifier", *DATA, "--methods", "finetune", "--seeds", "1", "--mia-max-per-side", "0",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(out), "-q"]) == 2
    assert "--mia-max-per-side" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_check_output_rules(tmp_path):
    """The rule itself: fresh, empty, own kind, --overwrite; never another kind, a file, an input."""
    assert check_output(tmp_path / "new", "bench").fresh
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", "unlearn").fresh
    (tmp_path / "own").mkdir()
    mark(tmp_path / "own", "bench")
    (tmp_path / "own" / "config.json").write_text("{}")
    assert check_output(tmp_path / "own", "bench").found == "bench"
    with pytest.raises(ConfigError, match="written by `obliviate bench`"):
        check_output(tmp_path / "own", "report")
    assert check_output(tmp_path / "own", "report", overwrite=True).found == "foreign"
    with pytest.raises(ConfigError, match="holds an input"):
        check_output(tmp_path, "bench", inputs=[tmp_path / "own" / "config.json"], overwrite=True)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "own")
    with pytest.raises(ConfigError, match="symbolic link"):
        check_output(link, "bench")
    assert output_kind(tmp_path / "missing") is None


def test_report_rerenders_in_place_and_refuses_a_foreign_out(world, tmp_path, capsys):
    results = Path(__file__).parent / "data" / "sample_results.json"
    bench = tmp_path / "bench"
    bench.mkdir()
    shutil.copy(results, bench / "results.json")
    assert main(["report", str(bench / "results.json"), "-q"]) == 0 and (bench / "report.html").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my own page")
    before = snapshot(mine)
    assert main(["report", str(bench / "results.json"), "--out", str(mine), "-q"]) == 2
    assert "obliviate did not write" in capsys.readouterr().err and snapshot(mine) == before
    assert main(["report", str(bench / "results.json"), "--out", str(bench / "results.json"), "-q"]) == 2
    assert "is an input" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    assert main(["report", str(bench / "results.json"), "--out", str(fresh), "-q"]) == 0
    assert output_kind(fresh) == "report" and (fresh / "report.html").is_file()
    assert main(["report", str(bench / "results.json"), "--out", str(fresh), "-q"]) == 0  # its own output again
    assert main(["report", str(bench / "results.json"), "--out", str(mine), "--overwrite", "-q"]) == 0
    assert "my own page" not in (mine / "report.html").read_text()


def test_outputs_written_before_markers_are_recognised(world, tmp_path):
    """Committed bench results (benchmarks/results/*) and older model / unlearning directories have no
    marker: recognised by the files only obliviate writes; a user's own config.json is not."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "config.json").write_text(json.dumps({"suite": "classifier", "benches": [{}]}))
    (bench / "results.json").write_text("{}")
    assert output_kind(bench) == "bench" and check_output(bench, "bench").found == "bench"
    model = tmp_path / "model"
    shutil.copytree(world / "model", model)
    (model / MARKER).unlink()
    assert output_kind(model) == "train"
    unlearned = tmp_path / "unlearned"
    unlearned.mkdir()
    (unlearned / "record.json").write_text(json.dumps({"kind": "obliviate unlearning record (empirical; ...)"}))
    assert output_kind(unlearned) == "unlearn"
    assert output_kind(world / "notes") is None  # {"mine": true}
    with pytest.raises(ConfigError, match="written by `obliviate train`"):
        check_output(model, "bench")
