"""A saved run rebuilt: every model of its checkpoint, and their errors measured again. Each
method loads its own state (see `TransferMethod.load_prepared`, `load_target`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from equations import Equation, UnknownEquationError
from equations.errors import InputError

from ..solver.equation_check import EquationClassError
from ..transfer import DEFAULT_METHOD, METHODS
from .assemble import build_network, evaluator_for, transfer_context
from .checkpoint import CheckpointError
from .config import Settings, resolve_device
from .families import recorded_family
from .records import Record
from .store import read_payloads


@dataclass
class LoadedRun:
    kind: str
    metadata: dict[str, Any]
    #: (role, equation, network, trainable) of the source and each target.
    models: list[tuple[str, Equation, torch.nn.Module, int]]
    #: The transfer method ("" for a solve run).
    method: str = ""


def saved_settings(payload: dict[str, Any], device: str = "cpu") -> Settings:
    """A checkpoint's settings, on `device`; runs saved before exact conditions and RAD
    existed were soft and on fixed points."""
    known = {f.name for f in fields(Settings)}
    stored = {k: v for k, v in payload["settings"].items() if k in known}
    return Settings.from_record({"conditions": "soft", "rad_every": 0, **stored, "device": device})


def _load(payload: dict[str, Any], device: str, relocate: str | None, allow_changed: bool) -> LoadedRun:
    kind = payload["kind"]
    source = recorded_family(payload, relocate, allow_changed)(**payload["coefficients"])
    settings = saved_settings(payload, device)
    network = build_network(source, settings)
    if kind in ("solve", "identify"):  # one network, at the run's (for identify: the identified) coefficients
        network.load_state_dict(payload["network"], strict=True)
        role = "source" if kind == "solve" else "identified"
        return LoadedRun(kind, payload, [(role, source, network, sum(p.numel() for p in network.parameters()))])
    if kind != "transfer":
        raise InputError(f"unknown run kind {kind!r}")
    name = payload.get("method", DEFAULT_METHOD)
    cls = METHODS[name]
    known = {f.name for f in cls.option_fields()}
    method = cls.from_record({k: v for k, v in payload.get("options", {}).items() if k in known})
    targets = [source.with_coefficients(**target["coefficients"]) for target in payload["targets"]]
    # The network the method was prepared from: its own state replaces it where it keeps one.
    network.load_state_dict(payload["network"], strict=True)
    method.load_prepared(transfer_context(source, network, targets, settings, False), payload)
    models = [("source", source, method.source_model(), method.source_count())]
    for target, state in zip(targets, payload["targets"]):
        model = method.load_target(target, state)
        models.append(("target", target, model, method.stored_trainable(state)))
    return LoadedRun(kind, payload, models, name)


def load_runs(run_dir: Path, device: str = "cpu", equation: str | None = None,
              allow_changed: bool = False) -> list[LoadedRun]:
    """Rebuild every model of a saved run on `device`, one `LoadedRun` per method; a foreign
    or mismatched checkpoint is refused. A user's family is read from where the run recorded
    it, or from `equation` (file.py:Class) where it moved; one whose source changed since the
    run is refused unless `allow_changed`."""
    resolve_device(device)
    payloads = read_payloads(run_dir)
    try:
        return [_load(payload, device, equation, allow_changed) for payload in payloads.values()]
    except (UnknownEquationError, EquationClassError):
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{run_dir}: checkpoint does not describe a pinn-pac run ({detail})") from None


def evaluate_run(run_dir: Path, device: str = "cpu", equation: str | None = None,
                 allow_changed: bool = False) -> list[Record]:
    """Reload a run on `device` (see `load_runs`) and measure every model of every method
    against its reference again."""
    return measure(load_runs(run_dir, device, equation, allow_changed), device)


def measure(runs: list[LoadedRun], device: str = "cpu") -> list[Record]:
    """Every model of reloaded `runs` measured against its reference on `device`."""
    records = []
    for loaded in runs:
        settings = saved_settings(loaded.metadata, device)
        for role, equation, network, trainable in loaded.models:
            evaluator = evaluator_for(equation, settings)
            metrics = evaluator(network)
            records.append(Record(equation.name, equation.coefficients, role, metrics.rel_l2, metrics.max_abs_err,
                                  trainable, None, "reloaded", loaded.method or None,
                                  reference=evaluator.reference is not None))
    return records
