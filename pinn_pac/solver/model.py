"""The PINN: a tanh multilayer perceptron whose inputs are scaled to [-1, 1].

`TanhNetwork` holds the input scaling and the forward pass; subclasses say where the
weight matrices come from (plain parameters here, masked or adapted weights in `pac`).
That is the seam the masks act on.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from equations.errors import InputError

Layers = list[tuple[torch.Tensor, torch.Tensor]]


class TanhNetwork(nn.Module):
    """A tanh MLP whose inputs are mapped by h = (points - input_center) * input_scale.

    Inputs flagged `periodic` enter as the two features cos(pi h), sin(pi h) instead of h,
    so the network is periodic in them with the length of their box as period, for its
    value and every derivative (a periodic embedding; Dong, Ni 2021). An input with
    `frequencies` w_1, w_2, ... enters as h followed by sin(w_i h), cos(w_i h) for each
    (Fourier features at the data's own frequencies, for multiscale solutions; Wang, Wang,
    Perdikaris 2021). `features` are functions of the (unscaled) points, each giving one more
    column after the inputs' (distances to boundary pieces, see `boundary_features`).
    """

    def __init__(
        self, input_center: torch.Tensor, input_scale: torch.Tensor, periodic: tuple[bool, ...] = (),
        frequencies: tuple[tuple[float, ...], ...] = (), features: tuple[Callable, ...] = (),
    ) -> None:
        super().__init__()
        self.register_buffer("input_center", input_center)
        self.register_buffer("input_scale", input_scale)
        n_inputs = input_center.numel()
        self.periodic = tuple(periodic) or (False,) * n_inputs
        self.frequencies = tuple(tuple(float(w) for w in f) for f in frequencies) or ((),) * n_inputs
        if len(self.periodic) != n_inputs or len(self.frequencies) != n_inputs:
            raise InputError(f"{len(self.periodic)} periodic flags and {len(self.frequencies)} frequency sets "
                             f"for {n_inputs} inputs")
        if any(p and f for p, f in zip(self.periodic, self.frequencies)):
            raise InputError("an input is either periodic or has Fourier features, not both")
        widths = [(2 if p else 1) + 2 * len(f) for p, f in zip(self.periodic, self.frequencies)]
        #: The first feature column of each input (a periodic input has two, Fourier features two each).
        self.feature_column = [sum(widths[:k]) for k in range(n_inputs)]
        self.features = tuple(features)
        #: The first layer's column of the first of `features`.
        self.first_extra_column = sum(widths)
        self._n_features = sum(widths) + len(self.features)

    @property
    def n_features(self) -> int:
        """Columns the first layer sees: one per input, two per periodic input, two per
        frequency, one per feature."""
        return self._n_features

    def input_map(self) -> tuple:
        """What maps points to the first layer's input (center, scale, periodic, frequencies,
        features): a network computing from the same inputs is built with `*input_map()`."""
        return self.input_center, self.input_scale, self.periodic, self.frequencies, self.features

    @property
    def plain_features(self) -> bool:
        """Whether no input has Fourier features (each enters as h or a periodic (cos, sin)
        pair; distance `features` may follow, which the forward derivative path carries)."""
        return not any(self.frequencies)

    def embed(self, points: torch.Tensor, feature_values: torch.Tensor | None = None) -> torch.Tensor:
        """The first layer's input: scaled points, periodic ones as (cos, sin) pairs, each
        followed by its Fourier features, then `features` (their values at `points` when
        given, computed otherwise)."""
        scaled = (points - self.input_center) * self.input_scale
        extra = []
        if self.features:
            extra = [feature_values if feature_values is not None
                     else torch.cat([feature(points) for feature in self.features], dim=1)]
        if not any(self.periodic) and self.plain_features:
            return torch.cat([scaled, *extra], dim=1) if extra else scaled
        columns = []
        for k, (periodic, frequencies) in enumerate(zip(self.periodic, self.frequencies)):
            column = scaled[:, k : k + 1]
            columns += [torch.cos(math.pi * column), torch.sin(math.pi * column)] if periodic else [column]
            for w in frequencies:
                columns += [torch.sin(w * column), torch.cos(w * column)]
        return torch.cat(columns + extra, dim=1)

    def affine_layers(self) -> Layers:
        """(weight, bias) of every layer, input to output, as used in the forward pass."""
        raise NotImplementedError

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(points)
        *inner, (last_weight, last_bias) = self.affine_layers()
        for weight, bias in inner:
            hidden = torch.tanh(torch.addmm(bias, hidden, weight.T))
        return torch.addmm(last_bias, hidden, last_weight.T)


class MLP(TanhNetwork):
    """A fully connected tanh network with Xavier-normal weights and zero biases.

    `depth` counts hidden layers, each `width` wide: a 4x50 network has depth 4, width 50.
    Inputs are scaled from the box [lower, upper] to [-1, 1]; see `TanhNetwork` for `periodic`
    and `frequencies`.
    """

    def __init__(
        self,
        lower: torch.Tensor,
        upper: torch.Tensor,
        n_outputs: int,
        width: int,
        depth: int,
        generator: torch.Generator | None = None,
        periodic: tuple[bool, ...] = (),
        frequencies: tuple[tuple[float, ...], ...] = (),
        features: tuple[Callable, ...] = (),
    ) -> None:
        if width < 1 or depth < 1:
            raise InputError(f"width and depth must be positive, got {width}x{depth}")
        super().__init__((upper + lower) / 2, 2.0 / (upper - lower), periodic, frequencies, features)
        self.width, self.depth = width, depth
        sizes = [self.n_features] + [width] * depth + [n_outputs]
        dtype = lower.dtype
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            weight = torch.empty(fan_out, fan_in, dtype=dtype)
            nn.init.xavier_normal_(weight, generator=generator)
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(torch.zeros(fan_out, dtype=dtype)))

    def affine_layers(self) -> Layers:
        return list(zip(self.weights, self.biases))

    @classmethod
    def merged(cls, network: TanhNetwork) -> "MLP":
        """A plain MLP that computes what `network` computes now (adapters folded in, detached)."""
        layers = [(w.detach(), b.detach()) for w, b in network.affine_layers()]
        half_width = 1.0 / network.input_scale
        mlp = cls(network.input_center - half_width, network.input_center + half_width,
                  layers[-1][0].shape[0], layers[0][0].shape[0], len(layers) - 1,
                  periodic=network.periodic, frequencies=network.frequencies, features=network.features)
        with torch.no_grad():
            for (weight, bias), target_weight, target_bias in zip(layers, mlp.weights, mlp.biases):
                target_weight.copy_(weight)
                target_bias.copy_(bias)
        mlp.input_center.copy_(network.input_center)
        mlp.input_scale.copy_(network.input_scale)
        return mlp
