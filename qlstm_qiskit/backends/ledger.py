"""A run's job ledger: what was submitted to a device, and the results that came back.

``ledger.jsonl`` in the ledger folder holds one JSON object a line, appended and fsynced: at least
``key`` (what identifies a job's computation) and ``status`` (one of :data:`STATUSES`), with the
job id, tags and what it computes when submitted and the result's file when done; the last line of
a key says its state. ``failed`` and ``cancelled`` (:data:`ENDED_WITHOUT_RESULT`) are alike: the
job ended without a result, and a later run submits it again. Results are ``results/<key>.npz``.
The ledger is pure bookkeeping: :class:`~qlstm_qiskit.backends.jobs.LedgerEstimator` decides what
to submit, :mod:`~qlstm_qiskit.backends.job_admin` lists, refreshes, rebuilds and cancels. It holds
no credentials.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write

LEDGER_FILE = "ledger.jsonl"
#: the states of a job: submitted (its id is known, its result not yet), done (its result is
#: saved), failed or cancelled (ended without a result: a later run submits it again)
STATUSES = ("submitted", "done", "failed", "cancelled")
#: the states of a job that ended without a result
ENDED_WITHOUT_RESULT = ("failed", "cancelled")


class Ledger:
    """A run's job ledger: ``ledger.jsonl`` (one JSON object a line, appended and fsynced) and
    ``results/<key>.npz`` in ``folder``. The last line of a key says its state."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)  # created with the first entry
        self.path = self.folder / LEDGER_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.lines: list[dict[str, Any]] = []
        if self.path.exists():
            text = self.path.read_text().splitlines()
            for number, line in enumerate(text, start=1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as exc:
                    if number == len(text):  # a line cut short by a crash: ignore it
                        break
                    raise ValueError(
                        f"job ledger {self.path}: line {number} is not JSON ({exc})"
                    ) from exc
                _check_entry(entry, f"job ledger {self.path}: line {number}")
                self.lines.append(entry)
                self.entries[entry["key"]] = {**self.entries.get(entry["key"], {}), **entry}

    def record(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` (it must hold ``key`` and a ``status`` of :data:`STATUSES`)
        durably."""
        _check_entry(entry, f"Ledger.record ({self.path})")
        entry = {**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (self.folder / "results").mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.lines.append(entry)
        self.entries[entry["key"]] = {**self.entries.get(entry["key"], {}), **entry}

    def save_result(self, key: str, arrays: dict[str, np.ndarray]) -> str:
        """Write a result atomically (on disk before the ``done`` line that names it); returns its
        file name relative to the ledger folder."""
        name = f"results/{key}.npz"
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(self.folder / name, buffer.getvalue())
        return name

    def load_result(self, entry: dict[str, Any]) -> dict[str, np.ndarray] | None:
        """The saved arrays, or ``None`` when the file is missing or unreadable (e.g. cut short
        by a crash): the job is then computed again."""
        try:
            with np.load(self.folder / entry["result"]) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None

    def finished(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        if entry and entry["status"] == "done" and (self.folder / entry["result"]).exists():
            return entry
        return None

    @property
    def submitted(self) -> int:
        """Jobs submitted over every process that used this ledger."""
        return sum(1 for line in self.lines if line["status"] == "submitted")


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise ValueError(f"{where}: expected a JSON object with a string 'key', got {entry!r}")
    if entry.get("status") not in STATUSES:
        raise ValueError(
            f"{where}: status must be one of {', '.join(STATUSES)}, got {entry.get('status')!r}"
        )
