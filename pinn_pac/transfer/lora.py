"""`lora`: rank-r updates B A added to every weight matrix (Hu et al. 2022); the source stays
as it is. The down-projections A are drawn from the run's seed."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from equations.errors import InputError

from .base import Adapted, TransferMethod, count, option
from ..solver.model import MLP, Layers, TanhNetwork
from ..solver.train import train


@dataclass(frozen=True)
class LoRAOptions:
    rank: int = option(4, "lora: rank of each update")

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise InputError(f"the LoRA rank must be >= 1, got {self.rank}")


class LoRANetwork(TanhNetwork):
    """The frozen source with a rank-r update B A added to each weight matrix."""

    def __init__(self, source: MLP, rank: int, generator: torch.Generator) -> None:
        super().__init__(*source.input_map())
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
    trains_layer_entries = False  # B A: a product of what it trains
    Options = LoRAOptions

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        generator = torch.Generator().manual_seed(self.context.seed)
        network = LoRANetwork(self.context.network, self.options.rank, generator)
        adapter = [*network.up, *network.down]
        result = train(network, self._loss(target, loss), adapter, budget, evaluator, **train_options)
        return Adapted(network, self.context.network, count(adapter), count(adapter), result)
