"""u and the derivatives an equation asks for, computed once per batch of points.

Three paths give the same numbers (to rounding):

* ``"autograd"`` (the library default) uses nested ``torch.autograd.grad`` and works for
  any network and any derivative of order one or two, mixed ones included.
* ``"forward"`` carries first and pure second derivatives through the layers alongside the
  values, so one forward pass yields u, u_x, u_t, u_xx and one backward pass gives the
  gradient of the loss. Eagerly it runs at about the speed of ``"autograd"``.
* ``"compiled"`` is ``"forward"`` through ``torch.compile``, which fuses the element-wise
  work between the matmuls: 1.2-1.9x faster per step than ``"autograd"`` on 2 CPU cores in
  all 24 cases of benchmarks/speed.py, after a compile of seconds. It needs a C++ compiler;
  the command line uses it.

``"forward"`` and ``"compiled"`` need a plain `TanhNetwork` forward pass and pure
derivatives; otherwise they fall back to the autograd path.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from .model import TanhNetwork

DERIVATIVE_METHODS = ("autograd", "forward", "compiled")
RECOMPILE_LIMIT = 64


class CompileUnavailable(RuntimeError):
    """torch.compile could not build the "compiled" derivative path on this machine."""


@dataclass(frozen=True)
class Derivative:
    """A derivative such as "u_xx": output index, input indices (one per order)."""

    name: str
    output: int
    wrt: tuple[int, ...]


def parse_derivatives(
    names: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> list[Derivative]:
    """Read names such as "u_x", "u_xx", "v_t" against the equation's inputs and outputs."""
    parsed = []
    for name in names:
        output, _, letters = name.partition("_")
        if output not in outputs or not letters or any(c not in inputs for c in letters):
            raise ValueError(f"cannot read derivative {name!r} for inputs {inputs}, outputs {outputs}")
        if len(letters) > 2:
            raise ValueError(f"derivative {name!r}: only orders one and two are supported")
        parsed.append(Derivative(name, outputs.index(output), tuple(inputs.index(c) for c in letters)))
    return parsed


def compute_fields(
    network: torch.nn.Module,
    points: torch.Tensor,
    derivatives: list[Derivative],
    outputs: tuple[str, ...],
    method: str = "autograd",
    inputs: tuple[str, ...] = (),
) -> dict[str, torch.Tensor]:
    """Inputs and outputs (by name) and the requested derivatives at `points`, each (N, 1).

    `inputs` names the columns of `points`; they are included so a residual can use them.
    """
    forward_ok = (
        bool(derivatives)
        and isinstance(network, TanhNetwork)
        and type(network).forward is TanhNetwork.forward  # e.g. not a stacked network
        and all(len(set(d.wrt)) == 1 for d in derivatives)
    )
    if method not in DERIVATIVE_METHODS:
        raise ValueError(
            f"unknown derivative method {method!r}; use one of {', '.join(DERIVATIVE_METHODS)}"
        )
    if method == "forward" and forward_ok:
        fields = _forward_mode(network, points, derivatives, outputs)
    elif method == "compiled" and forward_ok:
        fields = _compiled_forward_mode(network, points, derivatives, tuple(outputs))
    else:
        fields = _nested_autograd(network, points, derivatives, outputs)
    fields.update({name: points[:, k : k + 1] for k, name in enumerate(inputs)})
    return fields


def _compiled_forward_mode(network, points, derivatives, outputs):
    """`_forward_mode` through `torch.compile`. It compiles once per network class, layer
    shapes and point count (seconds; inductor also caches kernels on disk); new weights,
    points or coefficients reuse it. Coefficients stay outside: they enter in the residual,
    which runs eagerly on the returned (N, 1) fields."""
    try:
        # Every network shape and point count is one more compiled variant of the same
        # function; past dynamo's default of 8 it would silently run eagerly.
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return _compiled()(network, points, derivatives, outputs)
    except torch._dynamo.exc.BackendCompilerFailed as error:
        raise CompileUnavailable(
            "derivative method 'compiled' could not compile (torch.compile's inductor backend "
            f"needs a working C++ compiler): {str(error).splitlines()[0]}; "
            "use derivative method 'autograd' (command line: --derivatives autograd)"
        ) from None


@functools.cache
def _compiled():
    return torch.compile(_forward_mode, dynamic=False)


def _nested_autograd(network, points, derivatives, outputs):
    # Track the points only when derivatives are asked for: conditions on plain values
    # (most initial and boundary conditions) then cost one ordinary forward pass.
    points = points.detach().requires_grad_(bool(derivatives))
    values = network(points)
    fields = {name: values[:, k : k + 1] for k, name in enumerate(outputs)}
    gradients: dict[int, torch.Tensor] = {}
    for d in derivatives:
        if d.output not in gradients:
            (gradients[d.output],) = torch.autograd.grad(
                values[:, d.output].sum(), points, create_graph=True
            )
        first = gradients[d.output][:, d.wrt[0] : d.wrt[0] + 1]
        if len(d.wrt) == 1:
            fields[d.name] = first
        else:
            (second,) = torch.autograd.grad(first.sum(), points, create_graph=True)
            fields[d.name] = second[:, d.wrt[1] : d.wrt[1] + 1]
    return fields


def _forward_mode(network: TanhNetwork, points, derivatives, outputs):
    """Propagate values, first and pure second derivatives through the tanh layers.

    For z = W h + b and a = tanh(z) with s = 1 - a^2:
    a' = s z'  and  a'' = s (z'' - 2 a z'^2), where ' is d/dx_j for one input j.
    Each stream keeps its own (N, width) matmul: measured faster than one stacked matmul,
    eagerly and under `torch.compile`, which fuses the element-wise work between them.
    """
    first = sorted({d.wrt[0] for d in derivatives})
    second = sorted({d.wrt[0] for d in derivatives if len(d.wrt) == 2})
    (weight, bias), *inner, (last_weight, last_bias) = network.affine_layers()
    features = network.embed(points)
    a = torch.tanh(torch.addmm(bias, features, weight.T))
    s = 1 - a * a
    dz, ddz = _first_layer_tangents(network, features, weight, first, second)
    da = {j: s * dz[j] for j in first}
    dda = {j: s * (ddz[j] - 2 * a * dz[j] * dz[j]) if j in ddz else -2 * a * s * dz[j] * dz[j]
           for j in second}
    for weight, bias in inner:
        dz = {j: da[j] @ weight.T for j in first}
        ddz = {j: dda[j] @ weight.T for j in second}
        a = torch.tanh(torch.addmm(bias, a, weight.T))
        s = 1 - a * a
        da = {j: s * dz[j] for j in first}
        dda = {j: s * (ddz[j] - 2 * a * dz[j] * dz[j]) for j in second}
    values = torch.addmm(last_bias, a, last_weight.T)
    first_out = {j: da[j] @ last_weight.T for j in first}
    second_out = {j: dda[j] @ last_weight.T for j in second}

    fields = {name: values[:, k : k + 1] for k, name in enumerate(outputs)}
    for d in derivatives:
        stream = first_out[d.wrt[0]] if len(d.wrt) == 1 else second_out[d.wrt[0]]
        fields[d.name] = stream[:, d.output : d.output + 1]
    return fields


def _first_layer_tangents(network: TanhNetwork, features, weight, first, second):
    """z_j and z_jj of the first layer z = W features + b, for each input j.

    A plain input's feature is scale_j x_j, so z_j is column j of W times scale_j, a
    constant, and z_jj is zero (left out). A periodic input's features are cos(pi h),
    sin(pi h) with h = scale_j (x_j - center_j); with w = pi scale_j their derivatives are
    w (-sin, cos) and -w^2 (cos, sin).
    """
    dz, ddz = {}, {}
    for j in first:
        column, scale = network.feature_column[j], network.input_scale[j]
        if not network.periodic[j]:
            dz[j] = weight[:, column] * scale
            continue
        w = math.pi * scale
        cos, sin = features[:, column : column + 1], features[:, column + 1 : column + 2]
        along_cos, along_sin = weight[:, column], weight[:, column + 1]
        dz[j] = w * (cos * along_sin - sin * along_cos)
        if j in second:
            ddz[j] = -(w * w) * (cos * along_cos + sin * along_sin)
    return dz, ddz
