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
