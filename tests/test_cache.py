"""The self-verifying model cache: damaged entries are reported once, moved to quarantine and rebuilt,
with results identical to a fresh run; the hash memo never vouches for changed bytes; ``obliviate
cache ls|verify|clear``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from obliviate.bench import cache as cache_mod
from obliviate.bench import cache_entry
from obliviate.bench.cache import QUARANTINE, cached_directory, clean_stale_staging
from obliviate.bench.cache_entry import MANIFEST, MEMO, BadEntry, verify_entry
from obliviate.classifier.bench import ClassifierBench, run_classifier_bench
from obliviate.cli import main
from obliviate.errors import ObliviateError

WEIGHTS = "model.safetensors"


def _bench(cache: Path) -> ClassifierBench:
    """A bench of a few seconds: digits, 300 training images, one epoch, the retrain and a finetune row."""
    return ClassifierBench(dataset="digits", methods=["retrain", "finetune"], seeds=[0], max_train=300,
                           train={"epochs": 1}, params={"finetune": {"epochs": 1}}, cache_dir=str(cache))


def _run(cache: Path, out: Path) -> dict[str, tuple[dict, dict]]:
    """Every row's metrics and gaps to the retrain, by method (the timings differ between runs)."""
    rows = run_classifier_bench(_bench(cache), out)
    return {row["method"]["name"]: (row["metrics"], row["gap_to_retrain"]) for row in rows}


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """(a cache filled by one run, that run's rows): each test corrupts a copy of the cache."""
    root = tmp_path_factory.mktemp("populated")
    rows = _run(root / "cache", root / "out")
    return root / "cache", rows


@pytest.fixture
def cache(populated, tmp_path) -> Path:
    copy = tmp_path / "cache"
    shutil.copytree(populated[0], copy)
    return copy


def _entry(cache: Path, kind: str) -> Path:
    [entry] = [p for p in cache.iterdir() if cache_mod.ENTRY_NAME.match(p.name) and p.name.startswith(kind + "-")]
    return entry


def _flip_signs(path: Path, count: int = 20_000) -> None:
    """Flip the sign bit of ``count`` float32 weights spread over the tensors (size unchanged), as in
    the issue's reproduction. BatchNorm running variances are left alone: a negative variance would
    make the damage show up as NaN probabilities instead of quietly different metrics."""
    data = bytearray(path.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_len])
    floats = [8 + header_len + offset for name, info in header.items()
              if name != "__metadata__" and info["dtype"] == "F32" and not name.endswith("running_var")
              for offset in range(info["data_offsets"][0], info["data_offsets"][1], 4)]
    assert len(floats) >= count
    for i in range(count):
        data[floats[i * len(floats) // count] + 3] ^= 0x80  # little-endian: the sign is the last byte's top bit
    path.write_bytes(bytes(data))


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _damage_config(entry: Path) -> None:
    """A damage the checksums cannot see (the manifest is rewritten to match): loading then fails."""
    config = entry / "config.json"
    config.write_text(json.dumps({"family": "classifier", "arch": "no-such-arch"}), encoding="utf-8")
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["files"]["config.json"] = {"size": config.stat().st_size, "sha256": cache_entry.sha256_file(config)}
    (entry / MANIFEST).write_text(json.dumps(manifest))


DAMAGES = {
    "sign-bits flipped": ("retrain", lambda e: _flip_signs(e / WEIGHTS), "does not match its SHA-256"),
    "random bytes": ("original", lambda e: _random_bytes(e / WEIGHTS), "does not match its SHA-256"),
    "truncated": ("retrain", lambda e: _truncate(e / WEIGHTS), "bytes, its manifest says"),
    "file missing": ("original", lambda e: (e / "config.json").unlink(), "config.json is missing"),
    "extra file": ("original", lambda e: (e / "notes.txt").write_text("x"), "notes.txt is not in its manifest"),
    "no manifest (old format)": ("retrain", lambda e: (e / MANIFEST).unlink(), "has no manifest.json"),
    "unreadable manifest": ("retrain", lambda e: (e / MANIFEST).write_text("{not json"), "manifest.json is unreadable"),
    "load error": ("original", _damage_config, "loading it failed"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_entry_is_reported_once_moved_aside_and_rebuilt_identically(damage, populated, cache, tmp_path,
                                                                             capsys, caplog):
    kind, corrupt, reason = DAMAGES[damage]
    entry = _entry(cache, kind)
    corrupt(entry)
    damaged = {p.relative_to(entry): p.read_bytes() for p in entry.rglob("*") if p.is_file()}
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="obliviate.cache"):
        rows = _run(cache, tmp_path / "out")
    assert rows == populated[1]  # the same run succeeds, with a fresh run's results
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("obliviate: warning: cache entry")]
    assert len(warnings) == 1 and str(entry) in warnings[0] and reason in warnings[0]
    assert [r.getMessage() for r in caplog.records if r.name == "obliviate.cache"] == [warnings[0][len("obliviate: warning: "):]]
    [moved] = (cache / QUARANTINE).iterdir()
    assert moved.name.startswith(entry.name + "-") and str(moved) in warnings[0]
    assert {p.relative_to(moved): p.read_bytes() for p in moved.rglob("*") if p.is_file()} == damaged  # kept as it was
    verify_entry(entry, use_memo=False)  # the rebuilt entry is whole
    capsys.readouterr()
    assert _run(cache, tmp_path / "out") == populated[1]  # resumed rows; both entries load: no second warning
    assert "warning" not in capsys.readouterr().err and len(list((cache / QUARANTINE).iterdir())) == 1


def test_the_flipped_weights_would_have_changed_the_model(populated, cache):
    """The sign-bit damage of the test above is not a no-op: the weights differ from the rebuilt ones."""
    entry = _entry(cache, "retrain")
    before = {k: v.clone() for k, v in load_file(str(entry / WEIGHTS)).items()}
    _flip_signs(entry / WEIGHTS)
    assert (entry / WEIGHTS).stat().st_size == len((_entry(populated[0], "retrain") / WEIGHTS).read_bytes())
    after = load_file(str(entry / WEIGHTS))
    changed = sum(int((before[k] != after[k]).sum()) for k in before)
    assert changed >= 19_000  # a few flipped values may be zeros (-0.0 == 0.0)


# --- the verified-hash memo ---------------------------------------------------------------------


@pytest.fixture
def entry(tmp_path, monkeypatch) -> Path:
    """A small entry whose files are old enough to memoise (the racy window shortened to 50 ms)."""
    monkeypatch.setattr(cache_entry, "RACY_SECONDS", 0.05)
    directory = tmp_path / "kind-0123456789abcdef"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (directory / "sub").mkdir()
    (directory / "sub" / "config.json").write_text('{"a": 1}')
    cache_entry.write_manifest(directory, "kind", "0123456789abcdef", {"seed": 0})
    time.sleep(0.1)
    return directory


def _count_hashing(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = cache_entry._sha256

    def counting(fh):
        calls.append(1)
        return real(fh)

    monkeypatch.setattr(cache_entry, "_sha256", counting)
    return calls


def test_the_memo_skips_rehashing_unchanged_files(entry, monkeypatch):
    calls = _count_hashing(monkeypatch)
    verify_entry(entry)
    assert len(calls) == 2 and (entry / MEMO).is_file()
    verify_entry(entry)
    assert len(calls) == 2  # both vouched for by the memo
    verify_entry(entry, use_memo=False)
    assert len(calls) == 4  # `cache verify` rehashes regardless


def test_the_memo_sees_same_size_bytes_with_mtime_reset(entry):
    """The case a (size, mtime) memo cannot see: new bytes, same size, mtime put back with os.utime.
    The memo also keys on ctime (which utime cannot reset) and the inode, so the file is rehashed."""
    verify_entry(entry)
    path = entry / "weights.bin"
    record = json.loads((entry / MEMO).read_text())["files"]["weights.bin"]
    old = path.stat()
    with open(path, "r+b") as fh:  # in place: same inode
        fh.seek(100)
        fh.write(b"\xff\xfe")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    new = path.stat()
    assert (new.st_size, new.st_mtime_ns, new.st_ino) == (record["size"], record["mtime_ns"], record["ino"])
    assert new.st_ctime_ns != record["ctime_ns"]
    with pytest.raises(BadEntry, match="weights.bin does not match its SHA-256"):
        verify_entry(entry)


def test_the_memo_sees_a_replaced_file_with_the_same_size_and_mtime(entry):
    verify_entry(entry)
    path = entry / "weights.bin"
    old = path.stat()
    other = entry.parent / "other.bin"
    other.write_bytes(b"\x00" * old.st_size)
    os.utime(other, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(other, path)
    with pytest.raises(BadEntry, match="weights.bin does not match"):
        verify_entry(entry)


def test_a_file_younger_than_the_racy_window_is_not_memoised(entry, monkeypatch):
    monkeypatch.setattr(cache_entry, "RACY_SECONDS", 3600.0)
    verify_entry(entry)
    assert not (entry / MEMO).exists()


def test_a_memo_of_another_digest_vouches_for_nothing(entry):
    verify_entry(entry)
    memo = json.loads((entry / MEMO).read_text())
    manifest = json.loads((entry / MANIFEST).read_text())
    manifest["files"]["weights.bin"]["sha256"] = "0" * 64  # the manifest now disagrees with the memo
    (entry / MANIFEST).write_text(json.dumps(manifest))
    assert memo["files"]["weights.bin"]["sha256"] != "0" * 64
    with pytest.raises(BadEntry, match="weights.bin does not match"):
        verify_entry(entry)


# --- writes, directories used by path, leftovers --------------------------------------------------


def test_cached_directory_verifies_and_rebuilds(tmp_path, capsys):
    writes: list[Path] = []

    def write(target: Path) -> None:
        writes.append(target)
        target.mkdir()
        (target / "model.safetensors").write_bytes(b"w" * 1000)

    first = cached_directory(tmp_path, "smollm2", {"gguf": "x.gguf"}, write)
    assert cached_directory(tmp_path, "smollm2", {"gguf": "x.gguf"}, write) == first and len(writes) == 1
    assert writes[0].parent.name.startswith(".")  # written in a hidden staging directory, then renamed
    (first / "model.safetensors").write_bytes(b"x" * 1000)
    assert cached_directory(tmp_path, "smollm2", {"gguf": "x.gguf"}, write) == first and len(writes) == 2
    assert (first / "model.safetensors").read_bytes() == b"w" * 1000
    assert "moved it to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, QUARANTINE])  # no staging left


def test_a_killed_writers_staging_is_cleaned_a_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = cache_mod._host()
    name = "retrain-0123456789abcdef"
    stale = tmp_path / f".{name}.{host}-{int(dead.stdout)}.abc.staging"
    old_style = tmp_path / f".{name}.k3j2h1"  # a killed write of an obliviate without owner names
    live = tmp_path / f".{name}.{host}-{os.getpid()}.def.staging"
    foreign = tmp_path / ".not-ours"
    for d in (stale, old_style, live, foreign):
        (d / "inner").mkdir(parents=True)
    assert clean_stale_staging(tmp_path, name) == sorted([stale, old_style])
    assert live.is_dir() and foreign.is_dir() and not stale.exists() and not old_style.exists()


def test_the_warning_is_one_stderr_line_without_logging_configured(tmp_path):
    bad = tmp_path / "original-0123456789abcdef"
    bad.mkdir()
    code = "import sys; from pathlib import Path; from obliviate.bench.cache import quarantine; quarantine(Path(sys.argv[1]), 'x')"
    proc = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if str(bad) in line] == [
        f"obliviate: warning: cache entry {bad} is unusable: x; moved it to "
        f"{next((tmp_path / QUARANTINE).iterdir())} and rebuilding it"]


def test_an_entry_that_cannot_be_moved_aside_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "original-0123456789abcdef"
    bad.mkdir()

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache_mod.os, "rename", refuse)
    with pytest.raises(ObliviateError, match=r"cannot be moved aside .*obliviate cache clear --yes original-0123456789abcdef"):
        cache_mod.quarantine(bad, "it has no manifest.json")


# --- obliviate cache ls | verify | clear ---------------------------------------------------------


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["cache", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cache_ls_and_verify(cache, capsys, monkeypatch):
    monkeypatch.setattr(cache_entry, "RACY_SECONDS", 0.0)
    rc, out, _ = _cli(capsys, "ls", "--cache-dir", str(cache))
    assert rc == 0 and "2 entries" in out
    lines = {line.split()[0]: line for line in out.splitlines()[2:4]}
    assert set(lines) == {"original", "retrain"}
    assert "not yet" in lines["retrain"] and "dataset=digits" in lines["retrain"] and "forget=random:0.1" in lines["retrain"]
    assert _cli(capsys, "verify", "--cache-dir", str(cache))[:2] == (0, _ok_lines(cache) + f"2 entries in {cache} checked, 0 bad\n")
    _, out, _ = _cli(capsys, "ls", "--cache-dir", str(cache))
    assert all(" yes " in line for line in out.splitlines()[2:4])  # verified, and unchanged since

    retrain = _entry(cache, "retrain")
    _flip_signs(retrain / WEIGHTS)
    (cache / "my-notes.txt").write_text("not ours")
    rc, out, _ = _cli(capsys, "verify", "--cache-dir", str(cache))
    assert rc == 1
    assert f"BAD {retrain}: model.safetensors does not match its SHA-256" in out
    assert f"ok  {_entry(cache, 'original').name}" in out and "2 entries" in out and "1 bad" in out
    _, out, _ = _cli(capsys, "ls", "--cache-dir", str(cache))
    assert "my-notes.txt" in out and "never removed" in out
    (_entry(cache, "original") / MANIFEST).unlink()  # as written by an obliviate without checksums
    _, out, _ = _cli(capsys, "ls", "--cache-dir", str(cache))
    assert "no manifest" in next(line for line in out.splitlines() if line.startswith("original"))
    assert _cli(capsys, "verify", "--yes", "--cache-dir", str(cache))[0] == 2  # clear's options are clear's only


def _ok_lines(cache: Path) -> str:
    return "".join(f"ok  {_entry(cache, kind).name}\n" for kind in ("original", "retrain"))


def test_cache_ls_of_a_missing_directory(tmp_path, capsys):
    rc, out, _ = _cli(capsys, "ls", "--cache-dir", str(tmp_path / "none"))
    assert rc == 0 and "0 entries" in out


def test_cache_clear_asks_for_yes_and_removes_only_cache_entries(cache, capsys, monkeypatch):
    (cache / "my-notes.txt").write_text("not ours")
    (cache / QUARANTINE / "retrain-0123456789abcdef-20260101T000000.0Z").mkdir(parents=True)
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    rc, _, err = _cli(capsys, "clear", "--cache-dir", str(cache))
    assert rc == 2 and "would remove 3 items" in err and "--yes" in err and "nothing was removed" in err
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before

    retrain, original = _entry(cache, "retrain"), _entry(cache, "original")
    assert _cli(capsys, "clear", "--kind", "retrain", "--yes", "--cache-dir", str(cache))[0] == 0
    assert not retrain.exists() and original.is_dir()
    assert _cli(capsys, "clear", "--kind", "retrain", "--yes", "--cache-dir", str(cache))[0] == 2  # none left
    assert _cli(capsys, "clear", "--quarantine", "--yes", "--cache-dir", str(cache))[0] == 0
    assert not (cache / QUARANTINE).exists() and original.is_dir()
    assert _cli(capsys, "clear", "ffff", "--yes", "--cache-dir", str(cache))[0] == 2  # no such hash
    rc, out, _ = _cli(capsys, "clear", original.name.split("-")[-1][:6], "--yes", "--cache-dir", str(cache))
    assert rc == 0 and "removed 1 items" in out and not original.exists()
    assert sorted(p.name for p in cache.iterdir()) == ["my-notes.txt"]  # the user's file stays


def test_cache_clear_all(cache, capsys):
    (cache / ".original-0123456789abcdef.k3j2h1").mkdir()  # a killed write's leftover
    assert "unfinished writes of killed runs: 1" in _cli(capsys, "ls", "--cache-dir", str(cache))[1]
    rc, out, _ = _cli(capsys, "clear", "--yes", "--cache-dir", str(cache))
    assert rc == 0 and "removed 3 items" in out
    assert list(cache.iterdir()) == []


def test_the_cache_command_runs_as_a_console_script(cache):
    env = {**os.environ, "OBLIVIATE_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "obliviate.cli", "cache", "verify"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and f"2 entries in {cache} checked, 0 bad" in proc.stdout
