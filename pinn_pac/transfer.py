"""Ways to move a trained source PINN to a target member of its family, behind one interface.

Every method is given the trained source once (`prepare`, which may train: PAC-Net's Allocate,
the parametric network's range training) and then one target at a time (`adapt`), and says
what it trained for that target, how much it must store per target, and what it gives back
for the source afterwards.

* `scratch`    a fresh network trained on the target alone.
* `finetune`   every weight, warm-started from the source.
* `l2sp`       `finetune` plus alpha * ||theta - theta_source||^2.
* `freeze`     the last layer only; the rest of the source stays as it is.
* `lora`       rank-r updates B A added to every weight matrix; the source stays as it is.
* `parametric` the coefficient as an extra input, trained over the range the source and the
               targets span, then fine-tuned on each target.
* `pac`        PAC-Net: Prune, Allocate, then calibrate only the freed weights.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from equations import Equation

from .evaluate import Evaluator
from .model import MLP, Layers, TanhNetwork
from .pac import AdaptedNetwork, PACNetwork, allocate, prune
from .train import Budget, PhysicsLoss, TrainResult, train


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
    progress: bool = False


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


def coefficient_key(equation: Equation) -> str:
    """The one key of a coefficient set, in runs, checkpoints and adapters: "nu=0.0063662"."""
    return ",".join(f"{name}={value:.6g}" for name, value in equation.coefficients.items())


def count(parameters) -> int:
    return sum(p.numel() for p in parameters)


def merged_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The state of a plain MLP computing what `network` does, built on the CPU for a file."""
    with torch.device("cpu"):
        return MLP.merged(network).state_dict()


class TransferMethod(ABC):
    """Base of the transfer methods: `prepare` once, then `adapt` per target."""

    name: ClassVar[str]
    #: True where per-target training leaves the source model exactly as it was.
    keeps_source: ClassVar[bool]

    def check(self, source: Equation, targets: list[Equation]) -> None:
        """Refuse, before any training, a source and targets this method cannot handle."""

    @property
    def targets_independent(self) -> bool:
        """True where a target's training depends only on the prepared method and the target
        (not on other targets trained before it), so targets may train in any process."""
        return True

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

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        """A stored target's model, taken up as if this method had just trained it."""
        network = self.context.new_network(target)
        network.load_state_dict(state["network"], strict=True)
        return network


class Scratch(TransferMethod):
    name, keeps_source = "scratch", False

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = self.context.new_network(target)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       **train_options)
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)


class FineTune(TransferMethod):
    name, keeps_source = "finetune", False

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self.context.network).requires_grad_(True)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       penalty=self._penalty(network), **train_options)
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor] | None:
        return None


class L2SP(FineTune):
    """Fine-tuning pulled towards the source weights: alpha * ||theta - theta_source||^2."""

    name = "l2sp"

    def __init__(self, alpha: float = 1e-4) -> None:
        if not alpha >= 0:
            raise ValueError(f"the l2sp alpha must be >= 0, got {alpha}")
        self.alpha = alpha

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor]:
        start = [p.detach().clone() for p in self.context.network.parameters()]
        parameters = list(network.parameters())

        def penalty() -> torch.Tensor:
            return self.alpha * sum((p - p0).square().sum() for p, p0 in zip(parameters, start))

        return penalty


class Freeze(TransferMethod):
    """Train the output layer only; the hidden layers are the source's, frozen."""

    name, keeps_source = "freeze", True

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self.context.network).requires_grad_(False)
        head = [network.weights[-1], network.biases[-1]]
        for parameter in head:
            parameter.requires_grad_(True)
        result = train(network, self._loss(target, loss), head, budget, evaluator, **train_options)
        return Adapted(network, self.context.network, count(head), count(head), result)


class LoRANetwork(TanhNetwork):
    """The frozen source with a rank-r update B A added to each weight matrix."""

    def __init__(self, source: MLP, rank: int, generator: torch.Generator) -> None:
        super().__init__(source.input_center, source.input_scale, source.periodic)
        self.source = source
        self.down = nn.ParameterList()  # A: r x fan_in, small random
        self.up = nn.ParameterList()  # B: fan_out x r, zero, so training starts at the source
        for weight in source.weights:
            fan_out, fan_in = weight.shape
            r = min(rank, fan_in, fan_out)
            # Drawn on the CPU, so alike on every device.
            down = torch.randn(r, fan_in, generator=generator, dtype=weight.dtype, device="cpu") / fan_in ** 0.5
            self.down.append(nn.Parameter(down.to(weight.device)))
            self.up.append(nn.Parameter(weight.new_zeros(fan_out, r)))

    def affine_layers(self) -> Layers:
        return [
            (w.detach() + up @ down, b.detach())
            for w, b, up, down in zip(self.source.weights, self.source.biases, self.up, self.down)
        ]


class LoRA(TransferMethod):
    name, keeps_source = "lora", True

    def __init__(self, rank: int = 4, seed: int = 0) -> None:
        if rank < 1:
            raise ValueError(f"the LoRA rank must be >= 1, got {rank}")
        self.rank, self.seed = rank, seed

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        generator = torch.Generator().manual_seed(self.seed)
        network = LoRANetwork(self.context.network, self.rank, generator)
        adapter = [*network.up, *network.down]
        result = train(network, self._loss(target, loss), adapter, budget, evaluator, **train_options)
        return Adapted(network, self.context.network, count(adapter), count(adapter), result)


class AtCoefficient(TanhNetwork):
    """A parametric network (inputs, then the coefficient) at one coefficient value: the
    constant coefficient input is folded into the first layer's bias."""

    def __init__(self, parametric: MLP, value: float) -> None:
        super().__init__(parametric.input_center[:-1], parametric.input_scale[:-1], parametric.periodic[:-1])
        self.parametric = parametric
        self.scaled_value = float((value - parametric.input_center[-1]) * parametric.input_scale[-1])

    def affine_layers(self) -> Layers:
        (weight, bias), *rest = self.parametric.affine_layers()
        return [(weight[:, :-1], bias + weight[:, -1] * self.scaled_value), *rest]


@dataclass
class CoefficientRange:
    """The one coefficient that varies across a family's members, and its span."""

    name: str
    low: float
    high: float

    @classmethod
    def spanning(cls, members: list[Equation]) -> "CoefficientRange":
        names = members[0].coefficients
        varying = [n for n in names if len({m.coefficients[n] for m in members}) > 1]
        if len(varying) != 1:
            raise ValueError(
                "parametric transfer needs exactly one coefficient to vary across the source and "
                f"targets; here {len(varying)} do ({', '.join(varying) or 'none'})"
            )
        values = [m.coefficients[varying[0]] for m in members]
        return cls(varying[0], min(values), max(values))

    def members(self, source: Equation, count: int) -> list[Equation]:
        step = (self.high - self.low) / (count - 1)
        return [source.with_coefficients(**{self.name: self.low + k * step}) for k in range(count)]


class Parametric(TransferMethod):
    """One network over (inputs, coefficient), warm-started from the source with zero weights
    on the new input, trained on `members` evenly spaced coefficients spanning the source and
    the targets (each on 1/members of the points), then fine-tuned per target if `finetune`."""

    name, keeps_source = "parametric", False

    def __init__(self, members: int = 5, finetune: bool = True) -> None:
        if members < 2:
            raise ValueError(f"parametric training needs >= 2 members, got {members}")
        self.members, self.finetune = members, finetune

    def check(self, source: Equation, targets: list[Equation]) -> None:
        CoefficientRange.spanning([source, *targets])

    def prepare(self, context, budget, evaluator=None, **train_options) -> TrainResult:
        super().prepare(context, budget, evaluator)
        self.range = CoefficientRange.spanning([context.source, *context.targets])
        self.parametric = self._widen(context.network)
        members = self.range.members(context.source, self.members)
        n_points = max(1, context.n_interior // self.members)
        losses = [
            (context.loss_for(member, n_interior=n_points, seed_offset=k), self._at(self.parametric, member))
            for k, member in enumerate(members)
        ]

        def range_loss(_: nn.Module) -> torch.Tensor:
            return sum(loss(network) for loss, network in losses) / len(losses)

        return train(self.source_model(), range_loss, self.parametric.parameters(), budget, evaluator,
                     **train_options)

    def _widen(self, source: MLP) -> MLP:
        """The source network with one more input (the coefficient) whose weights are zero,
        built on the CPU and moved to the source's device."""
        center, dtype = source.input_center.cpu(), source.input_center.dtype
        half = 1.0 / source.input_scale.cpu()
        with torch.device("cpu"):
            lower = torch.cat([center - half, torch.tensor([self.range.low], dtype=dtype)])
            upper = torch.cat([center + half, torch.tensor([self.range.high], dtype=dtype)])
            widened = MLP(lower, upper, source.weights[-1].shape[0], source.width, source.depth,
                          periodic=(*source.periodic, False))
        with torch.no_grad():
            for weight, bias, new_weight, new_bias in zip(source.weights, source.biases,
                                                          widened.weights, widened.biases):
                new_weight.zero_()
                new_weight[:, :weight.shape[1]] = weight
                new_bias.copy_(bias)
        return widened.to(source.input_center.device)

    def prepared_state(self) -> dict[str, Any]:
        return {**super().prepared_state(), "parametric": self.parametric.state_dict(),
                "range": [self.range.name, self.range.low, self.range.high]}

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        self.range = CoefficientRange.spanning([context.source, *context.targets])
        stored = CoefficientRange(*state["range"])
        if stored != self.range:
            raise ValueError(f"parametric was trained over {stored.name} in [{stored.low:.6g}, {stored.high:.6g}]; "
                             f"these targets span [{self.range.low:.6g}, {self.range.high:.6g}]: start a new run")
        self.parametric = self._widen(context.network)
        self.parametric.load_state_dict(state["parametric"], strict=True)

    def _at(self, parametric: MLP, equation: Equation) -> AtCoefficient:
        return AtCoefficient(parametric, equation.coefficients[self.range.name])

    def source_model(self) -> TanhNetwork:
        return self._at(self.parametric, self.context.source)

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        parametric = copy.deepcopy(self.parametric)
        network = self._at(parametric, target)
        parameters = list(parametric.parameters()) if self.finetune else []
        result = train(network, self._loss(target, loss), parameters, budget, evaluator, **train_options)
        size = count(parameters)
        return Adapted(network, self._at(parametric, self.context.source), size, size, result)


class PAC(TransferMethod):
    """PAC-Net: prune the source, allocate (retrain the kept weights), calibrate freed weights.

    `warm_start="nearest"` starts each target's freed weights from those of the nearest
    target calibrated before it, where that one is nearer than the source (whose freed
    weights are 0); targets are taken in the order given. Distances are measured in
    coefficients relative to the source's (see `coefficient_distance`).
    """

    name, keeps_source = "pac", True
    WARM_STARTS = ("zero", "nearest")

    def __init__(self, ratio: float = 0.3, penalty: float = 0.0, scope: str = "global",
                 with_allocate: bool = True, warm_start: str = "zero") -> None:
        if not penalty >= 0:
            raise ValueError(f"the calibration penalty must be >= 0, got {penalty}")
        if warm_start not in self.WARM_STARTS:
            raise ValueError(f"unknown warm start {warm_start!r}; use one of {', '.join(self.WARM_STARTS)}")
        self.ratio, self.penalty, self.scope, self.with_allocate = ratio, penalty, scope, with_allocate
        self.warm_start = warm_start

    def prepare(self, context, budget, evaluator=None, **train_options) -> TrainResult | None:
        super().prepare(context, budget, evaluator)
        network = copy.deepcopy(context.network).requires_grad_(True)  # Allocate trains it
        kept = prune(network, self.ratio, self.scope)
        skipped = not self.with_allocate or (budget.adam_steps == 0 and budget.iterations == 0)
        source_loss = context.loss_for(context.source)
        # Without Allocate, allocate's zero-step call still zeroes the freed weights.
        result = allocate(network, kept, source_loss,
                          Budget(adam_steps=0, iterations=0) if skipped else budget,
                          evaluator, **train_options)
        self.pac = PACNetwork(network, kept)
        self.calibrated: list[Equation] = []
        # One loss and gradient through an adapted network, so that one-off work on the
        # calibration path (compiling it, with compiled derivatives) is paid here, once per
        # family, and not inside the first target's calibration time.
        adapter = self.pac.zero_adapter()
        source_loss(AdaptedNetwork(self.pac, adapter)).backward()
        return result

    @property
    def targets_independent(self) -> bool:
        return self.warm_start == "zero"

    def source_model(self) -> TanhNetwork:
        return self.pac.source_view()

    def source_count(self) -> int:
        return self.pac.source_count  # the kept weights and the biases; freed weights are the targets'

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        key = coefficient_key(target)
        result = self.pac.calibrate(key, self._loss(target, loss), budget, self.penalty, evaluator,
                                    start=self._start(target), **train_options)
        self.calibrated.append(target)
        freed = self.pac.freed_count
        return Adapted(self.pac.target_view(key), self.pac.source_view(), freed, freed, result)

    def prepared_state(self) -> dict[str, Any]:
        return {"network": self.pac.source.state_dict(), "masks": list(self.pac.kept)}

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        network = copy.deepcopy(context.network)
        network.load_state_dict(state["network"], strict=True)
        self.pac = PACNetwork.from_saved(network, state["masks"])
        self.calibrated = []

    def target_state(self, key: str, adapted: Adapted) -> dict[str, Any]:
        return {"adapter": self.pac.target_adapter(key)}

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        key = coefficient_key(target)
        self.pac.set_adapter(key, state["adapter"])
        self.calibrated.append(target)
        return self.pac.target_view(key)

    def _start(self, target: Equation) -> str | None:
        """The calibrated target to start from, or None for the source's zeros (also on a tie)."""
        if self.warm_start == "zero":
            return None
        source = self.context.source
        nearest = min([source, *self.calibrated], key=lambda known: coefficient_distance(target, known, source))
        return None if nearest is source else coefficient_key(nearest)


def coefficient_distance(a: Equation, b: Equation, reference: Equation) -> float:
    """Euclidean distance between two family members' coefficients, each coefficient
    divided by the reference's magnitude of it (by 1 where that is 0)."""
    return math.sqrt(sum(
        ((a.coefficients[name] - b.coefficients[name]) / (abs(value) or 1.0)) ** 2
        for name, value in reference.coefficients.items()
    ))


METHODS: dict[str, type[TransferMethod]] = {
    method.name: method for method in (Scratch, FineTune, L2SP, Freeze, LoRA, Parametric, PAC)
}


def make_method(name: str, **options) -> TransferMethod:
    """The transfer method called `name`, with its options (unknown names are refused)."""
    if name not in METHODS:
        raise ValueError(f"unknown transfer method {name!r}; use one of {', '.join(METHODS)} or all")
    return METHODS[name](**options)
