"""Shared by the tests/test_lm_*.py modules (imported, not collected)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run a module's tiny models on one intra-op thread, then restore the setting.

    Measured on the 2-core test machine while another process kept it busy: a tiny Llama forward
    took ~250 ms with 2 threads (threads wait on each other) and ~1.5 ms with one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained_tiny_bios():
    """(task, model): 12 bios people (3 forget, 3 holdout), a 400-token BPE and a tiny Llama trained on
    the original texts (25 epochs; the fixture of the method modules)."""
    from obliviate.lm.bios import make_bios
    from obliviate.lm.data import lm_dataset
    from obliviate.lm.model import tiny_llama
    from obliviate.lm.task import LMTask
    from obliviate.lm.tokenizer import train_bpe_tokenizer
    from obliviate.lm.train import LMTrainConfig, train_lm

    corpus = make_bios(n_people=12, seed=0, forget_fraction=0.25, holdout_fraction=0.25, n_general=12)
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=400)
    task = LMTask(corpus, tok)
    model = tiny_llama(len(tok), seed=0)
    train_lm(model, lm_dataset(tok, task.original_texts()), LMTrainConfig(epochs=25, lr=3e-3, batch_size=16),
             seed=0, desc="original")
    return task, model
