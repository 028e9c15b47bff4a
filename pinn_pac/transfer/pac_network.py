"""PAC-Net transfer: Prune, Allocate, Calibrate (Myung et al., ICML 2022).

* `prune` keeps the largest-magnitude weights of a trained source network and frees the rest.
* `allocate` retrains the kept weights (and biases) on the source with freed weights at 0.
* `calibrate` trains only the freed weights for a target, from 0, with an L2 pull towards 0.

A `PACNetwork` is the frozen allocated source plus one adapter per target; an adapter holds
only the calibrated freed weights. The source view is the allocated network itself, so it
predicts bit for bit the same after any number of calibrations.

`prune` and `allocate` live in `pac_source` and can be imported from here too.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from equations.errors import InputError

from ..solver.evaluate import Evaluator
from ..solver.loss import StackedPhysicsLoss
from ..solver.model import MLP, Layers, TanhNetwork
from ..solver.train import Budget, TrainResult, train
from .pac_source import PRUNE_SCOPES, allocate, prune  # noqa: F401 (re-exported)


class AdaptedNetwork(TanhNetwork):
    """The frozen source with its freed weights replaced by an adapter's values."""

    def __init__(self, pac: "PACNetwork", adapter: list[torch.Tensor]) -> None:
        super().__init__(pac.source.input_center, pac.source.input_scale, pac.source.periodic,
                         pac.source.frequencies)
        self.pac = pac
        self.adapter = adapter

    def affine_layers(self) -> Layers:
        layers = []
        for weight, bias, index, values in zip(
            self.pac.source.weights, self.pac.source.biases, self.pac.freed_index, self.adapter
        ):
            merged = torch.index_put(weight.detach().flatten(), (index,), values)
            layers.append((merged.view_as(weight), bias.detach()))
        return layers


class StackedAdaptedNetwork(TanhNetwork):
    """Several targets' adapted networks in one batched pass.

    `adapters[layer]` is a (targets, freed) tensor. Input rows are split evenly between the
    targets, in order: rows k*n to (k+1)*n go through target k's weights.
    """

    def __init__(self, pac: "PACNetwork", adapters: list[torch.Tensor]) -> None:
        super().__init__(pac.source.input_center, pac.source.input_scale, pac.source.periodic,
                         pac.source.frequencies)
        self.pac = pac
        self.adapters = adapters
        self.count = adapters[0].shape[0]

    def affine_layers(self) -> Layers:
        layers = []
        targets = torch.arange(self.count, device=self.input_center.device)[:, None]
        for weight, bias, index, values in zip(
            self.pac.source.weights, self.pac.source.biases, self.pac.freed_index, self.adapters
        ):
            stacked = weight.detach().flatten().expand(self.count, -1)
            merged = torch.index_put(stacked, (targets, index[None, :]), values)
            layers.append((merged.view(self.count, *weight.shape), bias.detach()))
        return layers

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(points).view(self.count, -1, self.n_features)
        *inner, (last_weight, last_bias) = self.affine_layers()
        for weight, bias in inner:
            hidden = torch.tanh(torch.baddbmm(bias, hidden, weight.transpose(1, 2)))
        output = torch.baddbmm(last_bias, hidden, last_weight.transpose(1, 2))
        return output.reshape(points.shape[0], -1)


class BufferList(nn.Module):
    """Tensors held as buffers "0", "1", ...: `state_dict()` and `.to()` carry them."""

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        super().__init__()
        for k, tensor in enumerate(tensors):
            self.register_buffer(str(k), tensor)

    def __len__(self) -> int:
        return len(self._buffers)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self._buffers.values())

    def __getitem__(self, k: int) -> torch.Tensor:
        return self._buffers[str(k)]


def _module_name(key: str) -> str:
    """A target key as a submodule name, which may not hold a ".": "nu=0.1" -> "nu=0:1"."""
    return key.replace(".", ":")


def _target_key(name: str) -> str:
    return name.replace(":", ".")


class PACNetwork(nn.Module):
    """An allocated source network, its masks, and one adapter per target.

    The source is a submodule, masks and freed-weight indices are buffers (`kept.0`,
    `freed_index.0`, ...), and each adapter is a frozen `ParameterList` under `adapters`, so
    `state_dict()`, `load_state_dict()` (into a fresh PACNetwork too) and `.to()` carry them all.
    """

    def __init__(self, source: MLP, kept: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.source = source.requires_grad_(False)
        self._set_masks(kept)
        self.adapters = nn.ModuleDict()
        self.register_load_state_dict_pre_hook(PACNetwork._take_masks_and_adapter_slots)

    @classmethod
    def from_saved(cls, source: MLP, masks: object) -> "PACNetwork":
        """A PACNetwork from an allocated network and masks read from a file, which must fit it."""
        if not (isinstance(masks, list) and all(isinstance(m, torch.Tensor) for m in masks)
                and [m.shape for m in masks] == [w.shape for w in source.weights]):
            raise InputError("the masks do not fit the network")
        return cls(source, masks)

    def _set_masks(self, kept: Sequence[torch.Tensor]) -> None:
        masks = [m.to(device=self.source.weights[0].device, dtype=torch.bool) for m in kept]
        self.kept = BufferList(masks)
        self.freed_index = BufferList([torch.nonzero(~m.flatten()).squeeze(1) for m in masks])

    def _take_masks_and_adapter_slots(self, state_dict, prefix, *_) -> None:
        """Before loading: the masks `state_dict` holds, and a slot for each of its adapters."""
        masks = [state_dict.get(f"{prefix}kept.{k}") for k in range(len(self.kept))]
        if all(isinstance(m, torch.Tensor) for m in masks):
            self._set_masks(masks)
        start = f"{prefix}adapters."
        for name in dict.fromkeys(key[len(start):].split(".")[0] for key in state_dict if key.startswith(start)):
            self.set_adapter(_target_key(name), self.zero_adapter())

    @property
    def source_count(self) -> int:
        """Parameters the source owns and trained: kept weights and every bias."""
        return sum(int(m.sum()) for m in self.kept) + sum(b.numel() for b in self.source.biases)

    @property
    def freed_count(self) -> int:
        """Weights an adapter holds: the trainable parameters of each target."""
        return sum(index.numel() for index in self.freed_index)

    @property
    def target_keys(self) -> list[str]:
        """The calibrated targets, in the order they were added."""
        return [_target_key(name) for name in self.adapters]

    def source_view(self) -> MLP:
        """The allocated source network (frozen; unaffected by adapters)."""
        return self.source

    def target_view(self, key: str) -> AdaptedNetwork:
        """The network for a calibrated target."""
        return AdaptedNetwork(self, self.target_adapter(key))

    def target_adapter(self, key: str) -> list[torch.Tensor]:
        """The freed weights calibrated for target `key`, one tensor per layer."""
        name = _module_name(key)
        if name not in self.adapters:
            raise KeyError(f"no adapter {key!r}; have: {', '.join(self.target_keys) or 'none'}")
        return list(self.adapters[name])

    def set_adapter(self, key: str, values: Sequence[torch.Tensor]) -> None:
        """Store `values` (freed weights, one tensor per layer) as target `key`'s adapter, frozen,
        in the source's dtype and on its device."""
        shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else None for v in values]
        if shapes != [tuple(i.shape) for i in self.freed_index]:
            raise InputError("an adapter does not fit the masks")
        like = self.source.weights[0]
        self.adapters[_module_name(key)] = nn.ParameterList(
            nn.Parameter(v.detach().to(like), requires_grad=False) for v in values)

    def zero_adapter(self) -> list[nn.Parameter]:
        """Fresh trainable freed weights, all starting at 0 (the source's value)."""
        like = self.source.weights[0]
        return [nn.Parameter(like.new_zeros(i.numel())) for i in self.freed_index]

    def calibrate(
        self,
        key: str,
        loss_fn: Callable[[nn.Module], torch.Tensor],
        budget: Budget,
        penalty_weight: float,
        evaluator: Evaluator | None = None,
        start: str | None = None,
        **train_options,
    ) -> TrainResult:
        """Train a new adapter for a target: physics loss + penalty_weight * ||w_freed||^2.

        The adapter starts at 0 (the source), or at a copy of the calibrated adapter `start`.
        """
        adapter = self.zero_adapter()
        if start is not None:
            with torch.no_grad():
                for values, begin in zip(adapter, self.target_adapter(start)):
                    values.copy_(begin)
        result = train(
            AdaptedNetwork(self, adapter), loss_fn, adapter, budget, evaluator,
            penalty=_pull_to_zero(adapter, penalty_weight), **train_options,
        )
        self.set_adapter(key, adapter)
        return result

    def calibrate_stacked(
        self,
        keys: list[str],
        loss: StackedPhysicsLoss,
        budget: Budget,
        penalty_weight: float,
        **train_options,
    ) -> TrainResult:
        """Calibrate several targets at once: one optimizer over their stacked adapters, on
        the sum of their losses, each network pass batched over the targets.

        The targets' problems are independent, so the sum's gradient is each target's own;
        the optimizer's steps (and an L-BFGS line search) are shared. No reference error is
        recorded during training.
        """
        if len(keys) != len(loss.losses):
            raise InputError(f"{len(keys)} keys for {len(loss.losses)} stacked losses")
        like = self.source.weights[0]
        adapters = [nn.Parameter(like.new_zeros(len(keys), i.numel())) for i in self.freed_index]
        result = train(StackedAdaptedNetwork(self, adapters), loss, adapters, budget, None,
                       penalty=_pull_to_zero(adapters, penalty_weight), **train_options)
        for k, key in enumerate(keys):
            self.set_adapter(key, [values.detach()[k].clone() for values in adapters])
        return result


def _pull_to_zero(adapter: list[torch.Tensor], weight: float) -> Callable[[], torch.Tensor]:
    """weight * ||adapter||^2, the calibration's pull of the freed weights towards the source's 0."""
    if weight < 0:
        raise InputError(f"the calibration penalty weight must be >= 0, got {weight}")
    return lambda: weight * sum(values.square().sum() for values in adapter)
