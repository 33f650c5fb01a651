import numpy as np
import pytest

from obliviate.errors import ForgetSpecError, ObliviateError
from obliviate.tasks import ForgetRequest, Task, read_indices_file, write_indices_file

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])


def test_random_fraction_is_seeded_and_sized():
    req = ForgetRequest.parse("random:0.3")
    a = req.resolve(LABELS, 3, seed=1)
    b = req.resolve(LABELS, 3, seed=1)
    c = req.resolve(LABELS, 3, seed=2)
    assert len(a) == 3 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, c) or len(set(a) ^ set(c)) == 0  # different seeds may differ


def test_random_count_and_class():
    assert len(ForgetRequest.parse("random:4").resolve(LABELS, 3, 0)) == 4
    assert ForgetRequest.parse("class:2").resolve(LABELS, 3, 0).tolist() == [2, 5, 8]
    assert ForgetRequest.parse("class:0,2").resolve(LABELS, 3, 0).tolist() == [0, 2, 3, 5, 6, 8, 9]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("random:0", "must be positive"),
        ("random:0.0", "strictly between 0 and 1"),
        ("random:1.0", "strictly between 0 and 1"),
        ("random:-0.2", "strictly between 0 and 1"),
        ("random:-3", "must be positive"),
        ("random:abc", "fraction"),
        ("random:", "no value"),
        ("class:x", "integers"),
        ("class:1,1", "twice"),
        ("clas:1", "unknown forget kind"),
        ("nonsense", "KIND:VALUE"),
    ],
)
def test_bad_specs_raise_clear_errors(spec, message):
    with pytest.raises(ForgetSpecError, match=message):
        ForgetRequest.parse(spec)


def test_errors_are_value_errors():
    assert issubclass(ForgetSpecError, ValueError) and issubclass(ForgetSpecError, ObliviateError)


def test_resolve_rejects_unusable_sets():
    with pytest.raises(ForgetSpecError, match="nothing would be left"):
        ForgetRequest.parse("random:10").resolve(LABELS, 3, 0)
    with pytest.raises(ForgetSpecError, match="selects no sample"):
        ForgetRequest.parse("random:0.01").resolve(LABELS, 3, 0)
    with pytest.raises(ForgetSpecError, match="unknown class"):
        ForgetRequest.parse("class:7").resolve(LABELS, 3, 0)
    with pytest.raises(ForgetSpecError, match="nothing would be left"):
        ForgetRequest.parse("class:0,1,2").resolve(LABELS, 3, 0)
    with pytest.raises(ForgetSpecError, match="no sample of these classes"):
        ForgetRequest.parse("class:2").resolve(np.array([0, 1, 0, 1]), 3, 0)


def test_indices_file_round_trip_and_validation(tmp_path):
    path = write_indices_file(tmp_path / "f.txt", np.array([5, 1, 3]), comment="three samples\nfrom a test")
    text = path.read_text()
    assert text.startswith("# three samples\n# from a test\n")
    assert read_indices_file(path).tolist() == [1, 3, 5]
    assert ForgetRequest.parse(f"indices:{path}").resolve(LABELS, 3, 0).tolist() == [1, 3, 5]

    (tmp_path / "commas.txt").write_text("1, 2,3  # trailing comment\n\n4\n")
    assert read_indices_file(tmp_path / "commas.txt").tolist() == [1, 2, 3, 4]

    cases = {
        "out.txt": ("1\n99\n-1\n", "outside 0..9"),
        "dup.txt": ("1\n1\n2\n", "duplicated"),
        "empty.txt": ("# nothing\n", "empty"),
        "word.txt": ("1\nseven\n", "not an integer"),
        "all.txt": ("\n".join(str(i) for i in range(10)), "nothing would be left"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(ForgetSpecError, match=message):
            ForgetRequest.parse(f"indices:{tmp_path / name}").resolve(LABELS, 3, 0)
    with pytest.raises(ForgetSpecError, match="does not exist"):
        ForgetRequest.parse(f"indices:{tmp_path / 'missing.txt'}").resolve(LABELS, 3, 0)


def test_task_splits_partition_the_training_set(digits):
    task = Task.build(digits, "random:0.1", seed=3)
    f, r = set(task.forget_idx.tolist()), set(task.retain_idx.tolist())
    assert not f & r and len(f | r) == len(digits.train)
    assert len(task.forget) == len(f) == round(0.1 * len(digits.train))
    d = task.describe()
    assert d["forget_size"] + d["retain_size"] == len(digits.train) and d["scenario"] == "random"
    unlabelled = task.unlearn_data(with_labels=False)
    assert unlabelled.forget.y is None and unlabelled.retain.y is None
    assert not hasattr(unlabelled, "test")


def _python_reference(text: str) -> list[int]:
    """The indices-file rules, one line at a time in plain Python (what the block parser must match)."""
    import re

    values = []
    for line in text.splitlines():
        values += [int(t) for t in re.split(r"[\s,]+", line.split("#", 1)[0].strip()) if t]
    return sorted(values)


@pytest.mark.parametrize("block", [1, 5, 64, 1 << 22])
def test_indices_blocks_parse_like_lines(tmp_path, monkeypatch, block):
    """Any block size gives the same indices and the same line number in errors."""
    from obliviate.tasks import forget

    monkeypatch.setattr(forget, "INDICES_BLOCK_BYTES", block)
    text = "# header\n3, 1\t+7\r\n\n-0 , 12 # 99 not an index\r10\x0c11\n0008,\n"
    path = tmp_path / "i.txt"
    path.write_text(text, newline="")
    assert read_indices_file(path).tolist() == _python_reference(text) == [0, 1, 3, 7, 8, 10, 11, 12]
    path.write_text(text + "\n4 5-6\n", newline="")
    with pytest.raises(ForgetSpecError, match=r"i.txt:9: '5-6' is not an integer index"):
        read_indices_file(path)
    path.write_text("1\n" * 3 + "99999999999999999999\n")
    with pytest.raises(ForgetSpecError, match=r"i.txt:4: index 99999999999999999999 is far outside"):
        read_indices_file(path)


def test_large_indices_file_is_refused_early_naming_it(tmp_path):
    """10^6 indices for a 1000-sample training set: refused from the first block, with the file's name,
    without reading the rest (issue 14: 10^7 entries took 1.5 GB and 30 s to reject)."""
    from obliviate.utils.resources import peak_memory

    path = tmp_path / "huge.txt"
    path.write_text("\n".join(str(i % 999) for i in range(10**6)) + "\n")
    request = ForgetRequest.parse(f"indices:{path}")
    with peak_memory("cpu") as peak:
        with pytest.raises(ForgetSpecError, match=r"indices file .*huge.txt: it lists at least \d+ indices for a "
                                                   r"1000-sample training set"):
            request.resolve(np.zeros(1000, dtype=int), 1, 0)
    assert peak.peak_mb < 100
    path.write_text("5\n2000\n" + "1\n" * 10)
    with pytest.raises(ForgetSpecError, match=r"indices file .*huge.txt: 1 indices outside 0..999"):
        request.resolve(np.zeros(1000, dtype=int), 1, 0)
    path.write_text("5\n5\n")
    with pytest.raises(ForgetSpecError, match=r"duplicated .*\(indices file .*huge.txt\)"):
        request.resolve(np.zeros(1000, dtype=int), 1, 0)
