"""Durable file writes shared by the job ledger and the training runs."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def temporary_name(path: str | os.PathLike) -> Path:
    """A temporary file beside ``path``, unique to this process and call:
    ``.<name>.<pid>.<random>.tmp`` (same folder, so ``os.replace`` onto ``path`` is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: str | os.PathLike, content: bytes) -> None:
    """Write ``content`` to ``path`` so that a crash leaves either the old or the new file.

    The bytes go to a temporary file beside it (:func:`temporary_name`: unique per process and
    call, so concurrent writers never share one), are fsynced, then replace ``path``; the folder
    is fsynced too, so the new name survives a power cut. On any failure the temporary file is
    removed and ``path`` is left as it was. Of concurrent writers to one path, the last to
    replace it wins, and the file is always one writer's complete content.
    """
    path = Path(path)
    temporary = temporary_name(path)
    try:
        with open(temporary, "xb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk, where the platform allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a folder that cannot be opened for reading
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems do not fsync folders; the data itself is synced
        pass
    finally:
        os.close(descriptor)
