"""Kernel tests: run the Triton kernels in Triton's CPU interpreter when there is no GPU.

TRITON_INTERPRET must be set before any @triton.jit function is defined (Triton decides
at decoration time whether a kernel is compiled or interpreted), so it is set here, at
import time of this conftest, before the tests import engine.kernels' Triton modules.
With CUDA the kernels run natively on the GPU instead.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def device() -> torch.device:
    """Where the kernels under test run: the GPU if there is one, else the interpreter."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
