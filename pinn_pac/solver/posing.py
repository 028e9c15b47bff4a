"""How a network's output becomes the solution: as it is, or through the equation's exact form.

With conditions "exact" and a family that declares an `ExactForm` (or one built from its
conditions, see `built_form`), u = g + d * N where N is
the network (any network: a plain MLP, a PAC-Net adapted view, a LoRA or parametric one).
The imposed initial and boundary values then hold by construction and leave the loss
(Lagaris, Likas, Fotiadis 1998; Sukumar, Srivastava 2022); a form that imposes periodicity
needs a network periodic in those inputs (`periodic_inputs`, see `model.TanhNetwork`).
Derivatives of u follow by the product rule from those of N, computed by any derivative path
(autograd, forward, compiled), and those of g and d, computed once per point set by autograd.
"""

from __future__ import annotations

import itertools

import torch

from equations import Condition, Equation
from equations.errors import InputError

from .built_form import BuiltPosing, build_exact_form
from .derivatives import Derivative, compute_fields, derivative_columns, derivative_name
from .point_cache import PointSetCache

CONDITION_MODES = ("exact", "given", "soft")
#: The modes a `Posing` takes: the conditions', and "exact-plain", a built form without a start
#: layer (what "exact" meant in runs saved before start layers; see `runs.Settings.posing`).
POSING_MODES = (*CONDITION_MODES, "exact-plain")

Key = tuple[int, tuple[int, ...]]  # output index, input indices of a derivative


class Posing:
    """The solution u of `equation` from a network's output, and u's derivatives.

    `conditions="exact"` uses the equation's exact form where it declares one, and otherwise
    one built from its conditions (see `built_form`; those it cannot build stay in the loss).
    "given" uses a declared form only (what "exact" meant in runs saved before forms were
    built). With "soft", u is the network's output and every condition stays in the loss.
    "exact-plain" is "exact" without a start layer in a built form (see `start_layer`).
    """

    def __init__(self, equation: Equation, conditions: str = "exact") -> None:
        if conditions not in POSING_MODES:
            raise InputError(f"conditions must be one of {', '.join(POSING_MODES)}, got {conditions!r}")
        self.equation = equation
        #: How the form came about: given by the family, built from its conditions (with the
        #: conditions left soft and why), or none.
        self.built: BuiltPosing | None = None
        self.form = equation.exact_form() if conditions != "soft" else None
        if conditions in ("exact", "exact-plain") and self.form is None:
            self.built = build_exact_form(equation, with_start_layer=conditions == "exact")
            self.form = self.built.form
        #: For each input, whether the network must be periodic in it (the form says so).
        self.periodic_inputs = tuple(name in (self.form.periodic if self.form else ()) for name in equation.inputs)
        self._form_values = PointSetCache()

    @property
    def conditions(self) -> str:
        """What is applied: "exact" when a form is in use, else "soft"."""
        return "soft" if self.form is None else "exact"

    def check_network(self, network: torch.nn.Module) -> None:
        """Refuse a network that is not periodic where the form needs it to be."""
        if any(self.periodic_inputs) and getattr(network, "periodic", None) != self.periodic_inputs:
            names = [n for n, p in zip(self.equation.inputs, self.periodic_inputs) if p]
            raise InputError(f"the exact form of {self.equation.name} needs a network periodic in "
                             f"{', '.join(names)} (build it with runs.build_network or MLP(periodic=...))")

    def soft_conditions(self) -> list[Condition]:
        """The conditions that stay in the loss: those the form does not impose."""
        imposed = () if self.form is None else self.form.imposes
        return [c for c in self.equation.conditions() if c.name not in imposed]

    def predict(self, network: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
        """u at `points`, (N, n_outputs). The form's parts are taken once per point set (so that
        a Jacobian by torch.func over the network finds them made), and through the points
        where those are tracked."""
        self.check_network(network)
        values = network(points)
        if self.form is None:
            return values
        if points.requires_grad:  # u as a function of the points, to be differentiated
            return self.form.offset(points) + self.form.factor(points) * values
        outputs = range(len(self.equation.outputs))
        offset, factor = (torch.cat([part[k, ()] for k in outputs], dim=1)
                          for part in self._offset_and_factor(points, {(k, ()) for k in outputs}))
        return offset + factor * values

    def fields(
        self, network: torch.nn.Module, points: torch.Tensor, derivatives: list[Derivative], method: str,
    ) -> dict[str, torch.Tensor]:
        """Inputs, outputs and `derivatives` of u at `points` by name, each (N, 1)."""
        self.check_network(network)
        inner = self.network_derivatives(derivatives)
        net = compute_fields(network, points, inner, self.equation.outputs, method, self.equation.inputs)
        return self.pose(net, points, derivatives)

    def network_derivatives(self, derivatives: list[Derivative]) -> list[Derivative]:
        """The network's derivatives that u's `derivatives` need (the product rule's, where a
        form is in use), named as `derivative_name` names them."""
        if self.form is None:
            return list(derivatives)
        inputs, outputs = self.equation.inputs, self.equation.outputs
        needed = {key for d in derivatives for key in _product_rule_keys(d)}
        return [Derivative(derivative_name(*key, inputs, outputs), *key) for key in sorted(needed)]

    def pose(self, net: dict[str, torch.Tensor], points: torch.Tensor,
             derivatives: list[Derivative]) -> dict[str, torch.Tensor]:
        """u's fields (see `fields`) from the network's outputs and `network_derivatives` at
        `points`, by name (`net`)."""
        inputs, outputs = self.equation.inputs, self.equation.outputs
        fields = {name: points[:, k : k + 1] for k, name in enumerate(inputs)}
        if self.form is None:
            return {**net, **fields}
        needed = {key for d in derivatives for key in _product_rule_keys(d)}
        n = {(k, ()): net[name] for k, name in enumerate(outputs)}
        n.update({key: net[derivative_name(*key, inputs, outputs)] for key in needed})
        g, d = self._offset_and_factor(points, needed | {(k, ()) for k in range(len(outputs))})
        for k, name in enumerate(outputs):
            fields[name] = g[k, ()] + d[k, ()] * n[k, ()]
        for derivative in derivatives:
            # General Leibniz rule: D^wrt (d N) = sum over subsets T of wrt's positions of
            # D^T d * D^(wrt - T) N; the whole wrt and the empty set first, as for order two.
            k, wrt = derivative.output, derivative.wrt
            value = g[k, wrt] + d[k, wrt] * n[k, ()] + d[k, ()] * n[k, wrt]
            for part, rest in _splits(wrt):
                value = value + d[k, part] * n[k, rest]
            fields[derivative.name] = value
        return fields

    def _offset_and_factor(self, points: torch.Tensor, keys: set[Key]) -> tuple[dict, dict]:
        """g and d and their derivatives at `points` (cached for the last few point sets)."""
        cached = self._form_values.get(points)
        if cached is not None and keys <= cached[0].keys():
            return cached
        shape = (points.shape[0], len(self.equation.outputs))
        with torch.enable_grad():  # also where fields are taken without a graph: the cache keeps them
            tracked = points.detach().requires_grad_(True)
            values = (
                _derivatives_of(self.form.offset(tracked).broadcast_to(shape), tracked, keys),
                _derivatives_of(self.form.factor(tracked).broadcast_to(shape), tracked, keys),
            )
        self._form_values.put(points, values)
        return values


def _product_rule_keys(derivative: Derivative) -> list[Key]:
    """The derivatives of N that u's `derivative` needs by the Leibniz rule: itself and each
    of its lower-order parts (u_xt: N_xt, N_x, N_t; u_xxx: N_xxx, N_xx, N_x)."""
    k, wrt = derivative.output, derivative.wrt
    return list(dict.fromkeys([(k, wrt), *((k, rest) for _, rest in _splits(wrt))]))


def _splits(wrt: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Each proper, non-empty subset T of wrt's positions as (wrt at T, wrt at the other
    positions), each sorted: the terms D^T d D^(wrt - T) N of the Leibniz rule but the two
    ends; for order two, (i,), (j,) then (j,), (i,)."""
    positions = range(len(wrt))
    return [
        (tuple(sorted(wrt[p] for p in chosen)), tuple(sorted(wrt[p] for p in positions if p not in chosen)))
        for size in range(1, len(wrt))
        for chosen in itertools.combinations(positions, size)
    ]


def _derivatives_of(values: torch.Tensor, points: torch.Tensor, keys: set[Key]) -> dict[Key, torch.Tensor]:
    """Each (output, wrt) derivative of `values` (N, n_outputs) at `points`, detached, (N, 1),
    of any order; one derivative's gradient serves all taken from it (u_xx for u_xxx, u_xxt)."""
    return {key: value.detach() for key, value in derivative_columns(values, points, keys).items()}
