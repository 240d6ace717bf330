"""Engine tests run torch on one thread: the tensors are tiny, and on a shared machine the
thread pool's waiting costs far more than it saves (a 256x16 matmul went from 0.3 ms to 19 ms)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
