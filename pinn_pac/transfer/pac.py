"""`pac`: PAC-Net (Myung et al., ICML 2022): prune the source, allocate (retrain the kept
weights on the source), then calibrate only the freed weights per target (see `pac_network`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch

from equations import Equation, coefficient_key
from equations.errors import InputError

from .base import Adapted, TransferContext, TransferMethod, option
from .nearest import WARM_START_HELP, WARM_STARTS, NearestStart, check_warm_start
from .pac_network import PRUNE_SCOPES, AdaptedNetwork, PACNetwork, allocate, prune
from .pac_source import calibration_start
from ..solver.least_squares import serves
from ..solver.loss import PhysicsLoss
from ..solver.model import MLP, TanhNetwork
from ..solver.train import Budget, TrainResult


#: What prune ranks weights by: magnitude |w|, or sensitivity |w| / rms of the targets' loss gradients.
FREE_BY = ("magnitude", "sensitivity")
#: Targets whose loss gradients the sensitivity is measured on (spread over the run's targets).
SENSITIVITY_TARGETS = 3


@dataclass(frozen=True)
class PACOptions:
    ratio: float = option(0.3, "pac: fraction of weights freed")
    penalty: float = option(0.0, "pac: lambda of the L2 pull of each target's weights towards the source's")
    scope: str = option("output", "pac: one prune threshold for all layers, one per layer, the global one "
                        "with the output layer freeing its own share, or whole neurons", PRUNE_SCOPES)
    free_by: str = option("magnitude", "pac: free the smallest weights, or the smallest for how hard the "
                          "targets' losses pull on them", FREE_BY)
    own_biases: bool = option(False, "pac: each target calibrates its own biases too")
    warm_start: str = option("auto", WARM_START_HELP, WARM_STARTS)
    with_allocate: bool = option(True, "pac: retrain the kept weights on the source after pruning")
    lm_finish: int = option(400, "pac: Levenberg-Marquardt steps on the freed weights after each target's "
                            "quasi-Newton calibration, where the family's loss allows them (pure derivatives, "
                            "no causal weighting); 0: none")
    member_steps: int = option(30, "pac: Levenberg-Marquardt steps that calibrate a target whose warm start "
                               "lies within the family's reach (no farther from it than the farthest calibrated "
                               "member lies from the source), in place of the calibration budget and lm finish, "
                               "where the family's loss allows them; 0: always that budget")

    #: What a run recorded before an option existed meant by it: no lm finish, and the
    #: calibration budget for a target started from a member.
    RECORDED_BEFORE: ClassVar[dict[str, Any]] = {"lm_finish": 0, "member_steps": 0}

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio < 1.0:
            raise InputError(f"prune ratio must be in (0, 1), got {self.ratio}")
        if self.scope not in PRUNE_SCOPES:
            raise InputError(f"unknown prune scope {self.scope!r}; use one of {', '.join(PRUNE_SCOPES)}")
        if not self.penalty >= 0:
            raise InputError(f"the calibration penalty must be >= 0, got {self.penalty}")
        if self.free_by not in FREE_BY:
            raise InputError(f"unknown free-by {self.free_by!r}; use one of {', '.join(FREE_BY)}")
        if self.scope == "neurons" and self.free_by != "magnitude":
            raise InputError("--free-by sensitivity ranks single weights; --scope neurons frees whole neurons "
                             "by their outgoing weights: choose one")
        check_warm_start(self.warm_start)
        if self.lm_finish < 0:
            raise InputError(f"lm finish steps must be >= 0, got {self.lm_finish}")
        if self.member_steps < 0:
            raise InputError(f"member steps must be >= 0, got {self.member_steps}")


class PAC(NearestStart, TransferMethod):
    """PAC-Net: prune the source, allocate (retrain the kept weights), calibrate freed weights.

    Its levers (measured in benchmarks/pac_levers.py): which weights are freed (`scope`,
    `free_by`), whether each target has its own biases (`own_biases`), the penalty, Allocate,
    and lm steps after each calibration (`lm_finish`, on by default: with Allocate as long as
    the source's training, they put PAC-Net below LoRA on 13 of the transfer benchmark's 16 pairs).
    A warm start ("auto", the default, or "nearest") starts each target's adapter from that of
    the nearest target calibrated before it, where that one is nearer than the source (the
    start adapter); targets are then taken nearest first, each the one closest to the source or
    a member already calibrated, so that each starts from a neighbour. Distances are measured in
    coefficients relative to the source's (see `nearest`). A target whose start lies within the
    family's reach (`within_reach`) is calibrated by `member_steps` lm steps alone.
    """

    name, keeps_source = "pac", True
    Options = PACOptions

    def prepare(self, context, budget, evaluator=None, **train_options) -> TrainResult | None:
        super().prepare(context, budget, evaluator)
        network = copy.deepcopy(context.network).requires_grad_(True)  # Allocate trains it
        scores = sensitivity_scores(network, context) if self.options.free_by == "sensitivity" else None
        kept = prune(network, self.options.ratio, self.options.scope, scores)
        start = calibration_start(network, kept) if self.options.scope == "neurons" else None
        skipped = not self.options.with_allocate or (budget.adam_steps == 0 and budget.iterations == 0)
        source_loss = context.loss_for(context.source)
        # Without Allocate, allocate's zero-step call still zeroes the freed weights.
        result = allocate(network, kept, source_loss,
                          Budget(adam_steps=0, iterations=0) if skipped else budget,
                          evaluator, **train_options)
        self.pac = PACNetwork(network, kept, start, self.options.own_biases)
        self.calibrated: list[Equation] = []
        # One loss and gradient through an adapted network on as many points as a target
        # has, so that one-off work on the calibration path (compiling it, with compiled
        # derivatives, for that point count) is paid here, once per family, and not inside
        # the first target's calibration time.
        adapter = self.pac.start_adapter()
        context.loss_for(context.source, n_interior=context.target_points)(AdaptedNetwork(self.pac, adapter)).backward()
        return result

    def source_model(self) -> TanhNetwork:
        return self.pac.source_view()

    def source_count(self) -> int:
        return self.pac.source_count  # the kept weights and the biases; freed weights are the targets'

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        key = coefficient_key(target)
        loss = self._loss(target, loss)
        budget = self._from_member(budget, loss) if self.within_reach(target) else self._with_finish(budget, loss)
        result = self.pac.calibrate(key, loss, budget, self.options.penalty, evaluator, start=self._start(target),
                                    **train_options)
        self.calibrated.append(target)
        freed = self.pac.freed_count
        return Adapted(self.pac.target_view(key), self.pac.source_view(), freed, freed, result)

    def prepared_state(self) -> dict[str, Any]:
        return {"network": self.pac.source.state_dict(), "masks": list(self.pac.kept), "start": list(self.pac.start)}

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        network = copy.deepcopy(context.network)
        network.load_state_dict(state["network"], strict=True)
        self.pac = PACNetwork.from_saved(network, state["masks"], state.get("start"), self.options.own_biases)
        self.calibrated = []

    def target_state(self, key: str, adapted: Adapted) -> dict[str, Any]:
        return {"adapter": self.pac.target_adapter(key)}

    def stored_trainable(self, state: dict[str, Any]) -> int:
        return self.pac.freed_count

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        key = coefficient_key(target)
        self.pac.set_adapter(key, state["adapter"])
        self.calibrated.append(target)
        return self.pac.target_view(key)

    def _with_finish(self, budget: Budget, loss: PhysicsLoss) -> Budget:
        """`budget` with PAC-Net's own lm steps after its quasi-Newton iterations (on top of any
        the run asks of every method), where lm steps can train the freed weights on the
        target's loss; a calibration by lm takes none."""
        steps = self.options.lm_finish
        if steps and budget.iterations and budget.optimizer != "lm" and self._lm_serves(loss):
            return replace(budget, finish=budget.finish + steps)
        return budget

    def _from_member(self, budget: Budget, loss: PhysicsLoss) -> Budget:
        """The budget of a target within the family's reach (`within_reach`): `member_steps` lm
        steps (the run's stops kept), where lm steps can train the freed weights on the target's
        loss; else the calibration budget. A near member's adapter lies so near the target's that
        Gauss-Newton steps converge in tens of steps (benchmarks/member_cost.py)."""
        steps = self.options.member_steps
        if steps and self._lm_serves(loss):
            return replace(budget, adam_steps=0, iterations=steps, optimizer="lm", finish=0)
        return self._with_finish(budget, loss)

    def _lm_serves(self, loss: PhysicsLoss) -> bool:
        return serves(loss, AdaptedNetwork(self.pac, self.pac.start_adapter()))

    def _start(self, target: Equation) -> str | None:
        """The calibrated target to start from, or None for the start adapter (the source)."""
        nearest = self.nearest_start(target)
        return None if nearest is None else coefficient_key(nearest)


def sensitivity_scores(network: MLP, context: TransferContext) -> list[torch.Tensor]:
    """Per weight, |w| / rms over a few targets of d(target loss)/dw at the trained source:
    small where a weight matters little to the source and the targets' residuals pull on it
    hard, so that `prune` frees it."""
    targets = context.targets
    if not targets:
        raise InputError("free-by sensitivity needs the run's targets to measure it on")
    count = min(SENSITIVITY_TARGETS, len(targets))
    picked = sorted({round(k * (len(targets) - 1) / max(count - 1, 1)) for k in range(count)})
    spread = [targets[k] for k in picked]
    squares = [torch.zeros_like(w) for w in network.weights]
    for target in spread:
        gradients = torch.autograd.grad(context.loss_for(target)(network), list(network.weights))
        for total, gradient in zip(squares, gradients):
            total.add_(gradient.square())
    rms = [(total / len(spread)).sqrt() for total in squares]
    tiny = torch.finfo(rms[0].dtype).tiny
    return [w.detach().abs() / (g + tiny) for w, g in zip(network.weights, rms)]
