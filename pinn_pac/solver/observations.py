"""Measurements of a solution, and the loss that fits them beside the physics.

Observations are one 1-D array per input (named as the equation names its inputs) and one
per observed output (any of the equation's outputs), all of one length. The data misfit of
an output is its mean squared mismatch divided by the mean square of its data, so that it is
of order one whatever the solution's scale; the identification loss is the physics loss plus
`data_weight` times the mean of the outputs' misfits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from equations import Equation
from equations.errors import InputError

from .evaluate import NEAR_BOUNDARY, in_region
from .loss import PhysicsLoss
from .training_loss import TrainingLoss
from .unknowns import Unknowns

#: Fewer measurements than this are refused: they cannot pin down a solution and its coefficients.
MIN_DATA_POINTS = 10
#: Points may lie this far outside the domain box (rounding in the user's files).
DOMAIN_TOLERANCE = 1e-9


class DataError(InputError):
    """Observations that cannot be used: missing, extra, mismatched or non-finite arrays,
    points outside the domain, too few points, or no observed output."""


@dataclass
class Observations:
    """Measured outputs at points: `points` (N, n_inputs) in the order of the equation's
    inputs, `values` an (N, 1) tensor per observed output."""

    points: torch.Tensor
    values: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.points)

    def to(self, dtype: torch.dtype, device: torch.device | str = "cpu") -> "Observations":
        return Observations(self.points.to(dtype=dtype, device=device),
                            {name: v.to(dtype=dtype, device=device) for name, v in self.values.items()})

    def stacked(self) -> torch.Tensor:
        """The observed outputs' data, one column each (N, n_observed)."""
        return torch.cat(list(self.values.values()), dim=1)

    def columns(self, outputs: tuple[str, ...]) -> list[int]:
        """Where each observed output sits among an equation's `outputs`."""
        return [outputs.index(name) for name in self.values]

    def misfit(self, predicted: torch.Tensor, outputs: tuple[str, ...]) -> torch.Tensor:
        """The misfit of a prediction of every output (N, len(outputs)) at these points."""
        data = self.stacked()
        return relative_misfit(predicted[:, self.columns(outputs)], data, data_scale(data))

    def arrays(self, inputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The observations as the arrays they were read from."""
        columns = {name: self.points[:, k].cpu().numpy() for k, name in enumerate(inputs)}
        return {**columns, **{name: v[:, 0].cpu().numpy() for name, v in self.values.items()}}


def read_observations(arrays: Mapping[str, np.ndarray], equation: Equation,
                      dtype: torch.dtype = torch.float64) -> Observations:
    """Observations from `arrays` (an .npz file's), checked against `equation`: every input,
    at least one output and nothing else, all 1-D of one length (at least MIN_DATA_POINTS),
    real, finite, and inside the domain."""
    inputs, outputs = equation.inputs, equation.outputs
    missing = [name for name in inputs if name not in arrays]
    extra = [name for name in arrays if name not in inputs and name not in outputs]
    if missing or extra:
        parts = [f"missing {', '.join(missing)}" if missing else "", f"extra {', '.join(extra)}" if extra else ""]
        raise DataError(f"data need one array per input ({', '.join(inputs)}) and per observed output "
                        f"(any of {', '.join(outputs)}): {'; '.join(filter(None, parts))}")
    observed = [name for name in outputs if name in arrays]
    if not observed:
        raise DataError(f"data hold no observed output (any of {', '.join(outputs)}): nothing to fit")
    named = [*inputs, *observed]
    values = {name: np.asarray(arrays[name]) for name in named}
    for name, array in values.items():
        if array.dtype.kind not in "iuf":
            raise DataError(f"data array {name} holds {array.dtype}, not real numbers")
        if array.ndim != 1:
            raise DataError(f"data array {name} has shape {array.shape}; give one 1-D array per name")
    lengths = {name: len(array) for name, array in values.items()}
    if len(set(lengths.values())) > 1:
        raise DataError("data arrays differ in length: " + ", ".join(f"{n} {k}" for n, k in lengths.items()))
    count = lengths[named[0]]
    if count < MIN_DATA_POINTS:
        raise DataError(f"data hold {count} points; identification needs at least {MIN_DATA_POINTS}")
    for name, array in values.items():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise DataError(f"data array {name} holds nan or inf at {bad} of {count} points")
    for name in inputs:
        low, high = equation.domain[name]
        outside = int(np.count_nonzero((values[name] < low - DOMAIN_TOLERANCE) | (values[name] > high + DOMAIN_TOLERANCE)))
        if outside:
            raise DataError(f"data array {name}: {outside} of {count} points lie outside the domain "
                            f"[{low:g}, {high:g}]")
    stacked = np.stack([values[name].astype(np.float64) for name in inputs], axis=1)
    outside = int(np.count_nonzero(~in_region(equation, stacked, NEAR_BOUNDARY)))  # as a reference's points
    if outside:
        raise DataError(f"{outside} of {count} data points lie outside the region of {equation.name}")
    points = torch.tensor(stacked, dtype=dtype)
    return Observations(points, {name: torch.tensor(values[name].astype(np.float64), dtype=dtype)[:, None]
                                 for name in observed})


def data_scale(data: torch.Tensor) -> torch.Tensor:
    """Each column's mean square: what its mismatch is measured against."""
    return data.square().mean(dim=0).clamp_min(torch.finfo(data.dtype).tiny)


def relative_misfit(predicted: torch.Tensor, data: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The mean over columns (outputs) of the mean squared mismatch over `scale`."""
    return ((predicted - data).square().mean(dim=0) / scale).mean()


#: The data misfit's weight against the physics loss when none is given (see benchmarks/README.md).
DEFAULT_DATA_WEIGHT = 1.0


def check_data_weight(weight: float) -> None:
    if not (math.isfinite(weight) and weight > 0):
        raise InputError(f"the data weight must be > 0, got {weight}")


class IdentificationLoss(TrainingLoss):
    """The physics loss of the equation that reads the unknowns, plus `data_weight` times the
    data misfit; it reports each term, and each unknown's value, to the training history.
    RAD, term weighting and the training state are the physics loss's."""

    def __init__(self, physics: PhysicsLoss, observations: Observations, unknowns: Unknowns,
                 data_weight: float = DEFAULT_DATA_WEIGHT) -> None:
        check_data_weight(data_weight)
        self.physics, self.observations, self.unknowns = physics, observations, unknowns
        self.data_weight = data_weight
        self._columns = observations.columns(physics.equation.outputs)
        self._data = observations.stacked()
        #: Each observed output's mean squared data: what its mismatch is measured against.
        self.scale = data_scale(self._data)
        self.resample_every = physics.resample_every
        self.reweight_every = physics.reweight_every

    def predicted(self, network: torch.nn.Module) -> torch.Tensor:
        """The observed outputs as the network predicts them, one column each."""
        return self.physics.posing.predict(network, self.observations.points)[:, self._columns]

    def mismatch(self, network: torch.nn.Module) -> torch.Tensor:
        """Prediction minus data at every observation, one column per observed output."""
        return self.predicted(network) - self._data

    def misfit(self, network: torch.nn.Module) -> torch.Tensor:
        """The mean over observed outputs of mean squared mismatch over mean squared data."""
        return relative_misfit(self.predicted(network), self._data, self.scale)

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        return self.physics(network) + self.data_weight * self.misfit(network)

    def term_values(self, network: torch.nn.Module) -> dict[str, float]:
        terms = {name: float(value.detach()) for name, value in self.physics.terms(network).items()}
        return {**terms, "data": float(self.misfit(network).detach())}

    def tracked_values(self) -> dict[str, float]:
        return self.unknowns.values()

    def resample(self, network: torch.nn.Module) -> None:
        self.physics.resample(network)

    def reweight(self, network: torch.nn.Module, balance: bool, parameters: list[torch.nn.Parameter]) -> bool:
        return self.physics.reweight(network, balance, parameters)

    def state_dict(self) -> dict:
        return self.physics.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.physics.load_state_dict(state)
