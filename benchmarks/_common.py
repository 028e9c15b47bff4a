"""Helpers shared by the benchmark scripts: result files with the command that made them."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Scripts here run with this folder first on sys.path, where the script equations.py would
# shadow the `equations` package. Import this module first: it imports the package with the
# folder off the path, then puts the path back (worker processes need it to find _common).
_HERE = Path(__file__).resolve().parent
_PATH = list(sys.path)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
import equations  # noqa: E402, F401

sys.path[:] = _PATH
import torch  # noqa: E402

from pinn_pac.runs.checkpoint import atomic_write, package_versions, write_json  # noqa: E402
from pinn_pac.runs.numerics import machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def pinn_pac(arguments: list[str]) -> float:
    """Run one `pinn-pac` command (quiet) from the repository root; its wall seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pinn_pac.cli", *arguments, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def map_jobs(run: Any, jobs: list, workers: int) -> list:
    """`run` over `jobs` in `workers` spawned processes (in this one for 1), results in order."""
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            return pool.map(run, jobs, chunksize=1)
    return [run(job) for job in jobs]


def matmul_gflops(dtype: torch.dtype = torch.float64, n: int = 2048, repeats: int = 5) -> float:
    """This machine's n x n matrix product rate: the speed reference beside every time."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def run_header() -> dict[str, Any]:
    """The command, time, machine (CPU model, MKL's code path, a float64 matmul rate) and
    versions to store beside every result."""
    numerics = machine()
    return {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": (f"{numerics['cpu']}, MKL {numerics['mkl_path']}, {platform.machine()}, "
                    f"{torch.get_num_threads()} torch threads, float64 matmul {matmul_gflops():.0f} GFLOP/s"),
        "versions": package_versions(),
    }


def write_results(name: str, data: dict[str, Any], table: str, directory: Path = RESULTS) -> None:
    """DIRECTORY/NAME.json and NAME.md (the Markdown table under the command)."""
    write_json(directory / f"{name}.json", data)
    header = data["header"]
    text = (f"# {name}\n\nMade by `{header['command']}` on {header['date']} "
            f"({header['machine']}; torch {header['versions']['torch']}).\n\n{table}\n")
    atomic_write(directory / f"{name}.md", lambda f: f.write(text.encode()))


def markdown_table(columns: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds_to(history: dict, threshold: float) -> float | None:
    """Wall seconds of the first recorded error at or below `threshold` (None if never)."""
    return next((s for s, e in zip(history["seconds"], history["rel_l2"]) if e <= threshold), None)
