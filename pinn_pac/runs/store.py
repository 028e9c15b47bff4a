"""A run directory as a durable store: a manifest, one file per finished piece, and the
training state of the phase in progress.

Layout (every file written atomically):

    manifest.json            the job in library terms (see `config.SolveJob`, `TransferJob`)
                             and which pieces are finished; written before training starts
    source.pt                the trained source, before any method touched it (a "solve" checkpoint;
                             a solve run keeps its trained network there before its reports)
    <method>/prepared.pt     the method's shared state after its preparation (PAC-Net: the
                             allocated network and masks), with the run's metadata
    <method>/<key>.pt        one finished target: the method's state for it, record and history
    history.csv              every record of every phase, a row each as it is made
    state/<piece>.pt         the phase in progress, every so many quasi-Newton iterations
                             (network, optimizer, points, random streams, history); removed
                             once its piece is finished

A finished run also holds checkpoint.pt (or one per method folder); `read_payloads`
assembles the same checkpoints from the pieces of a run that was stopped before that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..solver.callbacks import Callback
from ..solver.interrupts import uninterrupted
from ..solver.train import TrainingState
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_json

MANIFEST = "manifest.json"
FORMAT = "pinn-pac-run"
#: 2: the manifest holds the job in library terms ("job"); 1 held command-line options.
FORMAT_VERSION = 2
SOURCE = "source"
#: The history of every phase, a row per record, written as the records are made (and again
#: in full, by phase, once a run of one method is saved).
HISTORY_LOG = "history.csv"
SOLVE = "solve"
STATE = "state"
#: Quasi-Newton iterations between two saves of a phase's training state: a save (the dense
#: matrix with the rest, 15 MB for the default network) costs about 0.4% of that many
#: iterations' time (benchmarks/README.md, "resumable phases").
STATE_EVERY = 100


def _piece_path(run_dir: Path, piece: str) -> Path:
    return run_dir / (piece.replace(",", "_") + ".pt")


class FileTrainingState(TrainingState):
    """A phase's training state in one file, written atomically."""

    def __init__(self, path: Path, every: int = STATE_EVERY) -> None:
        super().__init__(every)
        self.path = path

    def load(self) -> dict[str, Any] | None:
        return load_checkpoint(self.path) if self.path.is_file() else None

    def save(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.path, state)


class RunStore:
    """The pieces of one run directory, and the manifest that lists them."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = manifest
        #: Told of every record of every phase trained into this store as it is made (a job
        #: run in its folder gives it RUN/history.csv, see `folder_jobs.Runtime.logs`).
        self.callbacks: list[Callback] = []

    @classmethod
    def create(cls, run_dir: Path, job: dict[str, Any]) -> "RunStore":
        """A new store for `job` (a `SolveJob` or `TransferJob` as a dict), its manifest
        written at once, before any training."""
        store = cls(run_dir, {"format": FORMAT, "version": FORMAT_VERSION, "job": job, "finished": []})
        store._write_manifest()
        return store

    @classmethod
    def open(cls, run_dir: Path) -> "RunStore":
        """The store in `run_dir`; a folder without a readable manifest is refused."""
        path = Path(run_dir) / MANIFEST
        if not path.is_file():
            raise CheckpointError(f"{run_dir} holds no resumable run (no {MANIFEST})")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{path} is not readable: {error}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a pinn-pac run manifest")
        if manifest.get("version") != FORMAT_VERSION or not isinstance(manifest.get("job"), dict):
            raise CheckpointError(f"{path} was written by an earlier pinn-pac and cannot be resumed; "
                                  f"its finished models still evaluate (pinn-pac evaluate {run_dir})")
        return cls(run_dir, manifest)

    @property
    def job(self) -> dict[str, Any]:
        return self.manifest["job"]

    def set_job(self, job: dict[str, Any]) -> None:
        """A changed job (--from's added targets), written at once: an interrupted run resumes
        it; a run that was finished is no longer (its new targets are not)."""
        self.manifest["job"] = job
        self.manifest["finished"] = [piece for piece in self.manifest["finished"] if piece != job["kind"]]
        self._write_manifest()

    @property
    def finished(self) -> bool:
        """Whether the whole run is finished: its job's kind ("solve", "transfer") is listed,
        written after every report."""
        return self.has(self.job.get("kind"))

    def _write_manifest(self) -> None:
        write_json(self.run_dir / MANIFEST, self.manifest)

    def has(self, piece: str) -> bool:
        return piece in self.manifest["finished"]

    def save(self, piece: str, payload: dict[str, Any]) -> None:
        """Write one finished piece ("source", "pac/prepared", "pac/nu=0.02"), list it, and
        drop the training state it leaves behind."""
        save_checkpoint(_piece_path(self.run_dir, piece), payload)
        self.finish(piece)

    def finish(self, piece: str) -> None:
        """List `piece` as finished where its files are written elsewhere (a solve's
        checkpoint.pt), and drop its training state; a stop during this takes effect after it."""
        with uninterrupted():
            if piece not in self.manifest["finished"]:
                self.manifest["finished"].append(piece)
            self._write_manifest()
            self.training_state(piece).path.unlink(missing_ok=True)

    def load(self, piece: str) -> dict[str, Any] | None:
        """A finished piece, or None where it is not finished."""
        return load_checkpoint(_piece_path(self.run_dir, piece)) if self.has(piece) else None

    def training_state(self, piece: str) -> FileTrainingState:
        """Where the phase that makes `piece` keeps its training state."""
        return FileTrainingState(_piece_path(self.run_dir / STATE, piece))

    def summary(self) -> str:
        """What is finished, in words: "the source and 2 targets (pac 2, lora 0)"."""
        finished = self.manifest["finished"]
        if SOURCE not in finished:
            return "nothing finished yet"
        methods = [m["name"] for m in self.job.get("methods", [])]
        counts = {m: sum(1 for p in finished if p.startswith(f"{m}/") and p != prepared_piece(m)) for m in methods}
        total = sum(counts.values())
        text = f"the source and {total} target{'s' * (total != 1)}"
        return text + (f" ({', '.join(f'{m} {n}' for m, n in counts.items())})" if len(counts) > 1 else "")


def target_piece(method: str, key: str) -> str:
    return f"{method}/{key}"


def prepared_piece(method: str) -> str:
    return f"{method}/prepared"


def read_payloads(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every checkpoint of a run directory, by method ("" for a solve run or a transfer run
    of one method saved before method folders): checkpoint.pt where the run finished (one per
    method folder for --method all), else assembled from its finished pieces (a checkpoint.pt
    left from before a --from that is not finished yet is older than they are)."""
    run_dir = Path(run_dir)
    store = _current_store(run_dir)
    if store is None or store.finished:
        if not (run_dir / "checkpoint.pt").is_file():
            order = [m["name"] for m in store.job.get("methods", [])] if store else []
            folders = sorted((p.parent for p in run_dir.glob("*/checkpoint.pt")),
                             key=lambda f: (order.index(f.name) if f.name in order else len(order), f.name))
            if folders:
                return {folder.name: load_checkpoint(folder) for folder in folders}
        return {"": load_checkpoint(run_dir)}
    finished = store.manifest["finished"]
    methods = [piece.split("/")[0] for piece in finished if piece.endswith("/prepared")]
    if not methods:
        payload = store.load(SOURCE)
        if payload is None:
            raise CheckpointError(f"{run_dir} holds no finished model yet")
        return {"": payload}
    payloads = {}
    for method in methods:
        payload = {k: v for k, v in store.load(prepared_piece(method)).items() if k not in ("prepare", "history")}
        targets = [store.load(piece) for piece in finished
                   if piece.startswith(f"{method}/") and piece != prepared_piece(method)]
        payload["targets"] = [{k: v for k, v in t.items() if k not in ("record", "history")} for t in targets]
        payloads[method] = payload
    return payloads


def _current_store(run_dir: Path) -> RunStore | None:
    """The store of a run folder whose manifest this pinn-pac writes; None for a folder without
    one (its checkpoints stand alone) or with an earlier one (its checkpoints were its last word)."""
    try:
        return RunStore.open(run_dir) if (run_dir / MANIFEST).is_file() else None
    except CheckpointError:
        return None
