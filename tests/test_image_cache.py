"""The decoded-image cache of image folders: hits, invalidation by file changes, verification on read."""

from __future__ import annotations

import os

import numpy as np
import pytest

from obliviate.data import folders, image_cache
from obliviate.data.writers import write_image_folder


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OBLIVIATE_IMAGE_CACHE", raising=False)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    root = tmp_path / "imgs"
    write_image_folder(root, images, [i % 3 for i in range(12)], ["a", "b", "c"])
    return root, tmp_path / "cache" / image_cache.SUBDIR


def _no_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("decoded instead of reading the cache")

    monkeypatch.setattr(folders, "read_images", fail)


def test_second_load_reads_the_cache_with_the_same_pixels(folder, monkeypatch):
    root, cache = folder
    first = folders.load_image_folder(root)
    assert len(list(cache.glob("*.npy"))) == 2  # train and test
    _no_decoding(monkeypatch)
    second = folders.load_image_folder(root)
    assert np.array_equal(first.train.x.numpy(), second.train.x.numpy())
    assert np.array_equal(first.test.y.numpy(), second.test.y.numpy())


def test_a_changed_file_makes_a_new_key(folder):
    root, cache = folder
    folders.load_image_folder(root)
    some = sorted(root.rglob("*.png"))[0]
    stat = some.stat()
    os.utime(some, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    folders.load_image_folder(root)
    assert len(list(cache.glob("*.npy"))) == 3  # the split holding the touched file was decoded again


def test_a_corrupt_entry_is_decoded_again(folder, caplog):
    root, cache = folder
    first = folders.load_image_folder(root)
    for path in cache.glob("*.npy"):
        array = np.load(path)
        array.reshape(-1)[0] ^= 0xFF
        np.save(path, array)
    again = folders.load_image_folder(root)
    assert np.array_equal(first.train.x.numpy(), again.train.x.numpy())
    assert "does not match" in caplog.text


def test_the_cache_can_be_turned_off(folder, monkeypatch):
    root, cache = folder
    monkeypatch.setenv("OBLIVIATE_IMAGE_CACHE", "0")
    folders.load_image_folder(root)
    assert not cache.exists()
