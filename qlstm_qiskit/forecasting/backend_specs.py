"""Backend specs as text: ``NAME`` or ``NAME:key=value,...`` parsed and formatted (what the
command line's ``--backend``/``--backends`` and a sweep's experiment file take)."""

from __future__ import annotations

from typing import Any

from ..backends.profiles import FAMILIES
from .models import check_storable_options


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, ``"none"`` -> None,
    anything else -> the string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_backend_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name:key=value,key=value"`` -> ``(name, options)``; options that look
    like credentials are refused (they would be stored in checkpoints)."""
    if not isinstance(spec, str):
        raise TypeError(f"backend spec must be a string, got {type(spec).__name__} {spec!r}")
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"backend {spec!r}: options must be key=value, got {item!r}")
        options[key.strip()] = parse_value(value.strip())
    if not name.strip():
        raise ValueError(f"backend {spec!r}: the name is missing")
    return name.strip(), check_storable_options("backend", options)


def format_backend(name: str, options: dict[str, Any]) -> str:
    """``(name, options)`` -> ``"name"`` or ``"name:key=value,..."``, the form
    :func:`parse_backend_spec` reads."""
    return name + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")


def is_device(name: str) -> bool:
    """Whether ``name`` is a ``fake_<device>`` or ``ibm_<device>`` backend name."""
    return name.partition("_")[0] in FAMILIES
