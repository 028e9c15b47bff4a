"""A run directory as a durable store: a manifest and one file per finished piece.

Layout (every file written atomically, the manifest after the piece it names):

    manifest.json            what the run is (the options that started it) and which pieces are
                             finished; written with the first piece
    source.pt                the trained source, before any method touched it (a "solve" checkpoint)
    <method>/prepared.pt     the method's shared state after its preparation (PAC-Net: the
                             allocated network and masks), with the run's metadata
    <method>/<key>.pt        one finished target: the method's state for it, record and history

A finished run also holds checkpoint.pt (or one per method folder); `read_payload` assembles
the same checkpoint from the pieces of a run that was stopped before that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_json

MANIFEST = "manifest.json"
FORMAT = "pinn-pac-run"
SOURCE = "source"


def _piece_path(run_dir: Path, piece: str) -> Path:
    return run_dir / (piece.replace(",", "_") + ".pt")


class RunStore:
    """The pieces of one run directory, and the manifest that lists them."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = manifest

    @classmethod
    def create(cls, run_dir: Path, options: dict[str, Any]) -> "RunStore":
        """A new store for a run started with `options` (what resuming it needs); its
        manifest is written with the first finished piece."""
        return cls(run_dir, {"format": FORMAT, "options": options, "finished": []})

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
        return cls(run_dir, manifest)

    @property
    def options(self) -> dict[str, Any]:
        return self.manifest["options"]

    def set_options(self, options: dict[str, Any]) -> None:
        """New options (--from's added targets), written with the next finished piece."""
        self.manifest["options"] = options

    def _write_manifest(self) -> None:
        write_json(self.run_dir / MANIFEST, self.manifest)

    def has(self, piece: str) -> bool:
        return piece in self.manifest["finished"]

    def save(self, piece: str, payload: dict[str, Any]) -> None:
        """Write one finished piece ("source", "pac/prepared", "pac/nu=0.02"), then list it."""
        save_checkpoint(_piece_path(self.run_dir, piece), payload)
        if piece not in self.manifest["finished"]:
            self.manifest["finished"].append(piece)
        self._write_manifest()

    def load(self, piece: str) -> dict[str, Any] | None:
        """A finished piece, or None where it is not finished."""
        return load_checkpoint(_piece_path(self.run_dir, piece)) if self.has(piece) else None

    def summary(self) -> str:
        """What is finished, in words: "the source and 2 targets"."""
        finished = self.manifest["finished"]
        targets = sum(1 for piece in finished if "/" in piece and not piece.endswith("/prepared"))
        if SOURCE not in finished:
            return "nothing finished yet"
        return f"the source and {targets} target{'s' * (targets != 1)}"


def target_piece(method: str, key: str) -> str:
    return f"{method}/{key}"


def prepared_piece(method: str) -> str:
    return f"{method}/prepared"


def read_payload(run_dir: Path) -> dict[str, Any]:
    """The checkpoint of a run directory: checkpoint.pt where the run finished, else one
    assembled from its finished pieces (the first method's, or the source alone)."""
    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST).is_file() or (run_dir / "checkpoint.pt").is_file():
        return load_checkpoint(run_dir)
    store = RunStore.open(run_dir)
    finished = store.manifest["finished"]
    prepared = next((piece for piece in finished if piece.endswith("/prepared")), None)
    if prepared is None:
        payload = store.load(SOURCE)
        if payload is None:
            raise CheckpointError(f"{run_dir} holds no finished model yet")
        return payload
    method = prepared.split("/")[0]
    payload = {k: v for k, v in store.load(prepared).items() if k not in ("prepare", "history")}
    targets = [store.load(piece) for piece in finished
               if piece.startswith(f"{method}/") and piece != prepared]
    payload["targets"] = [{k: v for k, v in t.items() if k not in ("record", "history")} for t in targets]
    return payload
