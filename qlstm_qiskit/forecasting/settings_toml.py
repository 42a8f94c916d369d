"""Training settings in TOML files: what a sweep's ``[train]`` table and ``train --config``'s
experiment file share. Reading a file with errors that name it, checking one setting's value
against :data:`~.run_settings.TRAIN_DEFAULTS`, and writing tables back as TOML (``tomllib``
reads; the values are written by :func:`qlstm_qiskit.backends.scaled_profiles.toml_value`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..backends.scaled_profiles import toml_value
from ..circuits import ENCODINGS, ENTANGLERS, MEASUREMENTS, ROTATIONS
from ..variants import CELLS
from .backend_specs import parse_backend_spec
from .datasets import DATASETS, FIT_ON, MISSING
from .models import DTYPES
from .run_settings import MODEL_CHOICES, TRAIN_DEFAULTS
from .schedules import LR_SCHEDULES

#: the settings that take one of a few strings
SETTING_CHOICES = {
    "dataset": tuple(DATASETS),
    "missing": MISSING,
    "scale_fit": FIT_ON,
    "model": tuple(MODEL_CHOICES),
    "dtype": tuple(DTYPES),
    "encoding": tuple(ENCODINGS),
    "rotation": tuple(ROTATIONS),
    "entangling": ENTANGLERS,
    "measure": MEASUREMENTS,
    "lr_schedule": LR_SCHEDULES,
    "cell": CELLS,
}
#: settings whose default is None: the types they take (a None default not listed here takes
#: any TOML value; what builds the run checks it)
OPTIONAL_TYPES = {
    "csv": (str,),
    "column": (str, int),
    "features": (str, list),
    "target": (str, int),
    "n_points": (int,),
    "scale_fit": (str,),
    "patience": (int,),
}


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The TOML file ``path`` as a dict (UTF-8, a byte-order mark allowed); ``what`` (e.g.
    ``"experiment file"``) names it in the errors, which are ``ValueError``s naming ``path``."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the {what} is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: cannot read the {what} as TOML: {exc}") from exc


def setting_types(key: str) -> tuple[type, ...] | None:
    """The Python types setting ``key`` takes: its default's (an int or a float for a float),
    :data:`OPTIONAL_TYPES` for a None default, ``None`` (any) for an undeclared None default."""
    default = TRAIN_DEFAULTS[key]
    if default is None:
        return OPTIONAL_TYPES.get(key)
    return (int, float) if isinstance(default, float) else (type(default),)


def check_setting(where: str, key: str, value: Any) -> Any:
    """Return ``value`` if it is of setting ``key``'s type (:func:`setting_types`; a bool is
    neither an int nor a float), one of its :data:`SETTING_CHOICES`, and for ``backend`` a
    backend spec that parses; errors begin with ``where`` (e.g. ``"sweep.toml: [train] lr"``).

    Raises:
        TypeError: a value of the wrong type.
        ValueError: a value that is not one of the choices, or a backend spec that does not parse.
    """
    types = setting_types(key)
    if types is not None and (
        not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
    ):
        expected = " or ".join(t.__name__ for t in types)
        raise TypeError(f"{where} must be {expected}, got {type(value).__name__} {value!r}")
    if key in SETTING_CHOICES and value not in SETTING_CHOICES[key]:
        raise ValueError(
            f"{where} must be one of {', '.join(map(repr, SETTING_CHOICES[key]))}, got {value!r}"
        )
    if key == "backend":
        try:
            parse_backend_spec(value)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{where}: {exc}") from exc
    return value


def toml_document(tables: Iterable[tuple[str, dict[str, Any]]], comment: str = "") -> str:
    """TOML text of ``(header, values)`` pairs in order, ``header`` as written (``"[data]"``,
    ``"[[layers]]"``), after ``comment`` (its lines become ``#`` lines). A value is a bool, a
    number, a string or a list of them; ``None`` has no TOML form and is an error."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    for header, values in tables:
        lines += ["", header] if lines else [header]
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
