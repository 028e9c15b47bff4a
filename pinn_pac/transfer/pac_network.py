"""PAC-Net transfer: Prune, Allocate, Calibrate (Myung et al., ICML 2022).

* `prune` frees weights of a trained source network (the smallest, or whole neurons).
* `allocate` retrains the kept weights (and biases) on the source with freed weights at 0.
* `calibrate` trains only the freed weights for a target (and, with `own_biases`, the
  target's own copy of the biases), from their start, with an optional L2 pull towards it.

A `PACNetwork` is the frozen allocated source plus one adapter per target; an adapter holds
only the calibrated freed weights (then the biases). The source view is the allocated network
itself, so it predicts bit for bit the same after any number of calibrations. A freed weight
starts at 0, the source's value, except where its neuron is unused by the source (all of the
neuron's outgoing weights freed): there it starts from the value it was trained to.

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
        super().__init__(*pac.source.input_map())
        self.pac = pac
        self.adapter = adapter

    def affine_layers(self) -> Layers:
        layers = []
        weights, biases = self.pac.split(self.adapter)
        for weight, index, values, bias in zip(self.pac.source.weights, self.pac.freed_index, weights, biases):
            merged = torch.index_put(weight.detach().flatten(), (index,), values)
            layers.append((merged.view_as(weight), bias))
        return layers


class StackedAdaptedNetwork(TanhNetwork):
    """Several targets' adapted networks in one batched pass.

    `adapters[k]` stacks the targets' k-th adapter tensor: (targets, freed) per layer, then
    (targets, width) per bias where the targets have their own. Input rows are split evenly between the
    targets, in order: rows k*n to (k+1)*n go through target k's weights.
    """

    def __init__(self, pac: "PACNetwork", adapters: list[torch.Tensor]) -> None:
        super().__init__(*pac.source.input_map())
        self.pac = pac
        self.adapters = adapters
        self.count = adapters[0].shape[0]

    def affine_layers(self) -> Layers:
        layers = []
        targets = torch.arange(self.count, device=self.input_center.device)[:, None]
        weights, biases = self.pac.split(self.adapters)
        for weight, index, values, bias in zip(self.pac.source.weights, self.pac.freed_index, weights, biases):
            stacked = weight.detach().flatten().expand(self.count, -1)
            merged = torch.index_put(stacked, (targets, index[None, :]), values)
            layers.append((merged.view(self.count, *weight.shape), bias if bias.dim() == 1 else bias[:, None, :]))
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

    The source is a submodule; masks, freed-weight indices and the freed weights' start values
    are buffers (`kept.0`, `freed_index.0`, `start.0`, ...), and each adapter is a frozen
    `ParameterList` under `adapters`, so `state_dict()`, `load_state_dict()` (into a fresh
    PACNetwork too) and `.to()` carry them all. `start` (default 0) is given by `prune`'s
    caller as `calibration_start`; `own_biases` gives each target its own biases.
    """

    def __init__(self, source: MLP, kept: Sequence[torch.Tensor],
                 start: Sequence[torch.Tensor] | None = None, own_biases: bool = False) -> None:
        super().__init__()
        self.source = source.requires_grad_(False)
        self.own_biases = own_biases
        self._set_masks(kept, start)
        self.adapters = nn.ModuleDict()
        self.register_load_state_dict_pre_hook(PACNetwork._take_masks_and_adapter_slots)

    @classmethod
    def from_saved(cls, source: MLP, masks: object, start: object = None, own_biases: bool = False) -> "PACNetwork":
        """A PACNetwork from an allocated network, masks and start values read from a file,
        which must fit it (a file from before start values were saved has none: all 0)."""
        if not (isinstance(masks, list) and all(isinstance(m, torch.Tensor) for m in masks)
                and [m.shape for m in masks] == [w.shape for w in source.weights]):
            raise InputError("the masks do not fit the network")
        if start is not None and not (isinstance(start, list) and [getattr(v, "shape", None) for v in start]
                                      == [torch.Size([int((~m).sum())]) for m in masks]):
            raise InputError("the freed weights' start values do not fit the masks")
        return cls(source, masks, start, own_biases)

    def _set_masks(self, kept: Sequence[torch.Tensor], start: Sequence[torch.Tensor] | None = None) -> None:
        like = self.source.weights[0]
        masks = [m.to(device=like.device, dtype=torch.bool) for m in kept]
        self.kept = BufferList(masks)
        self.freed_index = BufferList([torch.nonzero(~m.flatten()).squeeze(1) for m in masks])
        if start is None:
            start = [like.new_zeros(i.numel()) for i in self.freed_index]
        self.start = BufferList([v.detach().to(like) for v in start])

    def _take_masks_and_adapter_slots(self, state_dict, prefix, *_) -> None:
        """Before loading: the masks and start values `state_dict` holds (start values of 0
        where it has none), and a slot for each of its adapters."""
        masks = [state_dict.get(f"{prefix}kept.{k}") for k in range(len(self.kept))]
        if all(isinstance(m, torch.Tensor) for m in masks):
            start = [state_dict.get(f"{prefix}start.{k}") for k in range(len(self.kept))]
            self._set_masks(masks, start if all(isinstance(v, torch.Tensor) for v in start) else None)
            for k, values in enumerate(self.start):
                state_dict.setdefault(f"{prefix}start.{k}", values)
        begin = f"{prefix}adapters."
        for name in dict.fromkeys(key[len(begin):].split(".")[0] for key in state_dict if key.startswith(begin)):
            self.set_adapter(_target_key(name), self.start_adapter())

    @property
    def source_count(self) -> int:
        """Parameters the source owns and trained: kept weights and every bias."""
        return sum(int(m.sum()) for m in self.kept) + sum(b.numel() for b in self.source.biases)

    @property
    def freed_count(self) -> int:
        """Parameters an adapter holds, trained per target: the freed weights (and biases)."""
        return sum(shape.numel() for shape in self.adapter_shapes())

    def adapter_shapes(self) -> list[torch.Size]:
        """The shape of each tensor of an adapter: freed weights per layer, then biases."""
        biases = [b.shape for b in self.source.biases] if self.own_biases else []
        return [i.shape for i in self.freed_index] + biases

    def split(self, adapter: Sequence[torch.Tensor]) -> tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]]:
        """An adapter's freed weights per layer, and the biases the target's network uses."""
        layers = len(self.freed_index)
        biases = adapter[layers:] if self.own_biases else [b.detach() for b in self.source.biases]
        return adapter[:layers], biases

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
        """What target `key` calibrated: its freed weights per layer (then its biases)."""
        name = _module_name(key)
        if name not in self.adapters:
            raise KeyError(f"no adapter {key!r}; have: {', '.join(self.target_keys) or 'none'}")
        return list(self.adapters[name])

    def set_adapter(self, key: str, values: Sequence[torch.Tensor]) -> None:
        """Store `values` (freed weights per layer, then biases) as target `key`'s adapter, frozen,
        in the source's dtype and on its device."""
        shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else None for v in values]
        if shapes != [tuple(shape) for shape in self.adapter_shapes()]:
            raise InputError("an adapter does not fit the masks (or holds biases where the network has "
                             "no own biases, or none where it has)")
        like = self.source.weights[0]
        self.adapters[_module_name(key)] = nn.ParameterList(
            nn.Parameter(v.detach().to(like), requires_grad=False) for v in values)

    def start_values(self) -> list[torch.Tensor]:
        """Where a target's adapter starts: the freed weights' start values (then the source's biases)."""
        biases = list(self.source.biases) if self.own_biases else []
        return [v.detach() for v in [*self.start, *biases]]

    def start_adapter(self) -> list[nn.Parameter]:
        """Fresh trainable adapter values at their start; at it, a target is the source."""
        return [nn.Parameter(v.clone()) for v in self.start_values()]

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
        """Train a new adapter for a target: physics loss + penalty_weight * ||adapter - its start||^2.

        The adapter starts at the source (`start_adapter`), or at a copy of the calibrated
        adapter `start`.
        """
        adapter = self.start_adapter()
        if start is not None:
            with torch.no_grad():
                for values, begin in zip(adapter, self.target_adapter(start)):
                    values.copy_(begin)
        result = train(
            AdaptedNetwork(self, adapter), loss_fn, adapter, budget, evaluator,
            penalty=self._pull_to_start(adapter, penalty_weight), **train_options,
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
        adapters = [nn.Parameter(v.expand(len(keys), *v.shape).clone()) for v in self.start_values()]
        result = train(StackedAdaptedNetwork(self, adapters), loss, adapters, budget, None,
                       penalty=self._pull_to_start(adapters, penalty_weight), **train_options)
        for k, key in enumerate(keys):
            self.set_adapter(key, [values.detach()[k].clone() for values in adapters])
        return result

    def _pull_to_start(self, adapter: list[torch.Tensor], weight: float) -> Callable[[], torch.Tensor]:
        """weight * ||adapter - start||^2, the calibration's pull towards the source's values."""
        if weight < 0:
            raise InputError(f"the calibration penalty weight must be >= 0, got {weight}")
        start = self.start_values()
        return lambda: weight * sum((values - begin).square().sum() for values, begin in zip(adapter, start))
