"""Durable file writes shared by the job ledger and the training runs."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: str | os.PathLike, content: bytes) -> None:
    """Write ``content`` to ``path`` so that a crash leaves either the old or the new file: the
    bytes go to ``<name>.tmp`` beside it, are fsynced, then replace ``path``."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
