"""Thread-invariant numerics: the same bits whatever the number of torch threads.

torch's CPU matrix products (Intel MKL) split their sums between threads, so a run on one
thread and the same run on two round differently in the last bit, and training trajectories
part after a few hundred steps. MKL's strict reproducibility mode on its AVX2 code path
(`MKL_CBWR=AVX2,STRICT`) makes products independent of the thread count. MKL reads the mode
once, at the process's first matrix product, so it must be chosen before any: the command
line does so at start, and worker processes inherit it. Kernels made by torch.compile (the
`compiled` derivative path) run their own threaded sums and stay thread-dependent; the eager
paths (`autograd`, `forward`) are invariant throughout.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import torch

MODE = "AVX2,STRICT"
_MKL_CBWR_ALL = -1
_AVX2_STRICT = 0x1000A  # MKL_CBWR_AVX2 | MKL_CBWR_STRICT, as mkl_cbwr_get reports them


def _active_mode() -> int:
    library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
    get = library.mkl_serv_cbwr_get
    get.argtypes, get.restype = [ctypes.c_int], ctypes.c_int
    return get(_MKL_CBWR_ALL)


def make_thread_invariant() -> None:
    """Choose MKL's strict reproducibility mode for this process and the processes it starts;
    refused where torch has no MKL or this process already ran a matrix product."""
    if not torch.backends.mkl.is_available():
        raise ValueError("thread-invariant numerics need a torch built with Intel MKL (x86 CPUs)")
    os.environ["MKL_CBWR"] = MODE
    try:
        active = _active_mode()
    except (OSError, AttributeError):
        raise ValueError("thread-invariant numerics: this torch build does not expose MKL's mode") from None
    if active != _AVX2_STRICT:
        raise ValueError("thread-invariant numerics must be chosen before the process's first matrix "
                         f"product: set MKL_CBWR={MODE} in the environment before starting Python")
