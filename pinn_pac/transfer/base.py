"""The shape every transfer method has, and what methods share.

A method is one class: its options (a dataclass whose fields give the defaults, checks, help
text and the command-line flags), `prepare` once from the trained source, `adapt` per target,
and its own save and load of what it trained (`prepared_state`/`load_prepared`,
`target_state`/`load_target`). Jobs, benchmarks and the command line talk only to this shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from equations import Equation

from ..solver.evaluate import Evaluator
from ..solver.loss import PhysicsLoss
from ..solver.model import MLP, TanhNetwork
from ..solver.train import Budget, TrainResult


def option(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A field of a method's options: its default, the help its flag shows, its choices."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class NoOptions:
    """The options of a method that has none."""


@dataclass
class TransferContext:
    """What every method may use: the trained source, its family's losses, fresh networks."""

    source: Equation
    #: The trained source network. Methods copy it; none modifies it.
    network: MLP
    targets: list[Equation]
    #: The physics loss of a family member on the run's collocation points; keywords
    #: `n_interior` (fewer points) and `seed_offset` (other points) change them.
    loss_for: Callable[..., PhysicsLoss]
    n_interior: int
    #: A freshly initialised network for a family member, seeded like the source's.
    new_network: Callable[[Equation], MLP]
    #: The run's seed: what a method draws at random (LoRA's down-projections) is seeded by it.
    seed: int = 0
    progress: bool = False
    #: Interior points each target trains on (None: `n_interior`).
    target_points: int | None = None


@dataclass
class Adapted:
    """One target's model, and what it cost."""

    network: TanhNetwork
    #: What the method gives back for the source once this target is trained.
    source_view: TanhNetwork
    trainable: int
    #: Parameters stored for this target on top of what all targets share.
    stored: int
    result: TrainResult


def count(parameters) -> int:
    return sum(p.numel() for p in parameters)


def merged_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The state of a plain MLP computing what `network` does, built on the CPU for a file."""
    with torch.device("cpu"):
        return MLP.merged(network).state_dict()


class TransferMethod(ABC):
    """Base of the transfer methods: `prepare` once, then `adapt` per target.

    `Method(**options)` checks its options before any work; `options` holds them.
    """

    name: ClassVar[str]
    #: True where per-target training leaves the source model exactly as it was.
    keeps_source: ClassVar[bool]
    #: The dataclass of this method's options.
    Options: ClassVar[type] = NoOptions
    #: True where what it trains are entries of a network's layers, one member's physics loss
    #: at a time: what optimizer "lm" (`solver.levenberg`) needs.
    trains_layer_entries: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        self.options = self.Options(**options)

    @classmethod
    def from_record(cls, options: dict[str, Any]) -> "TransferMethod":
        """The method a run recorded with `options`: an option the record lacks (made before
        the option existed) means what the run did then (`Options.RECORDED_BEFORE`), not
        today's default."""
        return cls(**{**getattr(cls.Options, "RECORDED_BEFORE", {}), **options})

    @classmethod
    def option_fields(cls) -> list:
        """The fields of this method's options (name, type, default, help, choices)."""
        return [f for f in fields(cls.Options) if f.default is not MISSING]

    def options_dict(self) -> dict[str, Any]:
        return asdict(self.options)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options_dict().items())
        return f"{type(self).__name__}({options})"
    def check(self, source: Equation, targets: list[Equation]) -> None:
        """Refuse, before any training, a source and targets this method cannot handle."""

    def check_prepared(self, prepared: dict[str, Any], source: Equation, targets: list[Equation]) -> None:
        """Refuse, before any training, targets that this method's stored preparation (its
        `prepared_state` as a run keeps it) cannot serve: every preparation serves any target."""

    #: Keys of a target's stored state that the run's store keeps (to train further targets
    #: from) but its checkpoint leaves out.
    store_only: ClassVar[tuple[str, ...]] = ()

    @property
    def targets_independent(self) -> bool:
        """True where a target's training depends only on the prepared method and the target
        (not on other targets trained before it), so targets may train in any process."""
        return True

    def training_order(self, targets: list[Equation]) -> list[Equation]:
        """The order in which `targets` (those not yet trained) are to train: as given."""
        return list(targets)

    def prepare(self, context: TransferContext, budget: Budget, evaluator: Evaluator | None = None,
                **train_options) -> TrainResult | None:
        """Set up from the trained source; returns the training it did, if any."""
        self.context = context
        return None

    def source_model(self) -> TanhNetwork:
        """The model this method uses for the source once prepared."""
        return self.context.network

    def source_count(self) -> int:
        """Parameters the shared source model trained."""
        return count(self.source_model().parameters())

    @abstractmethod
    def adapt(self, target: Equation, budget: Budget, evaluator: Evaluator | None = None,
              loss: PhysicsLoss | None = None, **train_options) -> Adapted:
        """Train a model for `target` (on `loss`, by default the run's points for it)."""

    def _loss(self, target: Equation, loss: PhysicsLoss | None) -> PhysicsLoss:
        return loss if loss is not None else self.context.loss_for(target)

    # ---- what a run directory stores (see `store`) -----------------------------------

    def prepared_state(self) -> dict[str, Any]:
        """What targets share once prepared, for a checkpoint: by default the source model
        merged into a plain network."""
        return {"network": merged_state(self.source_model()), "source_trainable": self.source_count()}

    def load_prepared(self, context: TransferContext, state: dict[str, Any]) -> None:
        """Take up a stored `prepared_state` in place of running `prepare`."""
        self.context = context

    def target_state(self, key: str, adapted: Adapted) -> dict[str, Any]:
        """What a target's model needs stored: by default its network merged into a plain one."""
        return {"trainable": adapted.trainable, "network": merged_state(adapted.network)}

    def stored_trainable(self, state: dict[str, Any]) -> int:
        """The parameters a stored target's training trained."""
        return state["trainable"]

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        """A stored target's model, taken up as if this method had just trained it: by default
        a network made as the source's was (the same input map: where a coefficient moves a
        hole, the features keep the source's), holding its merged weights."""
        network = self._stored_network(target)
        network.load_state_dict(state["network"], strict=True)
        return network

    def _stored_network(self, target: Equation) -> TanhNetwork:
        """A network of the shape a stored target's weights were trained in: the source's."""
        return self.context.new_network(self.context.source)
