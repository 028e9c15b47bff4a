"""pinn-pac: physics-informed neural networks for equation families, with PAC-Net transfer.

The physics lives in the separate `equations` package; this package is the learner.
Start with `pinn_pac.runs` (whole jobs), `pinn_pac.identify` (coefficients from data) or the
`pinn-pac` command.
"""

from .runs.identify_job import identify

__all__ = ["identify"]
