"""What a training phase tells others as it goes: each record it makes (step, seconds, loss,
reference error, each loss term, each tracked value), so that a run can be watched while it
trains: a CSV file that grows a row per record, TensorBoard event files."""

from __future__ import annotations

import csv
import math
from pathlib import Path

#: The columns every record has, before its loss terms and tracked values.
FIRST_COLUMNS = ("phase", "step", "seconds", "loss", "rel_l2")


class Callback:
    """Told of every record a training phase makes (`label` names the phase)."""

    def on_record(self, label: str, row: dict[str, float]) -> None:
        """One record: "step", "seconds", "loss", "rel_l2" (NaN without a reference), then
        each loss term and each tracked value by name."""


class CsvLog(Callback):
    """A CSV file with a row per record, each written as it is made (phase, step, seconds,
    loss, rel_l2, then the loss terms and tracked values); a record with a column the file
    has not had yet rewrites it with that column added. Rows kept before (a resumed run's)
    stay. It holds only its path, so it travels to worker processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_record(self, label: str, row: dict[str, float]) -> None:
        columns = self._columns()
        values = {"phase": label, **row}
        if columns is None or not set(values) <= set(columns):
            self._rewrite([*(columns or FIRST_COLUMNS), *(k for k in values if k not in (columns or FIRST_COLUMNS))])
            columns = self._columns()
        with self.path.open("a", newline="") as stream:
            csv.writer(stream, lineterminator="\n").writerow([_cell(values.get(c)) for c in columns])

    def _columns(self) -> list[str] | None:
        if not self.path.is_file():
            return None
        with self.path.open(newline="") as stream:
            return next(csv.reader(stream), None)

    def _rewrite(self, columns: list[str]) -> None:
        rows = []
        if self.path.is_file():
            with self.path.open(newline="") as stream:
                rows = list(csv.DictReader(stream))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, columns, lineterminator="\n", restval="")
            writer.writeheader()
            writer.writerows(rows)
        temporary.replace(self.path)


def _cell(value: object) -> str:
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
