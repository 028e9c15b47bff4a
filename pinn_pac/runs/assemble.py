"""The solver's parts for one run, built from its settings: networks, losses, evaluators,
threads, and the context a transfer method works in."""

from __future__ import annotations

import torch

from equations import Equation
from equations.errors import InputError

from ..solver.boundary_features import boundary_features
from ..solver.capacity import data_frequencies
from ..solver.evaluate import Evaluator
from ..solver.least_squares import check_least_squares
from ..solver.loss import PhysicsLoss, check_causal
from ..solver.model import MLP
from ..solver.optim import DENSE_METHODS, dense_bytes, dense_fits
from ..solver.posing import Posing
from ..solver.sampling import domain_box, sample_points
from ..solver.train import Budget
from ..transfer.base import TransferContext
from .config import Settings
from .numerics import make_thread_invariant


def build_network(equation: Equation, settings: Settings) -> MLP:
    """A freshly initialised MLP for `equation`, seeded by `settings.seed`, periodic in the
    inputs where the posing of its conditions needs it, with Fourier features where its data
    are multiscale (`settings.fourier`, see `solver.capacity`), with distance features where the
    loss fits boundary data on a region (`settings.boundary_features`, see
    `solver.boundary_features`): drawn on the CPU (the same weights on every device), then moved
    to `settings.device`."""
    dtype = settings.torch_dtype
    posing = Posing(equation, settings.posing)
    periodic = posing.periodic_inputs
    soft = [condition.name for condition in posing.soft_conditions()]
    features = boundary_features(equation, soft) if settings.boundary_features == "auto" else ()
    frequencies = data_frequencies(equation) if settings.fourier == "auto" else ()
    frequencies = tuple(() if p else f for p, f in zip(periodic, frequencies)) if frequencies else ()
    with torch.device("cpu"):
        lower, upper = (torch.tensor(bound, dtype=dtype) for bound in domain_box(equation))
        generator = torch.Generator().manual_seed(settings.seed)
        network = MLP(lower, upper, len(equation.outputs), settings.width, settings.depth, generator, periodic,
                      frequencies, features)
    return network.to(settings.torch_device)


def physics_loss(
    equation: Equation, settings: Settings, n_interior: int | None = None, seed_offset: int = 0,
) -> PhysicsLoss:
    """The physics loss on the run's points; fewer interior points or other points if asked."""
    points = sample_points(
        equation, n_interior or settings.n_interior, settings.n_condition, settings.seed + seed_offset,
        settings.torch_dtype, settings.sampler, settings.torch_device,
    )
    return PhysicsLoss(equation, points, settings.derivative_method, settings.posing,
                       settings.rad_every, settings.rad_candidates, settings.seed + seed_offset,
                       settings.balance, settings.causal)


def evaluator_for(equation: Equation, settings: Settings) -> Evaluator:
    """The reference of `equation` on its standard grid, for networks trained with `settings`."""
    return Evaluator(equation, conditions=settings.posing)


def apply_threads(settings: Settings) -> None:
    """This process's numerics as the settings ask: MKL's strict mode, the thread count."""
    if settings.thread_invariant:
        make_thread_invariant()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)


def transfer_context(source: Equation, network: MLP, targets: list[Equation], settings: Settings,
                     progress: bool, target_points: int | None = None) -> TransferContext:
    """What a transfer method works with in a run made with `settings` (targets on
    `target_points` interior points, if given)."""
    return TransferContext(
        source, network, targets,
        loss_for=lambda equation, **points: physics_loss(equation, settings, **points),
        new_network=lambda equation: build_network(equation, settings),
        n_interior=settings.n_interior, seed=settings.seed, progress=progress, target_points=target_points,
    )


#: Bytes per interior point, hidden neuron and layer that training keeps alive: the fields
#: and their derivatives, forward and backward (a rough count, on the low side).
ACTIVATION_BYTES = 8 * 64


def training_bytes(equation: Equation, settings: Settings, optimizer: str = "ssbroyden") -> int:
    """A low estimate of the memory a run with `settings` needs: the network, the dense
    quasi-Newton matrix where one is used, and the activations over the interior points (and
    over RAD's chunks of candidates)."""
    parameters, width, depth = _parameter_count(equation, settings), settings.width, settings.depth
    dense = dense_bytes(parameters) if optimizer in DENSE_METHODS and dense_fits(parameters) else 0
    points = max(settings.n_interior, min(settings.rad_candidates, 10_000) if settings.rad_every else 0)
    return 8 * parameters * 4 + dense + points * width * depth * ACTIVATION_BYTES


def _parameter_count(equation: Equation, settings: Settings) -> int:
    """The network's weights and biases (two inputs more than the family's: room for a periodic
    pair or features; on the high side)."""
    inputs, outputs, width, depth = len(equation.inputs) + 2, len(equation.outputs), settings.width, settings.depth
    return (inputs + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * outputs


def available_bytes() -> int | None:
    """Memory this machine can give a new run now (MemAvailable), or None where unknown."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_run(equation: Equation, settings: Settings, budget: Budget | None = None) -> None:
    """Refuse, before any work, settings that cannot train `equation` with `budget` (default:
    SSBroyden's): causal weighting without a time input, lm steps where they cannot serve, or
    a network and points that cannot fit this machine's memory."""
    budget = budget or Budget()
    check_causal(settings.causal, equation)
    if budget.uses_lm:
        check_least_squares(equation, settings.causal, settings.n_interior * len(equation.outputs),
                            _parameter_count(equation, settings))
    check_memory(equation, settings, budget.optimizer)


def check_memory(equation: Equation, settings: Settings, optimizer: str = "ssbroyden") -> None:
    """Refuse, before any work, a run whose network and points cannot fit this machine's memory."""
    needed, available = training_bytes(equation, settings, optimizer), available_bytes()
    if available is not None and needed > available:
        raise InputError(f"a {settings.width}x{settings.depth} network on {settings.n_interior:,} points needs at "
                         f"least {needed / 2**30:.1f} GiB; this machine has {available / 2**30:.1f} GiB free: "
                         "use fewer points or a smaller network")
