"""The vision formats on fixtures written in exactly their published layouts: CIFAR binary records,
Hugging Face parquet with PNG bytes, SVHN .mat, image folders and domain folders; the tensor
augmentation; the CIFAR-form ResNet-18 and VGG-16-BN."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from obliviate.data import IMAGE_DATASETS, RandomCropFlip, load_image_dataset, read_domain_folder
from obliviate.data.images import Normalization
from obliviate.data.pixels import CIFAR10_STATS, CIFAR100_STATS, IMAGENET_STATS, SVHN_STATS
from obliviate.data.writers import (png_bytes, write_cifar10_binary, write_cifar100_binary, write_hf_parquet,
                                    write_image_folder, write_svhn_mat)
from obliviate.errors import ConfigError, MissingDataError
from obliviate.models import build_classifier, load_classifier, save_classifier

Image = pytest.importorskip("PIL.Image")  # Pillow and scipy come with matplotlib and scikit-learn
scipy_io = pytest.importorskip("scipy.io")
#: the parquet tests need the vision extra's pyarrow; the rest of the module does not
needs_pyarrow = pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed (pip install obliviate[vision])")

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _pixels(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """n random uint8 RGB images (n, H, W, 3)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _denormalise(x: torch.Tensor, stats: Normalization) -> np.ndarray:
    """Normalised (N, C, H, W) back to uint8 (N, H, W, C) — exact up to float rounding."""
    mean = torch.tensor(stats.mean).view(1, -1, 1, 1)
    std = torch.tensor(stats.std).view(1, -1, 1, 1)
    return torch.round((x * std + mean) * 255).to(torch.int64).permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------- CIFAR binary


@pytest.fixture
def cifar10_bin(tmp_path):
    train, test = _pixels(30, seed=1), _pixels(10, seed=2)
    ytr, yte = np.arange(30) % 10, (np.arange(10) * 3) % 10
    folder = write_cifar10_binary(tmp_path / "cifar-10-batches-bin", (train, ytr), (test, yte), CIFAR10_NAMES)
    # the published record layout: 1 label byte, then the red, green and blue 32x32 planes, row-major
    raw = (folder / "data_batch_1.bin").read_bytes()
    assert len(raw) == 6 * 3073 and raw[3073] == ytr[1]
    assert (raw[1], raw[2], raw[1 + 32], raw[1 + 1024], raw[1 + 2048]) == (
        train[0, 0, 0, 0], train[0, 0, 1, 0], train[0, 1, 0, 0], train[0, 0, 0, 1], train[0, 0, 0, 2])
    return tmp_path, train, ytr, test, yte


def test_cifar10_binary_round_trips_pixels_labels_and_names(cifar10_bin):
    root, train, ytr, test, yte = cifar10_bin
    splits = load_image_dataset("cifar10", data_dir=root)  # finds cifar-10-batches-bin/ below root
    assert splits.image_shape == (3, 32, 32) and len(splits.train) == 30 and len(splits.test) == 10
    assert splits.class_names == CIFAR10_NAMES and splits.num_classes == 10
    assert splits.train.y.tolist() == ytr.tolist() and splits.test.y.tolist() == yte.tolist()
    assert splits.normalization == CIFAR10_STATS
    assert (_denormalise(splits.train.x, CIFAR10_STATS) == train).all()
    assert (_denormalise(splits.test.x, CIFAR10_STATS) == test).all()
    # normalised with SalUn's statistics: a red value v reads (v/255 - 0.4914) / 0.2470
    expected = (train[0, 0, 0, 0] / 255 - 0.4914) / 0.2470
    assert float(splits.train.x[0, 0, 0, 0]) == pytest.approx(expected, abs=1e-5)
    assert splits.train.x.dtype == torch.float32
    # max_train keeps the statistics and stratifies
    small = load_image_dataset("cifar10", data_dir=root / "cifar-10-batches-bin", max_train=20)
    assert len(small.train) == 20 and small.normalization == CIFAR10_STATS


def test_cifar100_binary_fine_and_coarse_labels(tmp_path):
    from obliviate.data.cifar import load_cifar

    train, test = _pixels(12, seed=3), _pixels(4, seed=4)
    fine_tr, fine_te = np.arange(12) * 8 % 100, np.array([99, 0, 50, 7])
    folder = write_cifar100_binary(tmp_path / "cifar-100-binary", (train, fine_tr // 5, fine_tr), (test, fine_te // 5, fine_te),
                                   [f"fine{i}" for i in range(100)], [f"coarse{i}" for i in range(20)])
    raw = (folder / "test.bin").read_bytes()  # records: coarse byte, fine byte, 3072 pixel bytes
    assert len(raw) == 4 * 3074 and (raw[0], raw[1], raw[2]) == (19, 99, test[0, 0, 0, 0])
    splits = load_image_dataset("cifar100", data_dir=tmp_path)
    assert splits.num_classes == 100 and splits.class_names[99] == "fine99"
    assert splits.train.y.tolist() == fine_tr.tolist() and splits.test.y.tolist() == fine_te.tolist()
    assert (_denormalise(splits.test.x, CIFAR100_STATS) == test).all()
    coarse = load_cifar("cifar100", folder, coarse=True)
    assert coarse.num_classes == 20 and coarse.test.y.tolist() == (fine_te // 5).tolist()


class _Trap:
    """Unpickling this creates a file: the loader must refuse before ever unpickling."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name, folder, files", [
    ("cifar10", "cifar-10-batches-py", ["data_batch_1", "test_batch", "batches.meta"]),
    ("cifar100", "cifar-100-python", ["train", "test", "meta"]),
])
def test_pickled_python_version_is_refused_without_unpickling(tmp_path, name, folder, files):
    marker = tmp_path / "unpickled"
    (tmp_path / folder).mkdir()
    for f in files:
        (tmp_path / folder / f).write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(MissingDataError, match=r"python \(pickled\) version.*binary version.*parquet"):
        load_image_dataset(name, data_dir=tmp_path)
    assert not marker.exists()


def test_cifar_binary_errors_name_the_file(cifar10_bin, tmp_path):
    root = cifar10_bin[0] / "cifar-10-batches-bin"
    batch = root / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(MissingDataError, match="data_batch_3.bin is truncated"):
        load_image_dataset("cifar10", data_dir=root)
    batch.unlink()
    with pytest.raises(MissingDataError, match="data_batch_3.bin not found"):
        load_image_dataset("cifar10", data_dir=root)
    with pytest.raises(MissingDataError, match="no CIFAR10 files in .*cifar-10-binary.tar.gz.*uoft-cs/cifar10"):
        load_image_dataset("cifar10", data_dir=_empty(tmp_path))
    with pytest.raises(MissingDataError, match="pass --data-dir"):
        load_image_dataset("cifar10")


def test_cifar_binary_missing_names_and_bad_label(cifar10_bin):
    root = cifar10_bin[0] / "cifar-10-batches-bin"
    meta = root / "batches.meta.txt"
    meta.unlink()
    with pytest.raises(MissingDataError, match="batches.meta.txt not found"):
        load_image_dataset("cifar10", data_dir=root)
    meta.write_text("\n".join(CIFAR10_NAMES))
    raw = bytearray((root / "test_batch.bin").read_bytes())
    raw[0] = 12  # a label byte outside 0-9
    (root / "test_batch.bin").write_bytes(bytes(raw))
    with pytest.raises(MissingDataError, match=r"test_batch.bin: label 12 is outside 0..9"):
        load_image_dataset("cifar10", data_dir=root)


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    return folder


# ---------------------------------------------------------------- parquet


def _write_parquet(path: Path, images: list[bytes], labels: list[int], *, image_column: str = "image",
                   label_column: str = "label", names: list[str] | None = None, extra: dict | None = None) -> None:
    write_hf_parquet(path, images, labels, image_column=image_column, label_column=label_column,
                     class_names=names, extra=extra)


@needs_pyarrow
def test_cifar10_parquet_layout_of_the_hub(tmp_path):
    train, test = _pixels(20, seed=5), _pixels(6, seed=6)
    ytr, yte = (np.arange(20) % 10).tolist(), [3, 1, 4, 1, 5, 9]
    folder = tmp_path / "plain_text"
    _write_parquet(folder / "train-00000-of-00001.parquet", [png_bytes(a) for a in train], ytr,
                   image_column="img", names=list(CIFAR10_NAMES))
    _write_parquet(folder / "test-00000-of-00001.parquet", [png_bytes(a) for a in test], yte,
                   image_column="img", names=list(CIFAR10_NAMES))
    splits = load_image_dataset("cifar10", data_dir=tmp_path)
    assert splits.class_names == CIFAR10_NAMES and splits.image_shape == (3, 32, 32)
    assert splits.train.y.tolist() == ytr and splits.test.y.tolist() == yte
    assert (_denormalise(splits.train.x, CIFAR10_STATS) == train).all()
    assert (_denormalise(splits.test.x, CIFAR10_STATS) == test).all()


@needs_pyarrow
def test_cifar100_parquet_reads_fine_label(tmp_path):
    images = [png_bytes(a) for a in _pixels(4, seed=7)]
    for split in ("train", "test"):
        _write_parquet(tmp_path / "cifar100" / f"{split}-00000-of-00001.parquet", images, [5, 50, 99, 0],
                       image_column="img", label_column="fine_label", names=[f"c{i}" for i in range(100)],
                       extra={"coarse_label": [1, 10, 19, 0]})
    splits = load_image_dataset("cifar100", data_dir=tmp_path)
    assert splits.num_classes == 100 and splits.train.y.tolist() == [5, 50, 99, 0] and splits.class_names[5] == "c5"
    from obliviate.data.cifar import load_cifar

    assert load_cifar("cifar100", tmp_path, coarse=True).test.y.tolist() == [1, 10, 19, 0]


@needs_pyarrow
def test_parquet_missing_column_file_and_split(tmp_path):
    from obliviate.data.parquet import load_parquet_splits

    images = [png_bytes(a) for a in _pixels(3, seed=8)]
    _write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", images, [0, 1, 0])
    with pytest.raises(MissingDataError, match="no parquet files of a test split"):
        load_image_dataset("parquet", data_dir=tmp_path)
    _write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", images, [1, 0, 1])
    with pytest.raises(MissingDataError, match=r"train-00000-of-00001.parquet has no column 'img'; its columns are image, label"):
        load_parquet_splits(tmp_path / "data", name="x", image_column="img")
    with pytest.raises(MissingDataError, match="no parquet files of split 'extra'"):
        load_parquet_splits(tmp_path / "data", name="x", train_split="extra")
    with pytest.raises(MissingDataError, match="expected those of zh-plus/tiny-imagenet"):
        load_image_dataset("tiny-imagenet", data_dir=_empty(tmp_path))
    splits = load_image_dataset("parquet", data_dir=tmp_path)  # no ClassLabel names: ids as names
    assert splits.class_names == ("0", "1") and len(splits.train) == 3


@needs_pyarrow
def test_tiny_imagenet_parquet_valid_split_grey_images_and_corrupt_row(tmp_path):
    train = _pixels(4, size=64, seed=9)
    grey = np.random.default_rng(10).integers(0, 256, (64, 64), dtype=np.uint8)
    wnids = ["n01443537", "n01629819"]
    data = tmp_path / "data"
    _write_parquet(data / "train-00000-of-00001-1359597a978bc4fa.parquet",
                   [png_bytes(a) for a in train] + [png_bytes(grey)], [0, 1, 0, 1, 1], names=wnids)
    _write_parquet(data / "valid-00000-of-00001-70d52db3c749a935.parquet", [png_bytes(train[0])], [0], names=wnids)
    splits = load_image_dataset("tiny-imagenet", data_dir=tmp_path)
    assert splits.image_shape == (3, 64, 64) and splits.class_names == tuple(wnids) and len(splits.test) == 1
    assert splits.normalization == IMAGENET_STATS
    back = _denormalise(splits.train.x, IMAGENET_STATS)
    assert (back[:4] == train).all() and (back[4] == grey[:, :, None]).all()  # grey -> RGB repeats the plane
    _write_parquet(data / "valid-00000-of-00001-70d52db3c749a935.parquet", [b"\x89PNG not really"], [0], names=wnids)
    with pytest.raises(MissingDataError, match=r"valid-00000-of-00001-70d52db3c749a935.parquet row 0 \(0.png\): cannot decode"):
        load_image_dataset("tiny-imagenet", data_dir=tmp_path)


# ---------------------------------------------------------------- SVHN


def test_svhn_mat_maps_label_10_to_digit_0_and_transposes(tmp_path):
    rng = np.random.default_rng(11)
    x_train = rng.integers(0, 256, (32, 32, 3, 12), dtype=np.uint8)  # (H, W, C, N) as in train_32x32.mat
    y_train = np.array([[10], [1], [2], [3], [4], [5], [6], [7], [8], [9], [10], [1]], dtype=np.uint8)
    x_test = rng.integers(0, 256, (32, 32, 3, 3), dtype=np.uint8)
    y_test = np.array([[10], [5], [10]], dtype=np.uint8)
    scipy_io.savemat(tmp_path / "train_32x32.mat", {"X": x_train, "y": y_train})
    scipy_io.savemat(tmp_path / "test_32x32.mat", {"X": x_test, "y": y_test})
    splits = load_image_dataset("svhn", data_dir=tmp_path)
    assert splits.train.y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1] and splits.test.y.tolist() == [0, 5, 0]
    assert splits.class_names == tuple("0123456789") and splits.normalization == SVHN_STATS
    back = _denormalise(splits.train.x, SVHN_STATS)  # (N, H, W, C)
    assert (back == x_train.transpose(3, 0, 1, 2)).all()
    assert back[7, 3, 5, 2] == x_train[3, 5, 2, 7]
    # the fixture writer produces the same files
    (tmp_path / "w").mkdir()
    write_svhn_mat(tmp_path / "w" / "train_32x32.mat", x_train.transpose(3, 0, 1, 2), splits.train.y.numpy())
    write_svhn_mat(tmp_path / "w" / "test_32x32.mat", x_test.transpose(3, 0, 1, 2), splits.test.y.numpy())
    assert torch.equal(load_image_dataset("svhn", data_dir=tmp_path / "w").train.x, splits.train.x)
    (tmp_path / "test_32x32.mat").unlink()
    with pytest.raises(MissingDataError, match="test_32x32.mat not found"):
        load_image_dataset("svhn", data_dir=tmp_path)
    scipy_io.savemat(tmp_path / "test_32x32.mat", {"X": x_test})
    with pytest.raises(MissingDataError, match="test_32x32.mat holds no variable 'y'"):
        load_image_dataset("svhn", data_dir=tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    with pytest.raises(MissingDataError, match="test_32x32.mat is not a readable MATLAB file"):
        load_image_dataset("svhn", data_dir=tmp_path)


@needs_pyarrow
def test_svhn_parquet_cropped_digits(tmp_path):
    images = _pixels(3, seed=12)
    for split in ("train", "test"):
        _write_parquet(tmp_path / "cropped_digits" / f"{split}-00000-of-00001.parquet", [png_bytes(a) for a in images],
                       [0, 9, 4], names=[str(d) for d in range(10)])
    splits = load_image_dataset("svhn", data_dir=tmp_path)
    assert splits.test.y.tolist() == [0, 9, 4] and (_denormalise(splits.test.x, SVHN_STATS) == images).all()


# ---------------------------------------------------------------- folders


def _write_folder(root: Path, per_class: dict[str, int], size: int = 16, seed: int = 0, ext: str = ".png") -> dict[str, list[np.ndarray]]:
    """``per_class`` images per class folder under root; returns the arrays written, per class."""
    rng = np.random.default_rng(seed)
    written = {cls: list(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)) for cls, n in per_class.items()}
    names = list(per_class)
    for c, cls in enumerate(names):
        write_image_folder(root, np.stack(written[cls]), [c] * per_class[cls], names, ext)
    return written


def test_image_folder_train_test_layout_round_trips(tmp_path):
    train = _write_folder(tmp_path / "train", {"zebra": 3, "ant": 2, "moth": 2}, seed=1)
    test = _write_folder(tmp_path / "test", {"ant": 1, "zebra": 2}, seed=2)
    (tmp_path / "train" / ".hidden").mkdir()
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    splits = load_image_dataset("image-folder", data_dir=tmp_path)
    assert splits.class_names == ("ant", "moth", "zebra")  # sorted folder names
    assert splits.train.y.tolist() == [0, 0, 1, 1, 2, 2, 2] and splits.test.y.tolist() == [0, 2, 2]
    stats = splits.normalization
    back = _denormalise(splits.train.x, stats)
    assert (back == np.stack(train["ant"] + train["moth"] + train["zebra"])).all()
    assert (_denormalise(splits.test.x, stats) == np.stack(test["ant"] + test["zebra"])).all()
    # normalised by the train split's own per-channel statistics (sample std)
    x = splits.train.x.permute(1, 0, 2, 3).reshape(3, -1)
    assert x.mean(1).abs().max() < 1e-5 and (x.std(1) - 1).abs().max() < 1e-4


def test_image_folder_split_when_flat_and_errors(tmp_path):
    _write_folder(tmp_path, {"a": 5, "b": 5}, ext=".jpg")
    splits = load_image_dataset("image-folder", data_dir=tmp_path)
    assert len(splits.train) == 8 and len(splits.test) == 2 and sorted(splits.test.y.tolist()) == [0, 1]
    again = load_image_dataset("image-folder", data_dir=tmp_path)
    assert torch.equal(splits.test.x, again.test.x)  # the split is fixed
    (tmp_path / "a" / "000002.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    with pytest.raises(MissingDataError, match=r"a/000002.jpg: cannot decode the image"):
        load_image_dataset("image-folder", data_dir=tmp_path)
    Image.fromarray(np.zeros((20, 16, 3), dtype=np.uint8)).save(tmp_path / "a" / "000002.jpg")
    with pytest.raises(MissingDataError, match=r"a/000002.jpg: image is 16x20 but earlier images are 16x16"):
        load_image_dataset("image-folder", data_dir=tmp_path)
    from obliviate.data import load_image_folder

    assert load_image_folder(tmp_path, size=8).image_shape == (3, 8, 8)
    (tmp_path / "c").mkdir()
    with pytest.raises(MissingDataError, match="hold no images"):
        load_image_dataset("image-folder", data_dir=tmp_path)


def test_domain_folder_yields_class_domain_pairs(tmp_path):
    _write_folder(tmp_path / "Art", {"Chair": 2, "Mug": 1}, seed=1)
    _write_folder(tmp_path / "Clipart", {"Mug": 2, "Bike": 1}, seed=2)
    _write_folder(tmp_path / "Real_World", {"Chair": 1}, seed=3)
    data = read_domain_folder(tmp_path)
    assert data.domain_names == ("Art", "Clipart", "Real_World") and data.class_names == ("Bike", "Chair", "Mug")
    assert data.images.shape == (7, 16, 16, 3)
    assert data.pairs() == {("Chair", "Art"), ("Mug", "Art"), ("Bike", "Clipart"), ("Mug", "Clipart"), ("Chair", "Real_World")}
    for path, c, d in zip(data.paths, data.labels, data.domains):
        assert path.parent.name == data.class_names[c] and path.parent.parent.name == data.domain_names[d]
    first = np.asarray(Image.open(data.paths[0]).convert("RGB"))
    assert (data.images[0] == first).all()
    with pytest.raises(MissingDataError, match="holds no domain folders"):
        read_domain_folder(tmp_path / "Art" / "Mug")  # a class folder: images, no domain folders


def test_registry_lists_the_vision_datasets():
    for name in ("cifar10", "cifar100", "svhn", "tiny-imagenet", "parquet", "image-folder"):
        assert name in IMAGE_DATASETS


# ---------------------------------------------------------------- augmentation


def test_random_crop_flip_is_a_padded_window_and_seeded():
    x = torch.randn(16, 3, 8, 8)
    fill = (-1.5, 0.25, 2.0)
    aug = RandomCropFlip(padding=2, fill=fill, seed=3)
    out = aug(x)
    assert out.shape == x.shape
    assert torch.equal(out, RandomCropFlip(padding=2, fill=fill, seed=3)(x))
    assert not torch.equal(out, aug(x))  # the generator advances
    padded = torch.tensor(fill).view(1, 3, 1, 1).expand(16, 3, 12, 12).clone()
    padded[:, :, 2:10, 2:10] = x
    offsets, flips = set(), 0
    for i in range(16):
        windows = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (lambda w: w.flip(-1) if f else w)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert windows, f"sample {i} is not a window of its padded image"
        offsets.add(windows[0][:2])
        flips += windows[0][2]
    assert len(offsets) > 3 and 0 < flips < 16
    assert torch.equal(RandomCropFlip(padding=0, flip=False)(x), x)
    saved = aug.state_dict()
    nxt = aug(x)
    resumed = RandomCropFlip(padding=2, fill=fill, seed=99)
    resumed.load_state_dict(saved)
    assert torch.equal(resumed(x), nxt)


def test_random_crop_pads_with_the_datasets_black():
    from obliviate.data.images import ImageDataset, ImageSplits

    stats = CIFAR10_STATS
    black = torch.tensor(stats.black()).view(1, 3, 1, 1)
    assert torch.allclose(black * torch.tensor(stats.std).view(1, 3, 1, 1) + torch.tensor(stats.mean).view(1, 3, 1, 1),
                          torch.zeros(1, 3, 1, 1), atol=1e-7)
    x = torch.full((64, 3, 4, 4), 7.0)
    splits = ImageSplits("t", ImageDataset(x, torch.zeros(64, dtype=torch.long)), ImageDataset(x, torch.zeros(64, dtype=torch.long)),
                         1, ("a",), stats)
    out = RandomCropFlip.for_splits(splits, padding=1, flip=False, seed=0)(x)
    values = set(torch.unique(out).tolist())
    assert 7.0 in values and {round(v, 5) for v in values - {7.0}} == {round(v, 5) for v in stats.black()}
    digits = load_image_dataset("digits")  # the bundled datasets carry their statistics too
    assert float(digits.train.x.min()) == pytest.approx(digits.normalization.black()[0], abs=1e-5)
    with pytest.raises(ConfigError, match="padding must be >= 0"):
        RandomCropFlip(padding=-1)


# ---------------------------------------------------------------- models


def _vgg16_bn_params(channels: int, classes: int) -> int:
    """Counted by hand: 13 bias-free 3x3 convs with BN (weight + bias), then 2048-256-256-classes."""
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    convs = sum(9 * cin * cout for cin, cout in zip([channels] + widths[:-1], widths))
    return convs + 2 * sum(widths) + (2048 * 256 + 256) + (256 * 256 + 256) + (256 * classes + classes)


def test_resnet18_is_the_cifar_form_with_the_published_parameter_count():
    model = build_classifier("resnet18", in_channels=3, num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # CIFAR ResNet-18, 10 classes
    stem = model.body[0]
    assert isinstance(stem, torch.nn.Conv2d) and stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert sum(p.numel() for p in build_classifier("resnet18", in_channels=3, num_classes=100).parameters()) == 11_220_132
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)  # Tiny-ImageNet size


def test_vgg16_bn_cifar_form(tmp_path):
    model = build_classifier("vgg16_bn", in_channels=3, num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == _vgg16_bn_params(3, 10) == 15_311_818
    assert sum(p.numel() for p in build_classifier("vgg16_bn", in_channels=1, num_classes=200).parameters()) == _vgg16_bn_params(1, 200)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert model.embed(torch.randn(2, 3, 32, 32)).shape == (2, 256)
    with pytest.raises(ConfigError, match="at least 16x16"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ConfigError, match="at least 16x16, got 8"):
        build_classifier("vgg16_bn", in_channels=3, num_classes=10, image_size=8)
    sized = build_classifier("vgg16_bn", in_channels=3, num_classes=10, image_size=32)
    again = load_classifier(save_classifier(sized, tmp_path / "vgg"))
    assert again.kwargs == {"in_channels": 3, "num_classes": 10, "image_size": 32}
    assert all(torch.equal(a, b) for a, b in zip(sized.state_dict().values(), again.state_dict().values()))
