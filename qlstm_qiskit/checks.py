"""Argument validation in one style: ``<owner>: <argument> must be <expected>, got <value>``.

``TypeError`` for a value of the wrong type, ``ValueError`` for a value out of range.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from typing import Any


def check_int(owner: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int in ``[low, high]`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{owner}: {name} must be in the range {allowed}, got {value}")
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_fraction(owner: str, name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a float, got {type(value).__name__} {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: {name} must be in the range [0, 1], got {value}")
    return float(value)


def check_choice(
    owner: str, name: str, value: Any, choices: Iterable[str], *, context: str = ""
) -> str:
    """Return ``value`` if it is one of ``choices``; the error lists them (then ``context``, e.g.
    ``" for an 'aer' backend"``)."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{owner}: {name} must be one of {', '.join(map(repr, choices))}{context}, got "
            f"{value!r}"
        )
    return value


def check_real(
    owner: str,
    name: str,
    value: Any,
    low: float,
    high: float | None = None,
    *,
    open_low: bool = False,
) -> float:
    """Return ``value`` if it is a finite real number in ``[low, high]`` (``(low, high]`` with
    ``open_low``; ``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value}")
    if value < low or (open_low and value == low) or (high is not None and value > high):
        if high is None:
            allowed = f"{'>' if open_low else '>='} {low}"
        else:
            allowed = f"in the range {'(' if open_low else '['}{low}, {high}]"
        raise ValueError(f"{owner}: {name} must be {allowed}, got {value}")
    return value


def import_optional(owner: str, module: str, install: str):
    """Import ``module`` or raise an ``ImportError`` that gives the command installing it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{owner}: needs the package {module!r}, which is not installed; "
            f"install it with: {install}"
        ) from exc


def check_optional_int(
    owner: str, name: str, value: Any, low: int, high: int | None = None
) -> int | None:
    """Return ``value`` if it is ``None`` or an int in ``[low, high]``."""
    return None if value is None else check_int(owner, name, value, low, high)


#: the largest seed: a signed 64-bit integer, what torch's generators, NumPy and Aer all take
MAX_SEED = 2**63 - 1


def check_seed(owner: str, value: Any, name: str = "seed") -> int | None:
    """Return ``value`` if it is ``None`` or an int in ``[0, MAX_SEED]``."""
    return check_optional_int(owner, name, value, 0, MAX_SEED)


def check_table(owner: str, table: Any, allowed, what: str = "key") -> dict:
    """Return ``table`` if it is a dict (a TOML table) whose keys are all in ``allowed``; the
    errors name ``owner``, the unknown keys (``what``: what a key is, e.g. ``"option"``) and the
    allowed ones."""
    if not isinstance(table, dict):
        raise TypeError(f"{owner}: expected a TOML table of {what}s, got {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(
            f"{owner}: unknown {what}(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(allowed)}"
        )
    return table
