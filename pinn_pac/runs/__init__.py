"""Whole jobs: solve one equation, or move a source to targets by transfer methods; the run
folder they write (manifest, pieces, training state, checkpoints), parallel targets, reports,
and reloading. The command line and the benchmarks call these."""

from __future__ import annotations

from .assemble import apply_threads, build_network, evaluator_for, physics_loss, transfer_context
from .config import (
    DEVICES, DTYPES, SOLVE_BUDGET, Settings, SolveJob, TransferJob, TransferSettings, resolve_device,
)
from .transfer_job import as_methods, check_targets, check_transfer, transfer
from .records import Record, SolveRun, TransferRun, error_text
from .reload import LoadedRun, evaluate_run, load_runs, saved_settings
from .reports import comparison_table, plot_model, save_comparison, save_family, save_solve, save_transfer
from .solve_job import solve, solve_checkpoint

__all__ = [
    "DEVICES", "DTYPES", "SOLVE_BUDGET", "LoadedRun", "Record", "Settings", "SolveJob", "SolveRun", "TransferJob",
    "TransferRun", "TransferSettings", "apply_threads", "as_methods", "build_network", "check_targets",
    "check_transfer", "comparison_table", "error_text", "evaluate_run", "evaluator_for", "load_runs",
    "physics_loss", "plot_model", "resolve_device", "save_comparison", "save_family", "save_solve",
    "save_transfer", "saved_settings", "solve", "solve_checkpoint", "transfer", "transfer_context",
]
