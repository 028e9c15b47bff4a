"""Saving and loading runs: atomic writes, `weights_only` loads, one-line errors."""

from __future__ import annotations

import json
import math
import os
import pickle
import platform
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch

from equations.errors import InputError

from ..solver.interrupts import uninterrupted

FORMAT = "pinn-pac-checkpoint"
FORMAT_VERSION = 1


def _file_mode() -> int:
    """0666 less the process's umask: what open() would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


class CheckpointError(InputError):
    """A checkpoint is missing, unreadable, from another program or does not fit."""


def package_versions() -> dict[str, str]:
    """Versions of everything that shapes a run's numbers."""
    try:
        own = metadata.version("pinn-pac")
    except metadata.PackageNotFoundError:
        own = "unknown"
    return {
        "pinn_pac": own, "torch": str(torch.__version__), "numpy": str(np.__version__),
        "scipy": str(scipy.__version__), "python": platform.python_version(),
    }


def atomic_write(path: Path, write) -> None:
    """Call write(file_object) on a temporary file beside `path`, then move it into place; a
    stop (Ctrl-C, SIGTERM) during the write takes effect once the file is in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with uninterrupted():
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, _FILE_MODE)  # mkstemp makes files owner-only
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _strict(value: Any) -> Any:
    """`value` with every NaN or infinite float as None: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Strict JSON, written atomically: a NaN or infinite number is written as null."""
    text = json.dumps(_strict(data), indent=2, allow_nan=False)
    atomic_write(path, lambda f: f.write((text + "\n").encode()))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint dict (tensors, numbers, strings, lists, dicts) atomically, every
    tensor moved to the CPU."""
    payload = _on_cpu({"format": FORMAT, "format_version": FORMAT_VERSION, **payload})
    atomic_write(path, lambda f: torch.save(payload, f))


def _on_cpu(value: Any) -> Any:
    """`value` with every tensor in it (through lists and dicts) on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`, refusing anything else."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a readable pinn-pac checkpoint: {first_line}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pinn-pac checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}; "
            f"this pinn-pac reads version {FORMAT_VERSION}"
        )
    return payload
