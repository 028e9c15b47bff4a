"""pinn-pac: physics-informed neural networks for equation families, with PAC-Net transfer.

The physics lives in the separate `equations` package; this package is the learner.
Start with `pinn_pac.runs` (whole jobs) or the `pinn-pac` command.
"""
