"""The shared setting of the periodic families: x in [0, 2 pi) periodic, t in [0, 1]."""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np
import torch

from .base import Condition, DirichletCondition, Equation, ExactForm, PeriodicCondition


class PeriodicInX(Equation):
    """u(0, x) = initial(x) on x in [0, 2 pi), periodic in x, for t in [0, 1]."""

    inputs = ("x", "t")
    #: What the soft periodic condition matches across the seam: u, and u_x too for a
    #: second-order operator in x (u and u_x periodic make the u_xx problem well posed).
    periodic_fields: tuple[str, ...] = ("u",)

    @abstractmethod
    def initial(self, x: torch.Tensor) -> torch.Tensor:
        """The initial profile at the (N, 1) positions x; smooth and 2 pi-periodic."""

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"x": (0.0, 2.0 * math.pi), "t": (0.0, 1.0)}

    def conditions(self) -> list[Condition]:
        return [
            DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: self.initial(p[:, :1])),
            PeriodicCondition("periodic", on="x", fields=self.periodic_fields),
        ]

    def exact_form(self) -> ExactForm:
        """u = initial(x) + t N, with N periodic in x: both conditions hold exactly, for u and
        every derivative of it."""
        return ExactForm(offset=lambda p: self.initial(p[:, :1]), factor=lambda p: p[:, 1:2],
                         imposes=("initial", "periodic"), periodic=("x",))

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(0.0, 2.0 * np.pi, 256, endpoint=False), "t": np.linspace(0.0, 1.0, 100)}
