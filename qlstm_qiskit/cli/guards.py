"""Checks the commands make before any computation starts: output paths that can be written,
numeric flags in range (shot counts are the backends' own checks).

Each raises :class:`~.errors.CommandError` naming the flag, what was given and what was
expected."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..checks import MAX_SEED
from .errors import CommandError


def check_output_dir(path: Path, flag: str) -> None:
    """``path`` is an existing folder, or one that can be created (its nearest existing
    ancestor is a writable folder)."""
    if path.exists():
        if not path.is_dir():
            raise CommandError(f"{flag} {path}: expected a directory, got an existing file")
        if not os.access(path, os.W_OK | os.X_OK):
            raise CommandError(f"{flag} {path}: the directory is not writable")
        return
    _check_creatable(path, flag)


def check_output_file(path: Path, flag: str) -> None:
    """``path`` is a file that can be written: not a folder, in a folder that exists or can be
    created, writable if it exists."""
    if path.is_dir():
        raise CommandError(
            f"{flag} {path}: expected a file name, got a directory (e.g. {path / 'out.csv'})"
        )
    if path.exists():
        if not os.access(path, os.W_OK):
            raise CommandError(f"{flag} {path}: the file exists and is not writable")
        return
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise CommandError(f"{flag} {path}: {parent} is a file, not a directory")
    check_output_dir(parent, flag)


def _check_creatable(path: Path, flag: str) -> None:
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CommandError(
            f"{flag} {path}: cannot be created, {ancestor} is a file, not a directory"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CommandError(f"{flag} {path}: cannot be created in {ancestor} (not writable)")


def check_positive(flag: str, value: float) -> float:
    """``value`` is a finite number > 0 (NaN and infinities refused)."""
    if not (math.isfinite(value) and value > 0):
        raise CommandError(f"{flag} must be a finite number > 0, got {value}")
    return value


def check_seed_flag(flag: str, value: int) -> int:
    """``value`` is a seed in ``0..MAX_SEED`` (a signed 64-bit integer)."""
    if not 0 <= value <= MAX_SEED:
        raise CommandError(f"{flag} must be in the range 0..{MAX_SEED} (2**63 - 1), got {value}")
    return value
