"""What a training phase tells others as it goes: each record it makes (step, seconds, loss,
reference error, each loss term, each tracked value), so that a run can be watched while it
trains: a CSV file that grows a row per record, TensorBoard event files."""

from __future__ import annotations

import csv
import fcntl
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: The columns every record has, before its loss terms and tracked values.
FIRST_COLUMNS = ("phase", "step", "seconds", "loss", "rel_l2")


class Callback:
    """Told of every record a training phase makes (`label` names the phase)."""

    def on_start(self, label: str, after_step: int) -> None:
        """A phase begins, or goes on from a kept state whose last record was at `after_step`
        (-1 for a start from nothing): records past it made before a stop come again."""

    def on_record(self, label: str, row: dict[str, float]) -> None:
        """One record: "step", "seconds", "loss", "rel_l2" (NaN without a reference), then
        each loss term and each tracked value by name."""


class CsvLog(Callback):
    """A CSV file with a row per record, each written as it is made (phase, step, seconds,
    loss, rel_l2, then the loss terms and tracked values); a record with a column the file
    has not had yet rewrites it with that column added, and a phase that starts again drops
    its rows past where it goes on from. Several processes (workers) may write one file: each
    change holds the file's lock. It holds only its path, so it travels to worker processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_start(self, label: str, after_step: int) -> None:
        with self._locked():
            columns, rows = self._read()
            kept = [row for row in rows if row["phase"] != label or int(row["step"]) <= after_step]
            if columns is not None and len(kept) != len(rows):
                self._write(columns, kept)

    def on_record(self, label: str, row: dict[str, float]) -> None:
        values = {"phase": label, **row}
        with self._locked():
            columns = self._header()
            if columns is None or not set(values) <= set(columns):
                columns = [*(columns or FIRST_COLUMNS)]
                columns += [name for name in values if name not in columns]
                self._write(columns, self._read()[1])
            with self.path.open("a", newline="") as stream:
                csv.writer(stream, lineterminator="\n").writerow([csv_cell(values.get(c)) for c in columns])

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _header(self) -> list[str] | None:
        if not self.path.is_file():
            return None
        with self.path.open(newline="") as stream:
            return next(csv.reader(stream), None)

    def _read(self) -> tuple[list[str] | None, list[dict[str, str]]]:
        if not self.path.is_file():
            return None, []
        with self.path.open(newline="") as stream:
            reader = csv.DictReader(stream)
            rows = [row for row in reader if None not in row]  # a line cut short by a kill is dropped
            return reader.fieldnames, rows

    def _write(self, columns: list[str], rows: list[dict[str, str]]) -> None:
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", newline="") as stream:
            writer = csv.DictWriter(stream, columns, lineterminator="\n", restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, self.path)


def csv_cell(value: object) -> str:
    """A history value as a CSV cell: empty where unavailable (None, NaN), else its repr."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else repr(value)


class TensorBoardLog(Callback):
    """Scalars for TensorBoard under `folder` (torch's own `SummaryWriter`, which needs the
    tensorboard package): `<phase>/<column>` against the step, flushed as they come."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._writer = None

    def on_record(self, label: str, row: dict[str, float]) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder))
        step = int(row["step"])
        for name, value in row.items():
            if name != "step" and not math.isnan(value):
                self._writer.add_scalar(f"{label}/{name}", value, step)
        self._writer.flush()

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "_writer": None}  # each process opens its own event file
