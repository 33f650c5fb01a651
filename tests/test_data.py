import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from obliviate.data import load_image_dataset
from obliviate.errors import ConfigError, MissingDataError, UnknownNameError


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(50) % 10)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10)
    return tmp_path


def test_digits_split_is_fixed_and_normalised(digits):
    again = load_image_dataset("digits")
    assert len(digits.train) == 1437 and len(digits.test) == 360 and digits.image_shape == (1, 8, 8)
    assert (digits.train.x == again.train.x).all() and (digits.test.y == again.test.y).all()
    assert abs(float(digits.train.x.mean())) < 1e-3 and abs(float(digits.train.x.std()) - 1) < 1e-2


def test_fashion_mnist_reads_idx_files(fake_fashion):
    splits = load_image_dataset("fashion-mnist", data_dir=fake_fashion)
    assert splits.image_shape == (1, 28, 28) and len(splits.train) == 50 and len(splits.test) == 20
    assert splits.train.y.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert splits.class_names[9] == "Ankle boot"
    small = load_image_dataset("fashion-mnist", data_dir=fake_fashion, max_train=20)
    assert len(small.train) == 20 and sorted(np.bincount(small.train.y.numpy()).tolist()) == [2] * 10


def test_fashion_mnist_errors_name_the_package(tmp_path, fake_fashion):
    with pytest.raises(MissingDataError, match="apt-get install -y dataset-fashion-mnist"):
        load_image_dataset("fashion-mnist", data_dir=tmp_path / "nothing")
    with gzip.open(fake_fashion / "t10k-labels-idx1-ubyte.gz", "rb") as fh:
        raw = fh.read()
    with gzip.open(fake_fashion / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(raw[:-5])
    with pytest.raises(MissingDataError, match="truncated"):
        load_image_dataset("fashion-mnist", data_dir=fake_fashion)


def test_unknown_dataset_and_bad_subset():
    with pytest.raises(UnknownNameError, match="Did you mean 'digits'"):
        load_image_dataset("digit")
    with pytest.raises(ConfigError, match="smaller than the number of classes"):
        load_image_dataset("digits", max_train=5)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    splits = load_image_dataset("fashion-mnist")
    assert len(splits.train) == 60000 and len(splits.test) == 10000
    assert np.bincount(splits.test.y.numpy()).tolist() == [1000] * 10
