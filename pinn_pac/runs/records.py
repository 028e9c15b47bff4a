"""What a run produced, in memory: one `Record` per model (its line in the results table and
in results.json), and the solve and transfer runs that hold them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from equations import Equation

from ..solver.evaluate import Evaluator
from ..solver.model import MLP, TanhNetwork
from ..solver.train import Budget, History
from ..transfer.base import TransferMethod
from .config import Settings, TransferSettings


@dataclass
class Record:
    """One model's line in the results table and in results.json."""

    equation: str
    coefficients: dict[str, float]
    role: str
    #: NaN (null once saved) where the family declares no reference.
    rel_l2: float
    max_abs_err: float
    trainable_params: int
    seconds: float | None
    stopped_because: str = ""
    method: str | None = None
    #: Parameters stored per target beyond what all targets share (targets only).
    stored_params: int | None = None
    #: The target's error before its training began (targets only).
    start_rel_l2: float | None = None
    #: The source's error, given back by the method once this target is trained (targets only).
    source_rel_l2_after: float | None = None
    #: The source's error after every target, where the method keeps it apart (source only).
    rel_l2_after_calibration: float | None = None
    #: The quasi-Newton method that ran after Adam (see `optim`), if any.
    optimizer: str | None = None
    #: False where the family declares no reference: its errors are unavailable ("n/a"),
    #: where a NaN on the grid of one that has a reference is an error of NaN ("nan"). None
    #: (a record read back without it): known by its error, null where it had none.
    reference: bool | None = None

    def __post_init__(self) -> None:
        if self.reference is None:
            self.reference = self.rel_l2 is not None
        if self.rel_l2 is None:  # saved as null
            self.rel_l2 = self.max_abs_err = math.nan

    def as_dict(self) -> dict[str, Any]:
        """The fields that apply (`reference` only where false), with a NaN error as null."""
        return {key: None if isinstance(value, float) and math.isnan(value) else value
                for key, value in asdict(self).items() if value is not None and not (key == "reference" and value)}

    def error(self, name: str, spec: str = ".2e") -> str:
        """One of the record's errors for a table (see `error_text`)."""
        return error_text(getattr(self, name), spec, self.reference)


def error_text(value: float | None, spec: str = ".2e", reference: bool = True) -> str:
    """An error for a table: "n/a" where unavailable (no reference, or not measured), "nan"
    where the error itself is NaN (a NaN on the grid)."""
    return "n/a" if value is None or not reference else format(value, spec)


@dataclass
class SolveRun:
    equation: Equation
    settings: Settings
    budget: Budget
    network: MLP
    record: Record
    history: History
    evaluator: Evaluator


@dataclass
class TransferRun:
    """One transfer method's models for a source and its targets."""

    source: Equation
    targets: list[Equation]
    settings: Settings
    transfer_settings: TransferSettings
    method: TransferMethod
    records: list[Record]
    histories: dict[str, History]
    #: The reference of every model, by coefficient key (source and targets).
    evaluators: dict[str, Evaluator]
    #: Each target's model, by coefficient key.
    networks: dict[str, TanhNetwork]
    #: The checkpoint of this method's models (see `store`): metadata, shared state, targets.
    checkpoint: dict[str, Any]
