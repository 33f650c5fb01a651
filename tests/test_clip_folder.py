"""The clip bench on a domain folder with a user's CLIP directory: few-shot split, names, Mem / For / H."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clip_support import one_torch_thread  # noqa: F401
from obliviate.cli import main
from obliviate.clip.folder_data import few_shot_split, load_domain_data, readable
from obliviate.data.writers import write_image_folder

DOMAINS = ("Art", "Clipart", "Real_World")
CLASSES = ("Alarm_Clock", "Bike")
PER_CELL = 5


@pytest.fixture(scope="module")
def domain_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("domains") / "office-mini"
    rng = np.random.default_rng(0)
    for d, domain in enumerate(DOMAINS):
        images = rng.integers(0, 256, (PER_CELL * len(CLASSES), 20, 20, 3), dtype=np.uint8)
        images[:, :, :, d] = 255  # a colour cast per domain
        write_image_folder(root / domain, images, [i % len(CLASSES) for i in range(len(images))], CLASSES)
    return root


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A randomly initialised tiny transformers CLIPModel (16x16 input) with a word tokenizer, saved."""
    from obliviate.clip.model import ClipBackbone, caption_words, save_clip, tiny_clip, word_tokenizer

    words = caption_words([readable(d) for d in DOMAINS], [readable(c) for c in CLASSES])
    tok = word_tokenizer(words)
    path = tmp_path_factory.mktemp("clip") / "my-clip"
    save_clip(ClipBackbone(tiny_clip(tok, seed=0).eval(), tok, 16), path)
    return path


def test_few_shot_split_takes_shots_per_cell_and_keeps_a_test_image():
    labels = np.array([0] * 5 + [1] * 5 + [0] * 2 + [1] * 1)
    domains = np.array([0] * 10 + [1] * 3)
    train, test = few_shot_split(labels, domains, shots=3)
    assert not set(train) & set(test) and len(train) + len(test) == len(labels)
    cells = {(d, c): int(np.sum((domains[train] == d) & (labels[train] == c))) for d in (0, 1) for c in (0, 1)}
    assert cells == {(0, 0): 3, (0, 1): 3, (1, 0): 1, (1, 1): 0}  # n <= shots: n - 1 (a one-image cell: test only)
    again, _ = few_shot_split(labels, domains, shots=3)
    assert np.array_equal(train, again)  # fixed split


def test_domain_folder_data_names_split_and_pixels(domain_dir):
    data = load_domain_data(domain_dir, shots=2, image_size=16)
    assert data.domains == DOMAINS and data.class_names == ("alarm clock", "bike")
    assert len(data.train) == len(DOMAINS) * len(CLASSES) * 2
    assert len(data.test) == len(DOMAINS) * len(CLASSES) * (PER_CELL - 2)
    assert data.train.x.shape[1:] == (3, 16, 16) and 0 <= float(data.train.x.min()) and float(data.train.x.max()) <= 1
    for d in range(len(DOMAINS)):  # the domain's colour cast survives decoding, resizing and the split
        assert float(data.test.x[data.test.d == d][:, d].min()) == pytest.approx(1.0)


def test_bench_clip_on_a_domain_folder_with_a_users_clip(tmp_path, domain_dir, clip_dir, capsys):
    out = tmp_path / "out"
    args = ["bench", "clip", "--data", str(domain_dir), "--model", str(clip_dir), "--shots", "2", "--seeds", "1",
            "--methods", "domain_baseline,adu", "--param", "domain_baseline.epochs=1", "--param", "adu.epochs=1",
            "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    specs = ["domain:any=1", "domain:any=2"]  # the default for three domains
    assert [(r["task"]["forget_spec"], r["method"]["name"]) for r in runs] == [
        (s, m) for s in specs for m in ("original", "domain_baseline", "adu")]
    for r in runs:
        assert r["status"] == "ok" and r["task"]["model"] == "my-clip" and r["task"]["domains"] == list(DOMAINS)
        assert {"mem", "for", "h"} <= set(r["metrics"]) and 0 <= r["metrics"]["mem"] <= 100
        assert r["task"]["forget_size"] + r["task"]["retain_size"] == len(DOMAINS) * len(CLASSES) * 2
    config = json.loads((out / "config.json").read_text())["benches"][0]
    assert config["data"] == str(domain_dir.resolve()) and config["image_size"] == 16
    capsys.readouterr()
    assert main([*args, "--forget", "domain:Sketch", "--out", str(tmp_path / "bad")]) == 2
    assert "unknown domain" in capsys.readouterr().err
    assert main(["bench", "clip", "--data", str(domain_dir), "--out", str(tmp_path / "tiny")]) == 2
    assert "--model CLIP_DIR" in capsys.readouterr().err
    assert main([*args, "--domains", "photo,sketch", "--out", str(tmp_path / "d")]) == 2
