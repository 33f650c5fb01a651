"""Bad input at scale: property-based tests (hypothesis) over forget specs, indices files, config files
and damaged safetensors, plus the CLI on a tokenizer from another model, a forget set outside the
training data and a run that diverges. Every case must end in an ObliviateError with a clear message
(never a raw torch / safetensors / transformers exception) and leave nothing behind."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@FAST
@given(content=st.binary(max_size=200))
def test_any_bytes_as_indices_file(scratch, content):
    path = _fresh(scratch, ".txt")
    path.write_bytes(content)
    try:
        idx = read_indices_file(path)
        check_indices(idx, 50)
    except ForgetSpecError as exc:
        assert str(exc)


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


def test_every_error_class_is_an_obliviate_error():
    assert all(issubclass(cls, ObliviateError) for cls in (ConfigError, ForgetSpecError, ModelLoadError))
