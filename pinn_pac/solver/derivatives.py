"""u and the derivatives an equation asks for, computed once per batch of points.

Derivatives are named as `derivative_names` describes ("u_xx", "u_x1_x2"); its
`Derivative`, `parse_derivatives` and `derivative_name` can be imported from here too.

Three paths give the same numbers (to rounding):

* ``"autograd"`` (the library default) uses nested ``torch.autograd.grad`` and works for
  any network and any derivative of order one to four, mixed ones included; derivatives
  share the lower orders they are taken from (u_xxx and u_xxt reuse u_xx).
* ``"forward"`` carries pure derivatives of order one to four through the layers alongside
  the values, so one forward pass yields u, u_x, u_t, u_xx, u_xxxx and one backward pass gives the
  gradient of the loss. Eagerly it runs at about the speed of ``"autograd"``.
* ``"compiled"`` is ``"forward"`` through ``torch.compile``, which fuses the element-wise
  work between the matmuls: 1.2-1.9x faster per step than ``"autograd"`` on 2 CPU cores in
  all 24 cases of benchmarks/speed.py, after a compile of seconds. It needs a C++ compiler;
  the command line uses it.

``"forward"`` and ``"compiled"`` need a plain `TanhNetwork` forward pass and pure
derivatives; otherwise (a mixed derivative among those asked for, Fourier features) they
fall back to the autograd path. A network's distance `features` (see `boundary_features`) are
fixed functions of the points: their values and derivatives are taken once per point set by
autograd and enter the first layer's derivatives as W_features times them.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable

import torch

from equations.errors import InputError

from .derivative_names import Derivative, derivative_name, parse_derivatives  # noqa: F401 (the last two re-exported)
from .model import TanhNetwork
from .point_cache import PointSetCache

DERIVATIVE_METHODS = ("autograd", "forward", "compiled")
RECOMPILE_LIMIT = 64


class CompileUnavailable(RuntimeError):
    """torch.compile could not build the "compiled" derivative path on this machine."""


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
        and network.plain_features  # Fourier features: the autograd path
        and all(len(set(d.wrt)) == 1 for d in derivatives)  # pure, of any order
    )
    if method not in DERIVATIVE_METHODS:
        raise InputError(
            f"unknown derivative method {method!r}; use one of {', '.join(DERIVATIVE_METHODS)}"
        )
    if method in ("forward", "compiled") and forward_ok:
        jets = _feature_jets(network, points, _orders(derivatives))
        run = _forward_mode if method == "forward" else _compiled_forward_mode
        fields = run(network, points, derivatives, tuple(outputs), jets)
    else:
        fields = _nested_autograd(network, points, derivatives, outputs)
    fields.update({name: points[:, k : k + 1] for k, name in enumerate(inputs)})
    return fields


def _orders(derivatives: list[Derivative]) -> dict[int, int]:
    """Per input (by index, in increasing order), the highest order of the derivatives along it."""
    orders: dict[int, int] = {}
    for d in sorted(derivatives, key=lambda d: d.wrt[0]):
        orders[d.wrt[0]] = max(orders.get(d.wrt[0], 0), len(d.wrt))
    return orders


_feature_cache = PointSetCache()


def _feature_jets(network: TanhNetwork, points: torch.Tensor, orders: dict[int, int]):
    """The network's `features` at `points`, (N, F), and per input j their derivatives along
    it to `orders[j]`, each (N, F) or None where zero; None without features. Taken once per
    point set by autograd (the features are fixed functions), detached."""
    if not network.features:
        return None
    cached = _feature_cache.get(points)
    if (cached is not None and cached[0] == network.features
            and all(len(cached[2].get(j, ())) >= k for j, k in orders.items())):
        return cached[1], {j: cached[2][j][:k] for j, k in orders.items()}
    values, jets = column_jets(
        lambda tracked: torch.cat([feature(tracked) for feature in network.features], dim=1), points, orders)
    _feature_cache.put(points, (network.features, values, jets))
    return values, jets


def column_jets(function, points: torch.Tensor, orders: dict[int, int], keep_first: bool = False):
    """`function(points)`, (N, F), a fixed function's columns, and per input j their
    derivatives along j to `orders[j]`, (N, F) each, by autograd (also where no graph is kept),
    detached; None where zero (the first derivative kept, with `keep_first`)."""
    with torch.enable_grad():
        tracked = points.detach().requires_grad_(True)
        values = function(tracked)
        count = values.shape[1]
        keys = [(f, (j,) * k) for j, order in orders.items() for k in range(1, order + 1) for f in range(count)]
        columns = derivative_columns(values, tracked, keys)
    jets = {}
    for j, order in orders.items():
        jets[j] = []
        for k in range(1, order + 1):
            jet = torch.cat([columns[f, (j,) * k] for f in range(count)], dim=1).detach()
            jets[j].append(jet if (keep_first and k == 1) or torch.any(jet != 0) else None)
    return values.detach(), jets


def _compiled_forward_mode(network, points, derivatives, outputs, jets):
    """`_forward_mode` through `torch.compile`. It compiles once per network class, layer
    shapes and point count (seconds; inductor also caches kernels on disk); new weights,
    points or coefficients reuse it. Coefficients stay outside: they enter in the residual,
    which runs eagerly on the returned (N, 1) fields."""
    try:
        # Every network shape and point count is one more compiled variant of the same
        # function; past dynamo's default of 8 it would silently run eagerly. Balanced term
        # weights take each term's gradient with the graph retained, which a compiled backward
        # that donates its buffers refuses.
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT), \
                torch._functorch.config.patch(donated_buffer=False):
            return _compiled()(network, points, derivatives, outputs, jets)
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
    columns = derivative_columns(values, points, [(d.output, d.wrt) for d in derivatives])
    fields.update({d.name: columns[d.output, d.wrt] for d in derivatives})
    return fields


def derivative_columns(values: torch.Tensor, points: torch.Tensor,
                       keys: Iterable[tuple[int, tuple[int, ...]]]) -> dict[tuple[int, tuple[int, ...]], torch.Tensor]:
    """Each (output, inputs) derivative of `values` (N, n_outputs) with respect to the tracked
    `points`, (N, 1), differentiable further, by nested autograd. The gradient of each
    derivative serves all taken from it: u_xx and u_xt share u_x's, u_xxx and u_xxt u_xx's.
    They are taken in the order of `keys`."""
    gradients: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    def column(k: int, wrt: tuple[int, ...]) -> torch.Tensor:
        if not wrt:
            return values[:, k : k + 1]
        if (k, wrt[:-1]) not in gradients:
            gradients[k, wrt[:-1]] = _gradient(column(k, wrt[:-1]), points)
        return gradients[k, wrt[:-1]][:, wrt[-1] : wrt[-1] + 1]

    return {key: column(*key) for key in keys}


def _gradient(column: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """d column / d points, (N, n_inputs), kept differentiable; zero where the column does
    not depend on the points (a derivative of a polynomial network past its degree)."""
    if not column.requires_grad:
        return torch.zeros_like(points)
    (gradient,) = torch.autograd.grad(column.sum(), points, create_graph=True, allow_unused=True)
    return torch.zeros_like(points) if gradient is None else gradient


def _forward_mode(network: TanhNetwork, points, derivatives, outputs, jets=None):
    """Propagate values and pure derivatives of order one to four through the tanh layers.

    For z = W h + b and a = tanh(z) with s = 1 - a^2, along one input j (a1 .. a4 and z1 .. z4
    are the derivatives d^k/dx_j^k; z is linear in the layer below, so zk = W hk), by Faa di
    Bruno's formula:
    a1 = s z1,  a2 = s (z2 - 2 a z1^2),  a3 = s (z3 - 6 a z1 z2 + (4 a^2 - 2 s) z1^3),
    a4 = s (z4 - 2 a (3 z2^2 + 4 z1 z3) + 6 (4 a^2 - 2 s) z1^2 z2 + 8 a (2 s - a^2) z1^4).
    Each stream keeps its own (N, width) matmul: measured faster than one stacked matmul,
    eagerly and under `torch.compile`, which fuses the element-wise work between them.
    `jets` are the network's features and their derivatives (`_feature_jets`), if it has any.
    """
    orders = _orders(derivatives)
    (weight, bias), *inner, (last_weight, last_bias) = network.affine_layers()
    features = network.embed(points, None if jets is None else jets[0])
    a = torch.tanh(torch.addmm(bias, features, weight.T))
    s = 1 - a * a
    tangents = _first_layer_tangents(network, features, weight, orders)
    if jets is not None:
        tangents = _with_feature_tangents(network, weight, tangents, jets[1])
    streams = _tanh_streams(a, s, tangents, orders)
    for weight, bias in inner:
        tangents = _order_by_order(orders, lambda j, k: streams[j][k] @ weight.T)
        a = torch.tanh(torch.addmm(bias, a, weight.T))
        s = 1 - a * a
        streams = _tanh_streams(a, s, tangents, orders)
    values = torch.addmm(last_bias, a, last_weight.T)
    out = _order_by_order(orders, lambda j, k: streams[j][k] @ last_weight.T)

    fields = {name: values[:, k : k + 1] for k, name in enumerate(outputs)}
    for d in derivatives:
        fields[d.name] = out[d.wrt[0]][len(d.wrt) - 1][:, d.output : d.output + 1]
    return fields


def _order_by_order(orders: dict[int, int], make) -> dict[int, list]:
    """{j: [make(j, 0), make(j, 1), ...]} up to each input's order, made order by order (all
    first derivatives, then all second ones, ...): the order autograd's graph records them in,
    which fixes the bits of the gradient's sums."""
    made: dict[int, list] = {j: [] for j in orders}
    for k in range(max(orders.values())):
        for j, order in orders.items():
            if k < order:
                made[j].append(make(j, k))
    return made


def _tanh_streams(a, s, tangents: dict[int, list], orders: dict[int, int]) -> dict[int, list]:
    """a = tanh(z)'s derivatives along each input j from z's (`_forward_mode`)."""
    return _order_by_order(orders, lambda j, k: _tanh_derivative(k + 1, a, s, tangents[j]))


def _tanh_derivative(order: int, a, s, z: list):
    """The `order`-th derivative of a = tanh(z) from z's derivatives z (the formulas of
    `_forward_mode`); an entry None in z is zero (a plain input's first layer beyond order one)."""
    z1, z2, z3, z4 = (*z, None, None, None)[:4]
    if order == 1:
        return s * z1
    if order == 2:
        return s * (z2 - 2 * a * z1 * z1) if z2 is not None else -2 * a * s * z1 * z1
    if order == 3:
        third = (4 * a * a - 2 * s) * z1**3
        if z2 is not None:
            third = third - 6 * a * z1 * z2
        return s * (third if z3 is None else z3 + third)
    fourth = 8 * a * (2 * s - a * a) * z1**4
    if z2 is not None:
        fourth = fourth + 6 * (4 * a * a - 2 * s) * z1 * z1 * z2 - 6 * a * z2 * z2
    if z3 is not None:
        fourth = fourth - 8 * a * z1 * z3
    return s * (fourth if z4 is None else z4 + fourth)


def _first_layer_tangents(network: TanhNetwork, features, weight, orders: dict[int, int]) -> dict[int, list]:
    """For each input j, z_j, z_jj, ... (to `orders[j]`) of the first layer z = W features + b.

    A plain input's feature is scale_j x_j, so z_j is column j of W times scale_j, a
    constant, and the higher ones are zero (None). A periodic input's features are
    cos(pi h), sin(pi h) with h = scale_j (x_j - center_j); with w = pi scale_j their
    derivatives are w (-sin, cos), -w^2 (cos, sin), w^3 (sin, -cos) and w^4 (cos, sin).
    """
    tangents = {}
    for j, order in orders.items():
        column, scale = network.feature_column[j], network.input_scale[j]
        if not network.periodic[j]:
            tangents[j] = [weight[:, column] * scale, None, None, None][:order]
            continue
        w = math.pi * scale
        cos, sin = features[:, column : column + 1], features[:, column + 1 : column + 2]
        along_cos, along_sin = weight[:, column], weight[:, column + 1]
        across = cos * along_sin - sin * along_cos
        tangents[j] = [w * across, -(w * w) * (cos * along_cos + sin * along_sin),
                       -(w**3) * across, w**4 * (cos * along_cos + sin * along_sin)][:order]
    return tangents


def _with_feature_tangents(network: TanhNetwork, weight, tangents: dict[int, list], jets: dict[int, list]) -> dict[int, list]:
    """The first layer's z_j, z_jj, ... with the features' part added: W_features times their
    derivatives (`jets`, None where zero)."""
    along = weight[:, network.first_extra_column:].T
    added = {}
    for j, own in tangents.items():
        added[j] = [part if jet is None else (jet @ along if part is None else part + jet @ along)
                    for part, jet in zip(own, jets[j])]
    return added
