"""A run's configuration in library terms: the network, points and numerics (`Settings`) and
the budget of each transfer phase (`TransferSettings`). Method options live on the methods."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from equations.errors import InputError

from ..solver.derivatives import DERIVATIVE_METHODS
from ..solver.loss import check_causal, check_rad
from ..solver.posing import CONDITION_MODES
from ..solver.train import Budget

DTYPES = {"float64": torch.float64, "float32": torch.float32}
DEVICES = ("cpu", "cuda", "auto")
FOURIER_MODES = ("auto", "off")


def check_device(name: str) -> None:
    """Refuse a device name other than "cpu", "cuda" or "auto"."""
    if name not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")


def resolve_device(name: str) -> torch.device:
    """The device "cpu", "cuda" or "auto" (cuda where torch sees a GPU, else cpu) names;
    "cuda" without a GPU is refused."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda: torch sees no CUDA GPU on this machine; use cpu or auto")
    return torch.device(name)


@dataclass
class Settings:
    """Network, points and numerics shared by every model in a run."""

    width: int = 20
    depth: int = 4
    dtype: str = "float64"
    seed: int = 0
    n_interior: int = 8000
    n_condition: int = 256
    sampler: str = "sobol"
    derivative_method: str = "autograd"
    threads: int | None = None
    #: "exact": initial/boundary values built into the solution where the family declares
    #: how (see `posing`); "soft": every condition is a loss term.
    conditions: str = "exact"
    #: Redraw the interior points by RAD every this many quasi-Newton iterations (0: fixed points).
    rad_every: int = 500
    rad_candidates: int = 50_000
    #: "auto": Fourier features on inputs along which the conditions' data are multiscale
    #: (see `solver.capacity`); "off": none.
    fourier: str = "auto"
    #: "auto": one more network input per boundary condition the loss fits on a region, the
    #: distance to its pieces (see `solver.boundary_features`); "off": none.
    boundary_features: str = "auto"
    #: "auto": where a region's Neumann or Robin data disagree with the initial data, the built
    #: form carries the heat that flows in at once (see `solver.start_layer`); "off": never.
    start_layer: str = "auto"
    #: Weight the soft loss terms by their gradient norms during Adam (see `weighting`).
    balance: bool = False
    #: Causal weighting of the residual in time with this epsilon (0: off; see `weighting`).
    causal: float = 0.0
    #: "cpu", "cuda" or "auto" (cuda where available): where every network and tensor lives
    #: during training and evaluation; references, figures and files stay on the CPU. Checked
    #: against this machine when a run starts (`torch_device`), not when settings are made, so
    #: settings made for a GPU machine can be written down on any.
    device: str = "cpu"
    #: The same bits whatever the number of threads or worker processes (see `numerics`;
    #: with the eager derivative paths: compiled kernels still split sums by thread count).
    thread_invariant: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.width < 1 or self.depth < 1:
            raise InputError(f"width and depth must be positive, got width {self.width}, depth {self.depth}")
        if self.n_interior < 1 or self.n_condition < 1:
            raise InputError(f"points must be >= 1, got {self.n_interior} interior, {self.n_condition} per condition")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be >= 1, got {self.threads}")
        if self.conditions not in CONDITION_MODES:
            raise InputError(f"conditions must be one of {', '.join(CONDITION_MODES)}, got {self.conditions!r}")
        if self.fourier not in FOURIER_MODES:
            raise InputError(f"fourier must be one of {', '.join(FOURIER_MODES)}, got {self.fourier!r}")
        if self.boundary_features not in FOURIER_MODES:
            raise InputError(f"boundary features must be one of {', '.join(FOURIER_MODES)}, "
                             f"got {self.boundary_features!r}")
        if self.start_layer not in FOURIER_MODES:
            raise InputError(f"start layer must be one of {', '.join(FOURIER_MODES)}, got {self.start_layer!r}")
        check_rad(self.rad_every, self.rad_candidates, self.n_interior)
        check_causal(self.causal)
        if self.derivative_method not in DERIVATIVE_METHODS:
            raise InputError(f"derivative method must be one of {', '.join(DERIVATIVE_METHODS)}, "
                             f"got {self.derivative_method!r}")
        check_device(self.device)

    @classmethod
    def from_record(cls, stored: dict) -> "Settings":
        """Settings as a run recorded them. A record made before forms were built from a
        family's conditions (it has no "fourier") meant by "exact" a form the family gives
        only, and had no Fourier features: it is read so, and its networks predict as before.
        One made before boundary features had none, and one made before start layers none."""
        if "fourier" not in stored:
            stored = {**stored, "fourier": "off",
                      "conditions": "given" if stored.get("conditions", "exact") == "exact" else stored["conditions"]}
        for added in ("boundary_features", "start_layer"):
            if added not in stored:
                stored = {**stored, added: "off"}
        return cls(**stored)

    @property
    def posing(self) -> str:
        """How networks' outputs become solutions (`solver.posing.Posing`'s mode): the
        conditions, with "exact-plain" for built forms without a start layer."""
        return "exact-plain" if self.conditions == "exact" and self.start_layer == "off" else self.conditions

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)


@dataclass
class TransferSettings:
    """The budget of each transfer phase: `source` trains the source network; `allocate` is
    a method's one-off preparation (PAC-Net's Allocate, the parametric network's range
    training); `calibrate` is every method's training per target.

    Measured on Burgers (benchmarks/defaults.py): about 4 minutes on 2 cores for a source and
    two targets. Budgets count steps, not seconds, so that runs repeat bit for bit.
    """

    source: Budget = field(default_factory=lambda: Budget(adam_steps=1000, iterations=2500, adam_lr=5e-3))
    #: Allocate as long as the source's quasi-Newton training: PAC-Net's allocated source then
    #: keeps the trained one's accuracy (benchmarks/pac_levers.py, "long allocate").
    allocate: Budget = field(default_factory=lambda: Budget(adam_steps=0, iterations=2500))
    calibrate: Budget = field(default_factory=lambda: Budget(adam_steps=0, iterations=2500))

    PHASES = ("source", "allocate", "calibrate")


#: `pinn-pac solve`'s budget. Measured on Burgers nu = 0.01/pi (benchmarks/defaults.py):
#: about 3.5 minutes on 2 cores.
SOLVE_BUDGET = Budget(adam_steps=1000, iterations=5000, adam_lr=5e-3)


@dataclass
class SolveJob:
    """A whole solve in library terms: what a run folder's manifest holds to resume it."""

    equation: str
    coefficients: dict[str, float]
    settings: Settings
    budget: Budget
    #: Where the family comes from (`equations.EquationSource.as_record`).
    equation_source: dict | None = None

    kind = "solve"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "equation": self.equation, "equation_source": self.equation_source,
                "coefficients": self.coefficients, "settings": asdict(self.settings), "budget": asdict(self.budget)}

    @classmethod
    def from_dict(cls, data: dict) -> "SolveJob":
        return cls(data["equation"], data["coefficients"], Settings.from_record(data["settings"]), Budget(**data["budget"]),
                   data.get("equation_source"))


@dataclass
class TransferJob:
    """A whole transfer in library terms: the family, source and targets, settings, phase
    budgets, methods with their options, and the target points; what a run folder's manifest
    holds, so that a run started from the library resumes from the command line and back."""

    equation: str
    source: dict[str, float]
    targets: list[dict[str, float]]
    settings: Settings
    budgets: TransferSettings
    #: Each method as {"name": ..., "options": {...}} (see `transfer.METHODS`); an option left
    #: out means what it meant before it existed (`TransferMethod.from_record`: for PAC-Net, no
    #: lm finish), so write `method.options_dict()` to get today's defaults.
    methods: list[dict]
    target_points: int | None = None
    #: Where the family comes from (`equations.EquationSource.as_record`).
    equation_source: dict | None = None

    kind = "transfer"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "equation": self.equation, "equation_source": self.equation_source,
                "source": self.source, "targets": self.targets,
                "settings": asdict(self.settings),
                "budgets": {phase: asdict(getattr(self.budgets, phase)) for phase in TransferSettings.PHASES},
                "methods": self.methods, "target_points": self.target_points}

    @classmethod
    def from_dict(cls, data: dict) -> "TransferJob":
        budgets = TransferSettings(**{phase: Budget(**data["budgets"][phase]) for phase in TransferSettings.PHASES})
        return cls(data["equation"], data["source"], data["targets"], Settings.from_record(data["settings"]), budgets,
                   data["methods"], data.get("target_points"), data.get("equation_source"))
