"""A run's job ledger: what was submitted to a device, and the results that came back.

``ledger.jsonl`` in the ledger folder holds one JSON object a line, appended and fsynced: at least
``key`` (what identifies a job's computation) and ``status`` (one of :data:`STATUSES`), with the
job id, tags and what it computes when submitted and the result's file and its SHA-256 when done;
the last line of a key says its state. ``failed`` and ``cancelled``
(:data:`ENDED_WITHOUT_RESULT`) are alike: the job ended without a result, and a later run submits
it again. Results are ``results/<key>.npz``.
The ledger is pure bookkeeping: :class:`~qlstm_qiskit.backends.jobs.LedgerEstimator` decides what
to submit, :mod:`~qlstm_qiskit.backends.job_admin` lists, refreshes, rebuilds and cancels. It holds
no credentials.

Integrity:

- one writer at a time: whoever appends holds the folder (:meth:`Ledger.holding`, an OS lock of
  :mod:`qlstm_qiskit.locks`; a second process gets an error naming the holder) and reads the file
  again once it has it;
- a last line cut short by a crash is ignored when read and cut off (with a warning) before the
  next line is appended, so that the next line never joins it;
- :meth:`Ledger.check_writable` before anything is submitted;
- a ``done`` line names ``results/<key>.npz`` of its own key and nothing else, and records the
  file's SHA-256, which :meth:`Ledger.load_result` verifies: a changed or swapped result is an
  error, never a silently different answer (lines written before hashes were recorded are read as
  they are);
- a line that is not a JSON object with a string ``key`` and a known ``status`` is an error naming
  the file and the line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write
from ..locks import hold

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
        self.reload()

    def reload(self) -> None:
        """Read ``ledger.jsonl`` again (another process may have appended to it). A last line
        without its newline (cut short by a crash) is left out."""
        self.entries, self.lines = {}, []
        if not self.path.exists():
            return
        try:
            text = self.path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"job ledger {self.path}: cannot read it ({exc})") from exc
        complete = text.split("\n")[:-1]  # the part after the last newline is cut short or empty
        for number, line in enumerate(complete, start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"job ledger {self.path}: line {number} is not JSON ({exc}): {line[:80]!r}"
                ) from exc
            _check_entry(entry, f"job ledger {self.path}: line {number}")
            self.lines.append(entry)
            self.entries[entry["key"]] = {**self.entries.get(entry["key"], {}), **entry}

    @contextmanager
    def holding(self, timeout: float | None = 0.0) -> Iterator[Ledger]:
        """Hold the ledger folder for this process (:func:`qlstm_qiskit.locks.hold`; another
        process holding it is a ``FolderLocked`` error naming it, after ``timeout`` seconds),
        read the file again, cut off a torn last line (with a warning), and yield the ledger."""
        with hold(self.folder, "job ledger", timeout=timeout):
            self.reload()
            if self.path.exists():
                self._cut_torn_line()  # repaired on open, before anything else is written
            yield self

    def check_writable(self) -> None:
        """Make sure lines and results can be written (call it before submitting anything):
        the folder, ``results/`` and ``ledger.jsonl`` are created or opened for appending; a
        failure is a ``ValueError`` naming the path."""
        try:
            (self.folder / "results").mkdir(parents=True, exist_ok=True)
            with self.path.open("a"):
                pass
            if not os.access(self.folder / "results", os.W_OK | os.X_OK):
                raise PermissionError(f"{self.folder / 'results'} is not writable")
        except OSError as exc:
            raise ValueError(
                f"job ledger {self.folder}: cannot be written ({exc}); nothing was submitted"
            ) from exc

    def record(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` (it must hold ``key`` and a ``status`` of :data:`STATUSES`)
        durably, after cutting off a last line that a crash left without its newline."""
        _check_entry(entry, f"Ledger.record ({self.path})")
        entry = {**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (self.folder / "results").mkdir(parents=True, exist_ok=True)
        self._cut_torn_line()
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.lines.append(entry)
        self.entries[entry["key"]] = {**self.entries.get(entry["key"], {}), **entry}

    def _cut_torn_line(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            keep = data.rfind(b"\n") + 1
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        warnings.warn(
            f"job ledger {self.path}: its last line was cut short (a crash while it was "
            f"written) and is removed: {data[keep:][:80]!r}",
            UserWarning,
            stacklevel=3,
        )

    def save_result(self, key: str, arrays: dict[str, np.ndarray]) -> dict[str, str]:
        """Write a result atomically (on disk before the ``done`` line that names it); returns
        what the ``done`` line records of it: ``{"result": file name relative to the ledger
        folder, "sha256": its content hash}``."""
        name = result_name(key)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        content = buffer.getvalue()
        atomic_write(self.folder / name, content)
        return {"result": name, "sha256": hashlib.sha256(content).hexdigest()}

    def load_result(self, entry: dict[str, Any]) -> dict[str, np.ndarray] | None:
        """The saved arrays of a ``done`` entry, or ``None`` when the file is missing or, for a
        line without a hash, unreadable (the job is then computed again). A file whose content
        does not match the line's SHA-256 is a ``ValueError``: it was changed or swapped."""
        path = self._result_path(entry)
        try:
            content = path.read_bytes()
        except OSError:
            return None
        expected = entry.get("sha256")
        if expected is not None and hashlib.sha256(content).hexdigest() != expected:
            raise ValueError(
                f"job ledger {self.path}: the result {path} of key {entry['key']} does not match "
                "the SHA-256 its done line records (the file was changed or swapped after it "
                "was written); move it away to compute that job again"
            )
        try:
            with np.load(io.BytesIO(content)) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            if expected is not None:  # it matched its hash, so this is not a torn write
                raise
            return None

    def finished(self, key: str) -> dict[str, Any] | None:
        """The ``done`` entry of ``key`` whose result file exists, else ``None``."""
        entry = self.entries.get(key)
        if entry and entry["status"] == "done" and self._result_path(entry).exists():
            return entry
        return None

    def _result_path(self, entry: dict[str, Any]) -> Path:
        """The result file of a ``done`` entry: ``results/<key>.npz`` of its own key, nothing
        else (a path elsewhere, or another key's file, is a ``ValueError``)."""
        expected = result_name(entry["key"])
        if entry.get("result") != expected:
            raise ValueError(
                f"job ledger {self.path}: the done line of key {entry['key']} names the result "
                f"{entry.get('result')!r}; a result must be {expected!r}, inside the ledger folder"
            )
        return self.folder / expected

    @property
    def submitted(self) -> int:
        """Jobs submitted over every process that used this ledger."""
        return sum(1 for line in self.lines if line["status"] == "submitted")


def result_name(key: str) -> str:
    """The result file of ``key``, relative to the ledger folder."""
    return f"results/{key}.npz"


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise ValueError(f"{where}: expected a JSON object with a string 'key', got {entry!r}")
    if entry.get("status") not in STATUSES:
        raise ValueError(
            f"{where}: status must be one of {', '.join(STATUSES)}, got {entry.get('status')!r}"
        )
