"""Which numerics a run ran on, and thread-invariant numerics.

**What "reproducible" means here.** The same command on the same CPU model, MKL code path and
package versions gives the same bits. On another CPU, MKL (torch's CPU matrix library) takes
other code paths and rounds sums differently in the last bits, so a run re-evaluated there
agrees to `CROSS_MACHINE_ATOL`, not bit for bit. `machine()` is the record runs
keep beside their package versions; `same_numerics` says which of the two a reload may expect.

**Thread invariance.** MKL splits a product's sums between threads, so a run on one thread and
the same run on two can round differently, and training trajectories part after a few hundred
steps. MKL's strict reproducibility mode (`MKL_CBWR=AVX2,STRICT`) makes products independent of
the thread count. On Intel CPUs MKL reports it as AVX2 with STRICT; on other x86 CPUs it keeps
its generic (AUTO) code path and reports AUTO with STRICT. Either is accepted where a probe of
the project's product shapes gives the same bits on one and two threads, and refused where it
does not. MKL reads the mode once, at the process's first matrix product, so it must be chosen
before any: the command line does so at start, and worker processes inherit it. Kernels made
by torch.compile (the `compiled` derivative path) run their own threaded sums and stay
thread-dependent; the eager paths (`autograd`, `forward`) are invariant throughout.
"""

from __future__ import annotations

import ctypes
import os
import platform
from functools import cache
from pathlib import Path
from typing import Any

import torch

from equations.errors import InputError

from .checkpoint import package_versions

MODE = "AVX2,STRICT"
#: How far a re-evaluation on another CPU or MKL code path may move a run's errors, absolute:
#: its rel L2 (a fraction of the solution's norm) and its max error (for solutions of order
#: one). Not relative to the error itself: a network at 3e-11 moves by 4e-5 of its error when
#: its prediction moves by 1e-15 of the solution. Measured: the 60 models of the 37 committed
#: runs re-evaluated on an AMD EPYC (MKL's AUTO path) moved by at most 4.9e-15 in rel L2 and
#: 3.1e-13 in max error; the problem set's KdV and holed-Poisson runs (made on an AMD EPYC
#: family 25 model 17) re-evaluated on a model 1 moved by up to 2.7e-11 and 2.6e-11.
CROSS_MACHINE_ATOL = 1e-10

_MKL_CBWR_ALL = -1
_STRICT = 0x10000
#: MKL's names for the code paths mkl_cbwr_get reports (mkl_cbwr.h).
_BRANCHES = {1: "BRANCH_OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2",
             9: "AVX", 10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}


def _mkl_function(name: str):
    library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
    function = getattr(library, name)
    function.restype = ctypes.c_int
    return function


def _active_mode() -> int:
    get = _mkl_function("mkl_serv_cbwr_get")
    get.argtypes = [ctypes.c_int]
    return get(_MKL_CBWR_ALL)


def mode_name(mode: int) -> str:
    """MKL's code-path value in its own words: 0x1000A is "AVX2,STRICT", 0x10002 "AUTO,STRICT"."""
    name = _BRANCHES.get(mode & ~_STRICT, hex(mode & ~_STRICT))
    return f"{name},STRICT" if mode & _STRICT else name


def mkl_path() -> str:
    """The code path MKL's products take in this process: the mode chosen by MKL_CBWR, or
    where none is (BRANCH_OFF) the branch MKL picks for this CPU; "none" without MKL."""
    if not torch.backends.mkl.is_available():
        return "none"
    try:
        active = _active_mode()
        if active == 1:
            active = _mkl_function("mkl_serv_cbwr_get_auto_branch")()
    except (OSError, AttributeError):
        return "unknown"
    return mode_name(active)


@cache
def cpu_model() -> str:
    """The CPU's model name, with its family and model numbers where the system gives them
    ("AMD EPYC (family 26, model 2)")."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def machine() -> dict[str, str]:
    """What decides a run's last bits besides its package versions: the CPU and MKL's path."""
    return {"cpu": cpu_model(), "mkl_path": mkl_path()}


def same_numerics(recorded: dict[str, Any]) -> bool:
    """Whether a run recorded with `recorded` (its metadata: "machine" and "versions") ran on
    the numerics of this process, so that a re-evaluation must give its bits exactly; runs
    saved before machines were recorded count as another machine."""
    return (recorded.get("machine") == machine()
            and recorded.get("versions", {}).get("torch") == package_versions()["torch"])


def reload_tolerance(recorded: dict[str, Any]) -> float:
    """How closely re-evaluating a run recorded with `recorded` must give back its errors:
    exactly (0) on the same numerics, else to `CROSS_MACHINE_ATOL`."""
    return 0.0 if same_numerics(recorded) else CROSS_MACHINE_ATOL


def _products_agree_on_one_and_two_threads() -> bool:
    """Whether the products a training step makes (long sums over collocation points, the
    quasi-Newton matrix times a vector) give the same bits on one thread and on two."""
    threads = torch.get_num_threads()
    generator = torch.Generator().manual_seed(0)
    shapes = [((20, 8000), (8000, 20)), ((8000, 20), (20, 20)), ((1, 1260), (1260, 1260))]
    operands = [(torch.randn(*a, dtype=torch.float64, generator=generator),
                 torch.randn(*b, dtype=torch.float64, generator=generator)) for a, b in shapes]
    try:
        results = []
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append([a @ b for a, b in operands])
    finally:
        torch.set_num_threads(threads)
    return all(torch.equal(one, two) for one, two in zip(*results))


def make_thread_invariant() -> None:
    """Choose MKL's strict reproducibility mode for this process and the processes it starts;
    refused where torch has no MKL, this process already ran a matrix product, or the mode MKL
    takes on this CPU does not make products thread-invariant."""
    if not torch.backends.mkl.is_available():
        raise InputError("thread-invariant numerics need a torch built with Intel MKL (x86 CPUs)")
    os.environ["MKL_CBWR"] = MODE
    try:
        active = _active_mode()
    except (OSError, AttributeError):
        raise InputError("thread-invariant numerics: this torch build does not expose MKL's mode") from None
    if not active & _STRICT:
        raise InputError("thread-invariant numerics must be chosen before the process's first matrix "
                         f"product: set MKL_CBWR={MODE} in the environment before starting Python")
    if not _products_agree_on_one_and_two_threads():
        raise InputError(f"thread-invariant numerics: MKL's strict mode on this CPU ({mode_name(active)}, "
                         f"{cpu_model()}) still gives other bits on one and two threads; run without it (a fixed "
                         "--threads repeats its bits)")
