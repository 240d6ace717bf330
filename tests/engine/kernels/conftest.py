"""Kernel tests: run the Triton kernels in Triton's CPU interpreter when there is no GPU.

TRITON_INTERPRET must be set before a @triton.jit function is defined (Triton decides at
decoration time whether a kernel is compiled or interpreted), so it is set here, at import
time of this conftest, before the tests import engine.kernels' Triton modules (triton
itself may already be imported by torch; see engine/kernels/triton_common.py for why that
does not matter). With CUDA the kernels run natively on the GPU instead.
"""

import os
import sys

import pytest
import torch

if not torch.cuda.is_available():
    _compiled_too_early = [name for name in sys.modules if name.startswith("engine.kernels.triton_")]
    if _compiled_too_early:
        raise pytest.UsageError(
            f"{', '.join(_compiled_too_early)} imported before tests/engine/kernels/conftest.py "
            "set TRITON_INTERPRET=1, so its kernels cannot run in the interpreter; import "
            "engine.kernels' Triton modules lazily (the dispatchers do)."
        )
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def device() -> torch.device:
    """Where the kernels under test run: the GPU if there is one, else the interpreter."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
