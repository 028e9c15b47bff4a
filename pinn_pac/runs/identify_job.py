"""The identify job: unknown coefficients of an equation found from measurements.

The network and the unknowns train together on the physics residual plus the data misfit
(see `solver.observations`), through the same Adam and quasi-Newton engine as a solve, the
unknowns' raw parameters inside the dense matrix. From scratch the network starts fresh and
the unknowns at the starting guess; from a trained family (`start_from`, a run folder) they
start at the member that fits the data best, and its network, or, with one unknown, at the
coefficient between the members whose family answer (`family_answer`) fits best.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from equations import Equation
from equations.errors import InputError

from ..solver.callbacks import Callback
from ..solver.curvature import standard_errors
from ..solver.evaluate import Evaluator, Metrics, network_placement
from ..solver.model import MLP
from ..solver.observations import DEFAULT_DATA_WEIGHT, IdentificationLoss, Observations, read_observations
from ..solver.posing import Posing
from ..solver.train import Budget, History, train
from ..solver.unknowns import Unknowns, check_residual_only, check_unknowns, with_unknowns
from .assemble import apply_threads, build_network, physics_loss
from .config import Settings
from .family_answer import family_network
from .reduced_basis import NetworkFields
from .reload import load_runs, saved_settings

#: From scratch: Adam, then the quasi-Newton phase. Measured on Burgers nu from 2,000 clean
#: points of its reference (benchmarks/identify.py): nu within 1.3e-5 in about 2 minutes.
IDENTIFY_BUDGET = Budget(adam_steps=1000, iterations=2000, adam_lr=5e-3)
#: From a trained member: its network already solves a near member, so no Adam; as many
#: quasi-Newton iterations as from scratch (with 1,000, Burgers from nu = 0.005/pi to
#: 0.01/pi stopped at 7.9e-5 against scratch's 5.6e-6).
FROM_BUDGET = Budget(adam_steps=0, iterations=2000)
#: Where the held-out points are drawn: a seed offset no training loss uses.
HELD_OUT_SEED_OFFSET = 7919
#: The family search: family answers tried evenly between each two neighbouring members, then
#: golden-section steps narrowing in around the best coefficient found.
SEARCH_BETWEEN = 2
SEARCH_STEPS = 12
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass
class Start:
    """Where an identification starts from a saved run: the member (source or target) whose
    prediction fits the data best, its coefficients, its network as a plain MLP, and the
    run's settings (the network's shape and the posing it was trained with)."""

    run_dir: Path
    role: str
    coefficients: dict[str, float]
    misfit: float
    network: MLP
    settings: Settings
    #: The data misfit of every member, by its coefficients' description.
    misfits: dict[str, float]
    #: How the family search found `coefficients` between the members (None: a member's own).
    searched: str | None = None
    #: The members of the best member's run (each equation and network): where the search looks.
    members: list = field(default_factory=list, repr=False)


@dataclass
class IdentifyRun:
    """What an identification found, and how."""

    equation: Equation
    start: dict[str, float]
    identified: dict[str, float]
    #: Each unknown's approximate standard error, or why none could be computed.
    standard_errors: dict[str, float] | str
    data_misfit: float
    residual_loss: float
    #: The same physics loss on as many fresh points: far above `residual_loss`, the network
    #: meets the equation only at its training points and the identified values are not to be trusted.
    held_out_loss: float
    rel_l2: float
    max_abs_err: float
    seconds: float
    stopped_because: str
    history: History
    network: MLP
    settings: Settings
    budget: Budget
    data_weight: float
    observations: Observations
    #: The reference at the identified coefficients (None where it cannot be computed).
    evaluator: Evaluator | None
    started_from: Start | None = None
    #: The unknowns that reached a bound of their range, held just inside it (see `Unknowns.values`).
    at_bound: list[str] = field(default_factory=list)

    def results(self) -> dict:
        """results.json's content (nulls for errors unavailable without a reference)."""
        def number(value: float) -> float | None:
            return None if math.isnan(value) else value

        errors = self.standard_errors
        return {
            "equation": self.equation.name, "coefficients": self.equation.coefficients,
            "identified": self.identified, "start": self.start, "at_bound": self.at_bound,
            "standard_errors": errors if isinstance(errors, dict) else None,
            "standard_errors_note": ("approximate: Gauss-Newton curvature of the loss at the optimum, "
                                     "noise from the data misfit left there" if isinstance(errors, dict) else errors),
            "data_misfit": self.data_misfit, "residual_loss": self.residual_loss, "held_out_loss": self.held_out_loss,
            "rel_l2": number(self.rel_l2), "max_abs_err": number(self.max_abs_err),
            "data_points": len(self.observations), "observed": list(self.observations.values),
            "data_weight": self.data_weight, "seconds": self.seconds, "stopped_because": self.stopped_because,
            "started_from": None if self.started_from is None else {
                "run": str(self.started_from.run_dir), "role": self.started_from.role,
                "coefficients": self.started_from.coefficients, "misfit": self.started_from.misfit,
                "misfits": self.started_from.misfits, "searched": self.started_from.searched},
        }


def member_misfit(network: torch.nn.Module, equation: Equation, conditions: str, observations: Observations) -> float:
    """The data misfit (as `IdentificationLoss.misfit` measures it) of a trained member."""
    observed = observations.to(**network_placement(network))
    with torch.no_grad():
        return float(observed.misfit(Posing(equation, conditions).predict(network, observed.points), equation.outputs))


def best_member(run_dir: Path, equation: Equation, observations: Observations, relocate: str | None = None,
                allow_changed: bool = False) -> Start:
    """The member of the saved run in `run_dir` (every method's source and targets) that
    fits `observations` best; a run of another family is refused. `family_start` may then
    move it between the members of its run."""
    runs = load_runs(run_dir, "cpu", relocate, allow_changed)
    best, misfits = None, {}
    for loaded in runs:
        settings = saved_settings(loaded.metadata)
        members = []
        for role, member, network, _ in loaded.models:
            if member.name != equation.name:
                raise InputError(f"{run_dir} holds a {member.name} run, not {equation.name}")
            misfit = member_misfit(network, member, settings.posing, observations)
            misfits[member.describe()] = misfit
            members.append((member, network))
            if best is None or misfit < best.misfit:
                best = Start(Path(run_dir), role, dict(member.coefficients), misfit, MLP.merged(network), settings,
                             misfits, members=members)
    return best


def family_start(start: Start, equation: Equation, unknowns: Sequence[str], observations: Observations) -> Start:
    """`start` moved to the value of the one unknown between its run's members whose family
    answer fits best (`search_family`), with the nearest member's network, where that fits
    better than the best member; `start` as it is with several unknowns."""
    found = search_family(start.members, equation, unknowns[0], observations, start.settings) \
        if len(unknowns) == 1 else None
    if found is None or found[1] >= start.misfit:
        return start
    value, misfit, note = found
    nearest, network = min(start.members, key=lambda m: abs(m[0].coefficients[unknowns[0]] - value))
    at_value = member_misfit(network, equation.with_coefficients(**{unknowns[0]: value}),
                             start.settings.posing, observations)
    return replace(start, role="family answer", coefficients={**start.coefficients, unknowns[0]: value},
                   misfit=misfit, network=MLP.merged(network),
                   searched=f"{note}; the network of the member {nearest.describe()}, misfit {at_value:.2e} there")


def search_family(members: list[tuple[Equation, torch.nn.Module]], equation: Equation, unknown: str,
                  observations: Observations, settings: Settings) -> tuple[float, float, str] | None:
    """The value of `unknown` between `members` (one run's, trained with `settings`) whose family
    answer fits `observations` best, its misfit and how it was found: answers evenly between
    each two neighbouring members, then a golden-section search around the best point (a
    member's own network, or an answer). None where the members do not vary in `unknown` or
    cannot answer `equation`'s other coefficients."""
    began = time.perf_counter()
    values = sorted({m.coefficients[unknown] for m, _ in members})
    if len(values) < 2:
        return None
    tried: dict[float, float] = {}
    kept = NetworkFields()

    def misfit(value: float) -> float:
        if value not in tried:
            member = equation.with_coefficients(**{unknown: value})
            network = family_network(member, members, settings, kept)
            tried[value] = member_misfit(network, member, settings.posing, observations)
        return tried[value]

    try:
        misfit(values[0] + (values[1] - values[0]) / (SEARCH_BETWEEN + 1))
    except InputError:  # another coefficient lies outside the members': they cannot answer it
        return None
    for low, high in zip(values, values[1:]):
        for k in range(1, SEARCH_BETWEEN + 1):
            misfit(low + (high - low) * k / (SEARCH_BETWEEN + 1))
    own: dict[float, float] = {}  # each member value's own misfit (its network, not an answer)
    for member, network in members:
        value = member.coefficients[unknown]
        own[value] = min(own.get(value, math.inf), member_misfit(network, member, settings.posing, observations))
    every = {**own, **tried}
    grid = sorted(every)
    at = grid.index(min(every, key=every.get))
    low, high = grid[max(at - 1, 0)], grid[min(at + 1, len(grid) - 1)]
    left, right = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
    for _ in range(SEARCH_STEPS):  # golden-section search on [low, high]: one new answer a step
        if misfit(left) <= misfit(right):
            high, right = right, left
            left = high - GOLDEN * (high - low)
        else:
            low, left = left, right
            right = low + GOLDEN * (high - low)
    value = min(tried, key=tried.get)
    return value, tried[value], (f"{len(tried)} family answers between {len(members)} members "
                                 f"in {time.perf_counter() - began:.1f} s")


def identify(
    equation: Equation,
    data: Mapping[str, np.ndarray] | Observations,
    unknowns: list[str],
    settings: Settings | None = None,
    budget: Budget | None = None,
    data_weight: float = DEFAULT_DATA_WEIGHT,
    start_from: Start | Path | None = None,
    progress: bool = True,
    with_standard_errors: bool = True,
    callbacks: Sequence[Callback] = (),
) -> IdentifyRun:
    """Find the `unknowns` (coefficient names) of `equation` from `data` (one array per input
    and per observed output, or `Observations`). `equation` holds the known coefficients and
    the unknowns' starting guesses. With `start_from` (a run folder of the same family, or the
    `Start` found in one) the unknowns start at the best-fitting member's values and the
    network at its network, with that run's settings; the budget is then `FROM_BUDGET` unless
    given, else `IDENTIFY_BUDGET`. `callbacks` are told of every record (see `train`)."""
    check_unknowns(equation, unknowns)
    check_residual_only(equation, unknowns)
    observations = data if isinstance(data, Observations) else read_observations(data, equation)
    if isinstance(start_from, (str, Path)):
        start_from = family_start(best_member(Path(start_from), equation, observations), equation, unknowns,
                                  observations)
    if start_from is not None:
        equation = equation.with_coefficients(**{name: start_from.coefficients[name] for name in unknowns})
        settings = settings or start_from.settings
    settings = settings or Settings()
    budget = budget or (FROM_BUDGET if start_from is not None else IDENTIFY_BUDGET)
    apply_threads(settings)
    if start_from is not None:
        network = copy.deepcopy(start_from.network).to(settings.torch_device)
    else:
        network = build_network(equation, settings)
    trainable = Unknowns(equation, unknowns, settings.torch_dtype).to(settings.torch_device)
    loss = IdentificationLoss(physics_loss(with_unknowns(equation, trainable), settings),
                              observations.to(settings.torch_dtype, settings.torch_device), trainable, data_weight)
    label = "identify " + ",".join(unknowns)
    result = train(network, loss, [*network.parameters(), *trainable.parameters()], budget, None,
                   progress=progress, label=label, callbacks=callbacks)
    identified = trainable.values()
    found = equation.with_coefficients(**identified)
    errors = standard_errors(loss, network) if with_standard_errors else "not asked for"
    terms = loss.term_values(network)
    held_out = physics_loss(found, settings, seed_offset=HELD_OUT_SEED_OFFSET).terms(network)
    try:
        evaluator = Evaluator(found, conditions=settings.posing)
    except InputError:  # a reference that cannot serve the identified coefficients: no error to give
        evaluator = None
    metrics = evaluator(network) if evaluator is not None else Metrics(math.nan, math.nan)
    return IdentifyRun(
        found, {name: equation.coefficients[name] for name in unknowns}, identified, errors, terms["data"],
        sum(value for name, value in terms.items() if name != "data"),
        sum(float(value.detach()) for value in held_out.values()), metrics.rel_l2, metrics.max_abs_err,
        result.seconds, result.stopped_because, result.history, network, settings, budget, data_weight,
        observations, evaluator, start_from, trainable.at_bound(),
    )


def identify_checkpoint(run: IdentifyRun, metadata: dict) -> dict:
    """The checkpoint of an identify run: `metadata` (see `solve_job.run_metadata`, made at the
    identified coefficients), the budget, what was found, and the network."""
    return {"kind": "identify", **metadata, "budgets": {"identify": asdict(run.budget)},
            "identified": run.identified, "start": run.start, "network": run.network.state_dict()}
