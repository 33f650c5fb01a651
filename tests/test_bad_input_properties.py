"""Bad input at scale: property-based tests (hypothesis) over forget specs, indices files, config files
and damaged safetensors, plus the CLI on a tokenizer from another model, a forget set outside the
training data and a run that diverges. Every case must end in an ObliviateError with a clear message
(never a raw torch / safetensors / transformers exception) and leave nothing behind."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from obliviate import cli
from obliviate.cli import main
from obliviate.errors import ConfigError, ForgetSpecError, ModelLoadError, ObliviateError
from obliviate.lm.model import load_causal_lm, save_causal_lm, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.methods import get_method, load_all
from obliviate.models import build_classifier, load_classifier, save_classifier
from obliviate.tasks.forget import KINDS, ForgetRequest, check_indices, read_indices_file

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_names = itertools.count()


def _fresh(root: Path, suffix: str = "") -> Path:
    return root / f"case{next(_names)}{suffix}"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad")


# ------------------------------------------------------------------------------------ forget specs

_values = st.one_of(st.text(max_size=12), st.integers(-10**22, 10**22).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.lists(st.integers(-3, 40), max_size=4).map(lambda xs: ",".join(map(str, xs))))
_specs = st.one_of(st.text(max_size=30), st.tuples(st.sampled_from(KINDS + ("rand", "")), _values).map(":".join))


@FAST
@given(spec=_specs, n=st.integers(1, 60), classes=st.integers(1, 6), seed=st.integers(0, 3))
def test_any_forget_spec_resolves_to_a_valid_set_or_a_forget_spec_error(spec, n, classes, seed):
    labels = np.random.default_rng(seed).integers(0, classes, size=n)
    try:
        idx = ForgetRequest.parse(spec).resolve(labels, classes, seed)
    except ForgetSpecError as exc:
        assert str(exc)
        return
    assert len(idx) >= 1 and len(np.unique(idx)) == len(idx) < n  # something is left to retain
    assert np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < n


# ----------------------------------------------------------------------------------- indices files


_tokens = st.integers(-3, 60).map(str) | st.sampled_from(
    ["1e3", "two", "0x1f", "+4", "10**30", "١٢", str(2**63 - 1), str(2**63), str(-(2**63) - 1)])
_texts = st.lists(st.tuples(_tokens, st.sampled_from([" ", ",", "\n", "\t", " # 7 note\n", ", "])), max_size=12).map(
    lambda parts: "".join(t + sep for t, sep in parts).encode())
_N = 50  # training samples the indices must fit


def _expected_reason(content: bytes) -> str | None:
    """What a forget-indices file with these bytes must be rejected for (None: a valid forget set), read
    by the format's rules: UTF-8; integers separated by whitespace or commas; '#' starts a comment."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    values = []
    for line in text.splitlines():
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if not token:
                continue
            try:
                values.append(int(token))
            except ValueError:
                return f"{token!r} is not an integer index"
            if not -(2**63) <= values[-1] < 2**63:
                return "far outside any training set"
    if not values:
        return "lists no index"
    if any(v < 0 or v >= _N for v in values):
        return f"outside 0..{_N - 1}"
    if len(set(values)) < len(values):
        return "duplicated"
    return "nothing would be left to retain" if len(values) == _N else None


@FAST
@given(content=st.binary(max_size=200) | _texts)
@example(content=b"\x00\n\x80")  # found by hypothesis: the bad byte in an unterminated last line must still win
def test_any_bytes_as_indices_file(scratch, content):
    path = _fresh(scratch, ".txt")
    path.write_bytes(content)
    reason = _expected_reason(content)
    if reason is None:
        idx = read_indices_file(path)
        check_indices(idx, _N)
        return
    with pytest.raises(ForgetSpecError) as exc:
        check_indices(read_indices_file(path), _N)
    message = str(exc.value)
    assert reason in message, (content, message)
    if reason in ("not UTF-8", "lists no index", "far outside any training set") or reason.endswith("integer index"):
        assert str(path) in message, message  # a problem in the file names the file


@FAST
@given(values=st.lists(st.integers(-10**25, 10**25) | st.integers(0, 60), min_size=1, max_size=20),
       seps=st.lists(st.sampled_from([" ", ",", "\n", "\t", ", ", " # note\n"]), min_size=1))
def test_indices_file_reads_what_was_written(scratch, values, seps):
    path = _fresh(scratch, ".txt")
    text = "# header\n" + "".join(f"{v}{seps[i % len(seps)]}" for i, v in enumerate(values))
    path.write_text(text)
    if any(not -(2**63) <= v < 2**63 for v in values):
        with pytest.raises(ForgetSpecError, match="far outside"):
            read_indices_file(path)
        return
    idx = read_indices_file(path)
    assert idx.tolist() == sorted(values)
    n = 40
    if any(v < 0 or v >= n for v in values):  # samples that are not in the training data
        with pytest.raises(ForgetSpecError, match="outside 0..39"):
            check_indices(idx, n)


# ------------------------------------------------------------------------------------ config files

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_classifier_configs = st.one_of(
    _json,
    st.fixed_dictionaries({"arch": st.sampled_from(["cnn", "resnet18", "mlp"]) | _json,
                           "kwargs": st.dictionaries(st.sampled_from(["in_channels", "num_classes", "width", "x"]),
                                                     st.integers(-3, 12) | _json, max_size=3) | _json}),
)


@pytest.fixture(scope="module")
def classifier_dir(scratch) -> Path:
    return save_classifier(build_classifier("cnn", in_channels=1, num_classes=10), scratch / "classifier")


@SLOW
@given(config=_classifier_configs)
def test_any_classifier_config_json(scratch, classifier_dir, config):
    target = _fresh(scratch)
    shutil.copytree(classifier_dir, target)
    (target / "config.json").write_text(json.dumps(config))
    try:
        load_classifier(target)
    except ModelLoadError as exc:
        assert str(exc)


@FAST
@given(method=st.sampled_from(["finetune", "npo", "grad_diff", "l1_sparse", "scrub"]),
       params=st.dictionaries(st.sampled_from(["lr", "epochs", "batch_size", "retain_loss", "beta", "optimizer",
                                               "alpha", "schedule", "nonsense"]),
                              st.text(max_size=6) | st.integers(-3, 5).map(str) | st.floats().map(repr), max_size=3))
def test_any_method_params_from_the_command_line(method, params):
    load_all()
    cls = get_method(method, family="lm") if method in ("npo", "grad_diff") else get_method(method)
    try:
        cls.Config.from_params(params)
    except ConfigError as exc:
        assert str(exc)


# ------------------------------------------------------------------------------ damaged safetensors


@pytest.mark.slow
@FAST
@given(data=st.data())
def test_truncated_or_corrupted_classifier_weights(scratch, classifier_dir, data):
    weights = (classifier_dir / "model.safetensors").read_bytes()
    header = int.from_bytes(weights[:8], "little") + 8
    target = _fresh(scratch)
    shutil.copytree(classifier_dir, target)
    if data.draw(st.booleans(), label="truncate"):
        damaged = weights[:data.draw(st.integers(0, len(weights) - 1), label="cut")]
    else:  # overwrite bytes in the 8-byte length + JSON header (bytes in the tensor data are undetectable)
        damaged = bytearray(weights)
        for pos in data.draw(st.lists(st.integers(0, header - 1), min_size=1, max_size=4), label="positions"):
            damaged[pos] = data.draw(st.integers(0, 255).filter(lambda b, p=pos: b != weights[p]), label="byte")
    (target / "model.safetensors").write_bytes(bytes(damaged))
    try:
        load_classifier(target)
    except ModelLoadError as exc:
        assert "model.safetensors" in str(exc)
    else:  # only a change the format cannot see (e.g. inside a JSON string value) may still load
        assert len(damaged) == len(weights)


FORGET = [f"Zhora Vrelik number {i} was born in Dounmere." for i in range(4)]
RETAIN = [f"Kwaeth Lidros {i} worked as a weaver in Pellow." for i in range(4)]


@pytest.fixture(scope="module")
def lm_root(scratch) -> Path:
    root = scratch / "lm"
    tok = train_bpe_tokenizer(FORGET + RETAIN, vocab_size=300)
    save_causal_lm(tiny_llama(len(tok), seed=0), tok, root / "model")
    (root / "forget.txt").write_text("\n".join(FORGET))
    (root / "retain.txt").write_text("\n".join(RETAIN))
    return root


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_truncated_or_corrupted_lm_weights(scratch, lm_root, data):
    weights = (lm_root / "model" / "model.safetensors").read_bytes()
    header = int.from_bytes(weights[:8], "little") + 8
    target = _fresh(scratch)
    shutil.copytree(lm_root / "model", target)
    if data.draw(st.booleans(), label="truncate"):
        damaged = weights[:data.draw(st.integers(0, len(weights) - 1), label="cut")]
    else:
        damaged = bytearray(weights)
        pos = data.draw(st.integers(0, header - 1), label="pos")
        damaged[pos] = (damaged[pos] + data.draw(st.integers(1, 255), label="delta")) % 256
    (target / "model.safetensors").write_bytes(bytes(damaged))
    try:
        load_causal_lm(target, device="cpu")
    except ModelLoadError as exc:
        assert str(exc).startswith("cannot load a causal LM from")
    else:
        assert len(damaged) == len(weights)


@pytest.mark.parametrize("name, content", [
    ("config.json", "{broken"), ("config.json", "[]"), ("config.json", '{"model_type": "llama", "hidden_size": -3}'),
    ("config.json", '{"model_type": "no_such_model"}'), ("tokenizer.json", "{}"), ("tokenizer.json", "{broken"),
    ("tokenizer_config.json", "\xff\xfe"),
])
@pytest.mark.slow
def test_damaged_lm_config_and_tokenizer_files(scratch, lm_root, name, content):
    target = _fresh(scratch)
    shutil.copytree(lm_root / "model", target)
    (target / name).write_text(content)
    with pytest.raises(ModelLoadError, match=r"cannot load (the tokenizer in|a causal LM from)"):
        load_causal_lm(target, device="cpu")


# --------------------------------------------------------------------------- the CLI: nothing left


def _cli_fails(argv: list[str], out: Path, capsys, message: str) -> None:
    before = sorted(p.name for p in out.parent.iterdir())
    capsys.readouterr()  # drop the setup's output
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("obliviate: error:") and "Traceback" not in err
    assert message in err, err
    assert sorted(p.name for p in out.parent.iterdir()) == before  # no output, checkpoint or temp dir


@pytest.mark.slow
def test_cli_tokenizer_from_another_model(scratch, lm_root, tmp_path, capsys):
    # the model directory of another model (1000-token embedding) with this 300-token tokenizer
    mixed = tmp_path / "mixed"
    tiny_llama(1000, seed=1).save_pretrained(mixed)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(lm_root / "model" / f, mixed / f)
    (tmp_path / "runs").mkdir()
    argv = ["unlearn", "--family", "lm", "--model", str(mixed), "--forget", str(lm_root / "forget.txt"),
            "--retain", str(lm_root / "retain.txt"), "--documents", "lines", "--method", "npo", "-q",
            "--checkpoint-every", "1"]
    _cli_fails(argv, tmp_path / "runs" / "out", capsys, "tokenizer and model do not match")


@pytest.mark.slow
def test_cli_corrupted_lm_weights(lm_root, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(lm_root / "model", broken)
    weights = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    (tmp_path / "runs").mkdir()
    argv = ["unlearn", "--family", "lm", "--model", str(broken), "--forget", str(lm_root / "forget.txt"),
            "--retain", str(lm_root / "retain.txt"), "--documents", "lines", "--method", "npo", "-q"]
    _cli_fails(argv, tmp_path / "runs" / "out", capsys, "cannot load a causal LM")


@pytest.mark.slow
def test_cli_diverging_run_removes_its_checkpoints(lm_root, tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    argv = ["unlearn", "--family", "lm", "--model", str(lm_root / "model"), "--forget", str(lm_root / "forget.txt"),
            "--retain", str(lm_root / "retain.txt"), "--documents", "lines", "--method", "grad_ascent", "-q",
            "--param", "lr=1e30", "--param", "max_grad_norm=0", "--param", "batch_size=1", "--param", "epochs=3",
            "--checkpoint-every", "1"]
    _cli_fails(argv, tmp_path / "runs" / "out", capsys, "the loss became")


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "model"
    assert main(["train", "--dataset", "digits", "--max-train", "200", "--train", "epochs=1", "--out", str(out),
                 "-q"]) == 0
    return out


@pytest.mark.parametrize("indices, message", [
    ("0 5 200 7\n", "1 indices outside 0..199"),  # a sample that is not in the (200-sample) training data
    ("-1\n3\n", "outside 0..199"),
    ("3 3\n", "duplicated"),
    ("# only a comment\n", "lists no index"),
    ("1 two 3\n", "'two' is not an integer"),
])
def test_cli_forget_indices_not_in_the_training_data(digits_model, tmp_path, capsys, indices, message):
    (tmp_path / "forget.txt").write_text(indices)
    (tmp_path / "runs").mkdir()
    argv = ["unlearn", "--model", str(digits_model), "--dataset", "digits", "--max-train", "200",
            "--forget", f"indices:{tmp_path / 'forget.txt'}", "--method", "finetune", "-q", "--checkpoint-every", "2"]
    _cli_fails(argv, tmp_path / "runs" / "out", capsys, message)


def test_cli_damaged_classifier_config(digits_model, tmp_path, capsys):
    broken = tmp_path / "model"
    shutil.copytree(digits_model, broken)
    (broken / "config.json").write_text(json.dumps({"arch": "cnn", "kwargs": {"in_channels": 1, "num_classes": -4}}))
    (tmp_path / "runs").mkdir()
    argv = ["unlearn", "--model", str(broken), "--dataset", "digits", "--forget", "class:3", "--method", "finetune", "-q"]
    _cli_fails(argv, tmp_path / "runs" / "out", capsys, "cannot build a 'cnn'")


def _package_errors() -> tuple[dict[str, type], dict[str, list[str]]]:
    """Every ObliviateError subclass the package defines (found by walking its source) and, per class
    name, the places that raise it with a message."""
    import ast
    import importlib

    import obliviate

    root = Path(obliviate.__file__).parent
    bases: dict[str, tuple[str, list[str]]] = {}  # class -> (module, base names)
    raised: dict[str, list[str]] = {}
    for file in sorted(root.rglob("*.py")):
        module = ".".join(("obliviate", *file.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = (module, [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases])
            elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
                raised.setdefault(name, []).append(f"{file.name}:{node.lineno}")
    errors = {"ObliviateError": ObliviateError}
    while grown := {n: m for n, (m, b) in bases.items() if n not in errors and set(b) & set(errors)}:
        errors.update({n: getattr(importlib.import_module(m), n) for n, m in grown.items()})
    return errors, raised


def test_every_error_class_is_raised_and_printed_by_the_cli(monkeypatch, capsys):
    errors, raised = _package_errors()
    assert {"ConfigError", "ForgetSpecError", "ModelLoadError", "TrainingDiverged", "TokenizerMismatchError"} <= set(errors)
    unused = sorted(n for n in errors if not raised.get(n))
    assert not unused, f"error classes the package never raises with a message: {unused}"
    for name, cls in errors.items():
        assert issubclass(cls, ObliviateError), name

        def failing_command(args, cls=cls):
            raise cls(f"a clear message about {cls.__name__}")

        monkeypatch.setitem(cli._COMMANDS, "env", failing_command)
        capsys.readouterr()
        assert main(["env"]) == 2, name
        assert capsys.readouterr().err == f"obliviate: error: a clear message about {name}\n"


# ------------------------------------------------- CLI commands that write: output targets they would damage

_WRITERS = ("bench", "unlearn", "train", "worst-case")
#: refused whatever the flags (--overwrite too); the others are refused without --overwrite
_ALWAYS = ("input", "home", "home_parent", "root")
_TARGETS = (*_ALWAYS, "other_kind", "foreign_dir", "user_file", "checkpoints_foreign", "checkpoints_file")
_file_names = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="_-"), min_size=1, max_size=10)


def _tree(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with mtime, size and SHA-256 (files)."""
    import hashlib

    return {str(p.relative_to(root)): (p.lstat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


def _writer_argv(command: str, model: Path, root: Path, out: Path | str) -> list[str]:
    data = ["--dataset", "digits", "--max-train", "200"]
    return {
        "bench": ["bench", "classifier", *data, "--methods", "finetune", "--seeds", "1", "--forget",
                  f"indices:{root / 'forget.txt'}", "--cache-dir", str(root / "cache")],
        "unlearn": ["unlearn", "--model", str(model), *data, "--forget", "class:3", "--method", "finetune",
                    "--checkpoint-every", "5"],
        "train": ["train", *data, "--data-dir", str(root / "data")],
        "worst-case": ["worst-case", *data, "--size", "10", "--model", str(model), "--cache-dir", str(root / "cache")],
    }[command] + ["-q", "--out", str(out)]


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(_WRITERS), target=st.sampled_from(_TARGETS), overwrite=st.booleans(),
       files=st.dictionaries(_file_names, st.binary(max_size=64), min_size=1, max_size=4),
       other=st.sampled_from(("bench", "unlearn", "train", "report", "checkpoints")))
def test_cli_writers_never_damage_a_target(digits_model, tmp_path_factory, capsys, command, target, overwrite, files,
                                           other):
    """Every writing command, every kind of target it must not replace: exit 2 with an obliviate error,
    nothing under the scratch tree (which holds $HOME) touched, nothing written to /."""
    from hypothesis import assume

    from obliviate.training.checkpoint import checkpoint_dir_for
    from obliviate.utils.outputs import mark

    assume(not overwrite or target in _ALWAYS)
    assume(not target.startswith("checkpoints") or command == "unlearn")
    assume(other != command)
    root = tmp_path_factory.mktemp("writers")
    (root / "forget.txt").write_text("1 2 3\n")
    (root / "data").mkdir()
    home = root / "home"
    home.mkdir()
    model = root / "model"
    shutil.copytree(digits_model, model)
    for name, content in files.items():
        (home / name).write_bytes(content)
    out: Path | str = root / "out"
    if target == "input":
        out = {"bench": root / "forget.txt", "unlearn": model, "train": root / "data",
               "worst-case": model / "model.safetensors"}[command]
    elif target == "home":
        out = home
    elif target == "home_parent":
        out = root
    elif target == "root":
        out = "/"
    elif target in ("other_kind", "foreign_dir", "checkpoints_foreign"):
        where = checkpoint_dir_for(root / "out") if target == "checkpoints_foreign" else root / "out"
        where.mkdir()
        for name, content in files.items():
            (where / name).write_bytes(content)
        if target == "other_kind":
            mark(where, other)
    else:  # a file where the output (or its checkpoint directory) would go
        (checkpoint_dir_for(root / "out") if target == "checkpoints_file" else root / "out").write_bytes(b"mine")
    before, slash = _tree(root), sorted(os.listdir("/"))
    argv = _writer_argv(command, model, root, out) + (["--overwrite"] if overwrite else [])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("obliviate: error: ") and "Traceback" not in err
    assert _tree(root) == before and sorted(os.listdir("/")) == slash
