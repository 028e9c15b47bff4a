"""One target's training, in this process or another: its model, record and store piece."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from equations import Equation, EquationSource, coefficient_key

from ..solver.callbacks import Callback
from ..solver.evaluate import Evaluator
from ..solver.loss import PhysicsLoss
from ..solver.model import TanhNetwork
from ..solver.train import Budget, TrainingState
from ..transfer import METHODS
from ..transfer.base import TransferMethod
from .assemble import apply_threads, build_network, evaluator_for, physics_loss, transfer_context
from .config import Settings
from .records import Record


def adapt_target(method: TransferMethod, target: Equation, budget: Budget, evaluators: dict[str, Evaluator],
                 loss: PhysicsLoss, source_key: str, options: dict[str, Any]) -> tuple[TanhNetwork, dict[str, Any]]:
    """Train `target` with `method`: its network, and its piece for a store (the method's
    state for it, its record and history)."""
    target_key = coefficient_key(target)
    evaluator = evaluators[target_key]
    model = method.adapt(target, budget, evaluator, loss, label=f"{method.name} {target_key}", **options)
    metrics = evaluator(model.network)
    record = Record(
        target.name, target.coefficients, "target", metrics.rel_l2, metrics.max_abs_err,
        model.trainable, model.result.seconds, model.result.stopped_because, method.name,
        stored_params=model.stored, start_rel_l2=model.result.history.rel_l2[0],
        source_rel_l2_after=evaluators[source_key](model.source_view).rel_l2,
        optimizer=model.result.history.optimizer or None, reference=evaluator.reference is not None,
    )
    return model.network, {"coefficients": target.coefficients, **method.target_state(target_key, model),
                           "record": record.as_dict(), "history": model.result.history.as_dict()}


@dataclass
class TargetTask:
    """One target's training, with all a fresh process needs to do it alone."""

    #: The family, its file's text carried along (a worker on another machine needs no copy).
    family: EquationSource
    source: dict[str, float]
    #: Every target of the run (a method may depend on the set, as parametric's range does).
    targets: list[dict[str, float]]
    target: dict[str, float]
    method: str
    method_options: dict[str, Any]
    settings: Settings
    budget: Budget
    source_state: dict[str, torch.Tensor]
    #: The method's prepared state, as its store piece holds it.
    prepared: dict[str, Any]
    target_points: int | None
    #: Where the target keeps its training state as it goes (the run's store, where the
    #: worker can write it): a worker stopped inside its phase goes on from there.
    state: TrainingState | None = None
    #: Told of every record as it is made (the run's log, where the worker can write it).
    callbacks: list[Callback] = field(default_factory=list)


def train_target(task: TargetTask) -> dict[str, Any]:
    """Train one target in this process: its piece for the store (see `adapt_target`)."""
    settings = task.settings
    apply_threads(settings)
    source = task.family.load()(**task.source)
    target = source.with_coefficients(**task.target)
    network = build_network(source, settings)
    network.load_state_dict(task.source_state, strict=True)
    context = transfer_context(source, network, [source.with_coefficients(**t) for t in task.targets], settings,
                               False, task.target_points)
    method = METHODS[task.method](**task.method_options)
    method.load_prepared(context, task.prepared)
    evaluators = {coefficient_key(e): evaluator_for(e, settings) for e in (source, target)}
    loss = physics_loss(target, settings, n_interior=task.target_points)
    options = {"progress": False, "state": task.state, "callbacks": task.callbacks}
    return adapt_target(method, target, task.budget, evaluators, loss, coefficient_key(source), options)[1]
