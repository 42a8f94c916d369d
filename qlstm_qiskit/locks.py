"""Folders held by one process at a time: an OS file lock (``fcntl.flock``) on ``<folder>/.lock``.

:func:`hold` is a context manager::

    with hold(run_dir, what="run directory"):           # refuse at once if another process has it
        ...
    with hold(ledger_dir, what="job ledger", timeout=60):  # or wait up to 60 s for it
        ...

While held, the lock file names the holder: its pid, host, start time and what it holds; a
second process gets a :class:`FolderLocked` error that says so. The operating system releases the
lock when the holder ends in any way (``kill -9`` included), so a lock is never stale; the file
itself stays (removing it would let two processes lock two different files of one name).

Within one process a lock is re-entrant: a nested :func:`hold` of a folder the process already
holds passes at once (a training that holds its run directory may call code that holds it too).
Threads of one process therefore share it, and so does a child process forked while it is held
(it inherits the open lock file); the lock separates independent processes. ``flock`` works on
local file systems; on network file systems (NFS) it may not be enforced between machines.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"
#: seconds between two tries while waiting for a lock held by another process
POLL_SECONDS = 0.05

#: folders this process holds: resolved path -> [lock file descriptor, holders]
_held: dict[Path, list[int]] = {}


class FolderLocked(BlockingIOError):
    """Another process holds the folder; the message names it (pid, host, start time)."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        #: what the holder wrote into the lock file (``pid``, ``host``, ``started``, ``what``);
        #: empty when it had not written it yet
        self.holder = holder or {}


def holder(folder: str | os.PathLike) -> dict:
    """What the lock file of ``folder`` says about its current or last holder (``{}`` if none);
    informative only: whether the folder is held is what :func:`hold` finds out."""
    try:
        return _parse((Path(folder) / LOCK_FILE).read_text())
    except OSError:
        return {}


@contextmanager
def hold(
    folder: str | os.PathLike, what: str = "folder", *, timeout: float | None = 0.0
) -> Iterator[Path]:
    """Hold ``folder`` (created if missing) for this process; yields its path.

    Args:
        folder: the folder to hold; its lock file is ``folder/.lock``.
        what: what the folder is (``"run directory"``, ``"job ledger"``), for the messages.
        timeout: seconds to wait for another holder to let go: ``0`` (the default) refuses at
            once, ``None`` waits as long as it takes.

    Raises:
        FolderLocked: another process holds ``folder`` (after ``timeout`` seconds); the message
            names the holder's pid, host and start time.
        OSError: the folder or its lock file cannot be created or opened (the message names it).
        ValueError: a negative or non-finite ``timeout``.
    """
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 <= timeout < float("inf")
    ):
        raise ValueError(f"hold: timeout must be None or a finite number >= 0, got {timeout!r}")
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = folder.resolve()
        descriptor = None if key in _held else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot lock the {what} {folder}: {exc.strerror or exc}", str(path)
        ) from exc
    if descriptor is not None:
        try:
            _acquire(descriptor, folder, what, timeout)
            _write_holder(descriptor, what)
        except BaseException:
            os.close(descriptor)
            raise
        _held[key] = [descriptor, 0]
    _held[key][1] += 1  # re-entrant within a process: the last one out lets go, whichever it is
    try:
        yield folder
    finally:
        _let_go(key)


def _let_go(key: Path) -> None:
    """One holder of ``key`` in this process is done; the last one unlocks and closes."""
    entry = _held[key]
    entry[1] -= 1
    if entry[1] == 0:
        del _held[key]
        descriptor = entry[0]
        try:
            os.ftruncate(descriptor, 0)  # while still held: the next holder writes its own
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)


def _acquire(descriptor: int, folder: Path, what: str, timeout: float | None) -> None:
    """Lock ``descriptor`` exclusively, waiting up to ``timeout`` seconds (None: for ever)."""
    if timeout is None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
    info = _read_holder(descriptor)
    if info:
        role = info.get("what")
        role = f", holding it as the {role}" if role not in (None, what) else ""
        who = (
            f"process {info.get('pid', '?')} on {info.get('host', '?')} "
            f"(started {info.get('started', '?')}{role})"
        )
    else:
        who = "another process (which has not yet written its details)"
    waited = f" after waiting {timeout:g} s" if timeout else ""
    raise FolderLocked(
        f"the {what} {folder} is in use by {who}{waited}; wait for it to finish or use "
        f"another {what} (its lock file: {folder / LOCK_FILE})",
        info,
    )


def _write_holder(descriptor: int, what: str) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "what": what,
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)


def _read_holder(descriptor: int) -> dict:
    size = os.fstat(descriptor).st_size
    return _parse(os.pread(descriptor, min(size, 4096), 0).decode("utf-8", "replace"))


def _parse(text: str) -> dict:
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
