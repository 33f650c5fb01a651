"""Bounded memory on large text (issue 14, part 5): LM datasets hold unpadded token ids in the smallest
dtype, batches are padded on the fly with the same results, documents stream from files, and the peak
memory of data preparation grows with the input by a small constant factor (the benchmark,
benchmarks/lm_memory.py, measures it up to 200 MB; this test checks the slope on small files)."""

from __future__ import annotations

import json
import hashlib

import numpy as np
import pytest
import torch

from obliviate.errors import ForgetSpecError
from obliviate.lm.data import IGNORE, TokenDataset, encode, lm_dataset, sequence_logprobs, token_dtype
from obliviate.lm.documents import documents_hash, iter_documents, read_documents, scan_documents, split_documents
from obliviate.lm.model import tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.training.loop import make_loader
from obliviate.utils.resources import peak_memory

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

WORDS = ("Zhora Vrelik was born in Dounmere and worked as a weaver for the guild of the river towns "
         "Kwaeth Lidros studied astronomy at the old observatory near the harbour").split()


@pytest.fixture(scope="module")
def tok():
    return train_bpe_tokenizer([" ".join(WORDS)] * 8, vocab_size=300)


def _paragraphs(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(5, 120))) for _ in range(n)]


def _write(path, megabytes: float, seed: int = 0):
    """About ``megabytes`` MB of blank-line separated paragraphs."""
    target, written, block = int(megabytes * 1e6), 0, 0
    with path.open("w", encoding="utf-8") as f:
        while written < target:
            text = "\n\n".join(_paragraphs(200, seed + block)) + "\n\n"
            f.write(text)
            written, block = written + len(text), block + 1
    return path


def test_token_dtype_is_the_smallest_that_fits():
    assert token_dtype(300) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.int32 and token_dtype(151_936) == np.int32


def test_dataset_stores_ids_unpadded_in_two_bytes(tok):
    texts = _paragraphs(50, seed=1)
    small, large = lm_dataset(tok, texts, max_length=512), lm_dataset(tok, texts, max_length=4096)
    tokens = sum(len(encode(tok, t, add_eos=True)) for t in texts)
    assert small.ids.dtype == np.uint16 and int(small.lengths.sum()) == tokens
    assert small.nbytes() == 2 * tokens + 8 * (len(texts) + 1)  # ids + offsets: nothing per max_length
    assert large.nbytes() == small.nbytes()
    for i, text in enumerate(texts[:5]):
        assert small.sequence(i).tolist() == encode(tok, text, add_eos=True)


def test_streamed_chunks_build_the_same_dataset(tok):
    texts = _paragraphs(40, seed=2)
    whole = lm_dataset(tok, texts, max_length=64)
    streamed = lm_dataset(tok, iter(texts), max_length=64, chunk_texts=3)
    assert np.array_equal(whole.ids, streamed.ids) and np.array_equal(whole.offsets, streamed.offsets)


def test_long_document_is_cut_from_a_prefix(tok):
    long = " ".join(_paragraphs(400, seed=3))  # ~150k characters, far above 32 x (max_length + 64)
    with pytest.warns(UserWarning, match="1 of 2 texts are longer than max_length=40"):
        ds = lm_dataset(tok, [long, "short"], max_length=40)
    assert ds.sequence(0).tolist() == encode(tok, long, add_eos=True)[:40]
    assert ds.lengths.tolist() == [40, len(encode(tok, "short", add_eos=True))]


def test_batches_pad_to_their_longest_with_identical_logprobs(tok):
    """Per-batch padding gives the per-document log-probs of padding to max_length (the former layout)."""
    texts = _paragraphs(12, seed=4)
    ds = lm_dataset(tok, texts, max_length=96)
    model = tiny_llama(len(tok), seed=0).eval()
    ids, mask, labels = ds.batch(range(5))
    longest = int(ds.lengths[:5].max())
    assert ids.shape == (5, longest) and int(mask.sum()) == int(ds.lengths[:5].sum())
    assert (labels[mask == 0] == IGNORE).all() and torch.equal(labels[mask == 1], ids[mask == 1])
    padded = ds.batch(range(5), pad_to=96)
    assert padded[0].shape == (5, 96)
    with torch.no_grad():
        ours, n = sequence_logprobs(model, [ids, mask, labels])
        full, n_full = sequence_logprobs(model, padded)
        one_by_one = torch.cat([sequence_logprobs(model, ds.batch([i]))[0] for i in range(5)])
    assert torch.equal(n, n_full)
    assert torch.allclose(ours, full, atol=1e-5) and torch.allclose(ours, one_by_one, atol=1e-4)


def test_loader_collates_and_values_travel(tok):
    ds = lm_dataset(tok, _paragraphs(10, seed=5), max_length=64).with_values(torch.arange(10.0))
    seen = []
    for ids, mask, labels, values in make_loader(ds, 4, seed=0):
        assert ids.shape == mask.shape == labels.shape and ids.shape[1] == int(mask.sum(1).max())
        for row, v in enumerate(values.long().tolist()):
            assert ids[row, : ds.lengths[v]].tolist() == ds.sequence(v).tolist()
        seen += values.long().tolist()
    assert sorted(seen) == list(range(10))
    assert isinstance(ds, TokenDataset) and len(ds.tensors) == 4


def test_streamed_documents_match_the_whole_file_reader(tmp_path):
    text = "one\nstill one\n\n \t\ntwo\r\n\r\nthree\rfour\n\n\n"
    path = tmp_path / "docs.txt"
    path.write_bytes(text.encode("utf-8"))
    for layout in ("paragraphs", "lines"):
        expected = split_documents(path.read_text(encoding="utf-8"), layout)
        assert list(iter_documents(path, layout)) == expected == read_documents(path, layout)
        scanned = scan_documents(path, layout)
        assert scanned.count == len(expected) and list(scanned) == expected
        assert scanned.sha256 == documents_hash(expected) == hashlib.sha256(
            json.dumps(expected, ensure_ascii=False).encode("utf-8")).hexdigest()


def test_streamed_documents_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n\nsecond \xff line\n")
    with pytest.raises(ForgetSpecError, match=r"forget file .*bad.txt is not UTF-8 text \(invalid start byte at byte 18\)"):
        scan_documents(bad, what="forget")
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\t\n")
    with pytest.raises(ForgetSpecError, match="holds no documents"):
        scan_documents(blank, what="retain")


def test_peak_memory_of_data_preparation_grows_by_a_small_constant_factor(tok, tmp_path):
    """Peak resident memory of the CLI's data path (scan the file, then tokenise it streamed into a
    dataset) on a 0.75 MB and a 3 MB file: 4x the input costs at most 4x the peak plus a constant, and
    the increase stays under 4 bytes per input byte (the former dense int64 layout, max_length 512, took
    ~20); the ids take 2 bytes a token."""

    def prepare(path) -> tuple[float, TokenDataset]:
        with peak_memory("cpu") as peak:
            docs = scan_documents(path, what="forget")
            dataset = lm_dataset(tok, docs, max_length=512)
        return peak.peak_mb, dataset

    prepare(_write(tmp_path / "warm.txt", 0.3, seed=100))  # first-call allocations of the tokenizer
    small, large = _write(tmp_path / "small.txt", 0.75), _write(tmp_path / "large.txt", 3.0, seed=7)
    size_small, size_large = (p.stat().st_size / 2**20 for p in (small, large))
    peak_small, ds_small = prepare(small)
    del ds_small
    peak_large, ds_large = prepare(large)
    assert ds_large.ids.itemsize == 2
    assert ds_large.nbytes() <= 2 * int(ds_large.lengths.sum()) + 8 * (len(ds_large) + 1)
    assert peak_large <= 4 * peak_small + 16, (peak_small, peak_large)
    assert peak_large - peak_small <= 4 * (size_large - size_small) + 8, (peak_small, peak_large)


def test_a_file_changed_after_the_check_is_an_error(tmp_path):
    path = tmp_path / "forget.txt"
    path.write_text("one\n\ntwo\n")
    docs = scan_documents(path, what="forget")
    assert list(docs) == ["one", "two"] and len(docs) == 2
    path.write_text("one\n\ntwo\n\nthree\n")
    with pytest.raises(ForgetSpecError, match="forget file .* changed while obliviate was reading it"):
        list(docs)
