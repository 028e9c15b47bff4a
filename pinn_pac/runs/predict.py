"""A saved run's solution, and derivatives of it, at the user's points.

Points are one array per input, named as the equation names them ("x", "t"), all of one
shape; the values come back in that shape. The network's output goes through the posing the
run trained with, so exact conditions hold here as they did in training and in `evaluate`.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from equations import Equation

from equations import coefficient_key
from equations.errors import InputError

from ..solver.derivatives import parse_derivatives
from ..solver.evaluate import near_region, network_placement
from ..solver.posing import Posing
from .coefficients import parse_assignments, parse_value
from .family_answer import FAMILY_INDICATOR, FamilyAnswer, answer_from_family
from .reload import load_runs, saved_settings

#: Most points predicted (or written by `pinn-pac reference --grid`): 80 MB of float64 per field.
MAX_POINTS = 10_000_000
#: Points per forward pass, which bounds memory for derivatives of many points.
BATCH = 65_536


@dataclass
class SavedModel:
    """One model of a saved run: the source or a target, with the posing it trained with."""

    role: str
    equation: Equation
    network: torch.nn.Module
    conditions: str
    #: How the family answered a coefficient that is not one of its members (else None).
    answer: FamilyAnswer | None = None

    def __call__(self, points: Mapping[str, np.ndarray], derivatives: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Each output ("u") and each of `derivatives` ("u_x", "u_xx") at `points`, by name,
        shaped like the points (NaN at points outside a family's region)."""
        shape, flat = check_points(points, self.equation.inputs)
        wanted = parse_derivatives(tuple(dict.fromkeys(derivatives)), self.equation.inputs, self.equation.outputs)
        posing = Posing(self.equation, self.conditions)
        tensor = torch.tensor(flat, **network_placement(self.network))
        columns: dict[str, list[np.ndarray]] = {name: [] for name in self.equation.outputs}
        columns.update({derivative.name: [] for derivative in wanted})
        for start in range(0, len(tensor), BATCH):
            batch = tensor[start : start + BATCH]
            with torch.no_grad():
                values = posing.predict(self.network, batch).double().cpu().numpy()
            for k, name in enumerate(self.equation.outputs):
                columns[name].append(values[:, k])
            if wanted:
                fields = posing.fields(self.network, batch, wanted, "autograd")
                for derivative in wanted:
                    columns[derivative.name].append(fields[derivative.name].detach().double().cpu().numpy()[:, 0])
        outside = ~near_region(self.equation, flat)
        values = {name: np.concatenate(parts) for name, parts in columns.items()}
        for column in values.values():
            column[outside] = np.nan  # outside a region (and the band a reference's points may use): nothing
        return {name: column.reshape(shape) for name, column in values.items()}


def load_model(run_dir: Path, model: str | None = None, method: str | None = None, equation: str | None = None,
               allow_changed: bool = False) -> SavedModel:
    """The source of the run in `run_dir` (`model` None or "source"), or the target whose
    coefficients `model` gives ("nu=0.02/pi", or its key as the run prints it), of the
    transfer `method` (needed where the run holds several: --method all); `equation` and
    `allow_changed` as for `reload.load_runs`. Coefficients between a transfer's members that
    are none of them are answered from the family (see `family_answer`)."""
    runs = load_runs(run_dir, "cpu", equation, allow_changed)
    if method is None and len(runs) > 1:
        raise InputError(f"{run_dir} holds {len(runs)} methods ({', '.join(r.method for r in runs)}); "
                         "choose one with --method")
    loaded = next((r for r in runs if method is None or r.method == method), None)
    if loaded is None:
        raise InputError(f"{run_dir} holds no {method} models; it holds {', '.join(r.method or 'a solve' for r in runs)}")
    conditions = saved_settings(loaded.metadata).posing
    role, source, network, _ = loaded.models[0]
    if model is None or model.strip() == "source":
        return SavedModel(role, source, network, conditions)
    by_key = {coefficient_key(equation): (role, equation, network) for role, equation, network, _ in loaded.models}
    try:
        (coefficients,) = parse_assignments(model)
        wanted = source.with_coefficients(**coefficients)
    except ValueError:
        wanted = None
    key = model if wanted is None else coefficient_key(wanted)
    if key in by_key:
        return SavedModel(*by_key[key], conditions)
    if wanted is None or loaded.kind != "transfer" or len(by_key) < 2:
        held = "; ".join(f"{role} {k}" for k, (role, _, _) in by_key.items())
        raise InputError(f"no model {model!r} in {run_dir}; it holds {held}")
    members = [(equation, network) for _, equation, network, _ in loaded.models]
    answer = answer_from_family(wanted, members, saved_settings(loaded.metadata),
                                learned=loaded.metadata.get(FAMILY_INDICATOR))
    return SavedModel("family answer", wanted, answer.network, conditions, answer)


def predict(
    run_dir: Path, points: Mapping[str, np.ndarray], model: str | None = None, derivatives: Sequence[str] = (),
    method: str | None = None,
) -> dict[str, np.ndarray]:
    """u and `derivatives` at `points` from a saved run's source or target `model` (of
    `method`, where the run holds several)."""
    return load_model(run_dir, model, method)(points, derivatives)


def check_points(points: Mapping[str, np.ndarray], inputs: Sequence[str]) -> tuple[tuple[int, ...], np.ndarray]:
    """The common shape of the arrays and the points as (N, len(inputs)) float64 rows;
    missing, extra, non-numeric, mismatched, empty or non-finite arrays are refused."""
    missing = [name for name in inputs if name not in points]
    extra = [name for name in points if name not in inputs]
    if missing or extra:
        parts = [f"missing {', '.join(missing)}" if missing else "", f"extra {', '.join(extra)}" if extra else ""]
        raise InputError(f"points need one array per input, {', '.join(inputs)}: {'; '.join(filter(None, parts))}")
    arrays = {name: np.asarray(points[name]) for name in inputs}
    for name, array in arrays.items():
        if array.dtype.kind not in "iuf":
            raise InputError(f"points array {name} holds {array.dtype}, not real numbers")
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) > 1:
        described = ", ".join(f"{name} {array.shape}" for name, array in arrays.items())
        raise InputError(f"points arrays differ in shape: {described}")
    (shape,) = shapes
    size = math.prod(shape)
    if not 1 <= size <= MAX_POINTS:
        raise InputError(f"points arrays hold {size:,} points; give 1 to {MAX_POINTS:,}")
    for name, array in arrays.items():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(f"points array {name} holds nan or inf at {bad:,} of {size:,} points")
    return shape, np.stack([arrays[name].ravel().astype(np.float64) for name in inputs], axis=1)


def read_points(path: Path, what: str = "points") -> dict[str, np.ndarray]:
    """Every array of the .npz file at `path`, by name (`what` the file holds, for errors)."""
    if not Path(path).is_file():
        raise InputError(f"no {what} file at {path}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not an .npz file; save one array per name with np.savez")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot read {what} from {path}: {detail}") from None


def grid_axes(text: str, inputs: Sequence[str]) -> dict[str, np.ndarray]:
    """Axes from "x=-1:1:256,t=0:0.99:100": `count` evenly spaced values from `low` to `high`
    per input (count 1 needs low == high), in the order of `inputs`."""
    usage = f"cannot read grid {text!r}; write {','.join(f'{name}=low:high:count' for name in inputs)}"
    axes: dict[str, np.ndarray] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, spec = item.partition("=")
        parts = spec.split(":")
        if not sep or len(parts) != 3 or name.strip() in axes:
            raise InputError(usage)
        try:
            count = int(parts[2])
        except ValueError:
            raise InputError(usage) from None
        low, high = parse_value(parts[0]), parse_value(parts[1])
        if count < 1 or (count == 1 and low != high):
            raise InputError(f"grid axis {item!r}: count must be >= 2, or 1 with low == high")
        axes[name.strip()] = np.linspace(low, high, count)
    if sorted(axes) != sorted(inputs):
        raise InputError(f"{usage} (one axis per input, each once)")
    size = math.prod(len(axis) for axis in axes.values())
    if size > MAX_POINTS:
        raise InputError(f"grid {text!r} has {size:,} points; at most {MAX_POINTS:,}")
    return {name: axes[name] for name in inputs}
