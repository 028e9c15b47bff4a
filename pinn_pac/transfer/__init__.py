"""Ways to move a trained source PINN to a target member of its family, one module each, all
behind `base.TransferMethod`.

* `scratch`    a fresh network trained on the target alone.
* `finetune`   every weight, warm-started from the source (or the nearest member).
* `l2sp`       `finetune` plus alpha * ||theta - theta_source||^2.
* `freeze`     the last layer only; the rest of the source stays as it is.
* `lora`       rank-r updates B A added to every weight matrix; the source stays as it is.
* `parametric` the coefficient as an extra input, trained over the range the source and the
               targets span, then fine-tuned on each target.
* `pac`        PAC-Net: Prune, Allocate, then calibrate only the freed weights.

Adding a method is one new module with one `TransferMethod` subclass, listed in `METHODS`.
"""

from __future__ import annotations

from typing import Any

from equations.errors import InputError

from .base import Adapted, NoOptions, TransferContext, TransferMethod, option
from .finetune import FineTune
from .freeze import Freeze
from .l2sp import L2SP
from .lora import LoRA, LoRANetwork
from .nearest import coefficient_distance
from .pac import PAC
from .parametric import AtCoefficient, CoefficientRange, Parametric
from .scratch import Scratch

METHODS: dict[str, type[TransferMethod]] = {
    method.name: method for method in (Scratch, FineTune, L2SP, Freeze, LoRA, Parametric, PAC)
}
#: The method a transfer uses unless told otherwise, and that of runs saved before others existed.
DEFAULT_METHOD = PAC.name


def make_method(name: str, **options: Any) -> TransferMethod:
    """The transfer method called `name`, with its options (unknown names are refused)."""
    if name not in METHODS:
        raise InputError(f"unknown transfer method {name!r}; use one of {', '.join(METHODS)} or all")
    return METHODS[name](**options)


__all__ = ["DEFAULT_METHOD", "METHODS", "Adapted", "AtCoefficient", "CoefficientRange", "FineTune", "Freeze", "L2SP", "LoRA",
           "LoRANetwork", "NoOptions", "PAC", "Parametric", "Scratch", "TransferContext", "TransferMethod",
           "coefficient_distance", "make_method", "option"]
