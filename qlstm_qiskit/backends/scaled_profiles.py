"""Noise-scaled copies of ``aer`` profiles, written as user profiles.

An Aer profile's noise is its ``[noise]`` table; scaling it by ``k`` (probabilities × k, capped
at 1, T1 and T2 ÷ k: :func:`~.noise.scaled_noise`) gives another profile, written as
``<folder>/<name>_x<k>.toml`` and used with ``get_backend(name, profile_dir=folder)``, the
documented way to add a backend. (The ``density_matrix`` backend scales its noise itself, with its
option ``noise_scale``.) ``qlstm-qiskit sweep`` writes them (the noise benchmark runs a sweep).
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from ..files import atomic_write
from .noise import scaled_noise
from .profile_files import find_profiles, load_profile

__all__ = ["scalable_profiles", "scaled_profile_name", "toml_value", "write_scaled_profile"]


def toml_value(value: Any) -> str:
    """``value`` (bool, number, plain string or list of them) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for these plain texts
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    raise TypeError(f"toml_value: no TOML form for {type(value).__name__} {value!r}")


def scaled_profile_name(base: str, scale: float) -> str:
    """``aer_noisy``, 0.5 -> ``aer_noisy_x0p5`` (a file stem without dots)."""
    return f"{base}_x{scale:g}".replace(".", "p").replace("+", "")


def scalable_profiles(profile_dir: str | os.PathLike | list | None = None) -> list[str]:
    """The profiles whose noise a written copy can scale: ``aer`` profiles with a ``[noise]``
    table (the profiles that load; a broken one is left out)."""
    found = []
    for name, path in find_profiles(profile_dir).items():
        try:
            profile = load_profile(path)
        except (ValueError, TypeError):
            continue
        if profile.kind == "aer" and any(profile.noise.values()):
            found.append(name)
    return found


def write_scaled_profile(
    base: str,
    scale: float,
    folder: str | os.PathLike,
    profile_dir: str | os.PathLike | list | None = None,
) -> str:
    """Write the profile ``base`` (as :func:`qlstm_qiskit.get_backend` finds it, with
    ``profile_dir``) with its ``[noise]`` table scaled by ``scale`` (> 0) as
    ``folder/<name>.toml``, atomically; returns the backend name, for
    ``get_backend(name, profile_dir=folder)``.

    Raises:
        ValueError: ``base`` is not an ``aer`` profile with a ``[noise]`` table (the error lists
            those that are), or ``scale`` is not > 0.
    """
    scalable = scalable_profiles(profile_dir)
    if base not in scalable:
        raise ValueError(
            f"write_scaled_profile: {base!r} has no [noise] table to scale; profiles with one: "
            f"{', '.join(scalable) or 'none'} (density_matrix scales its noise with its option "
            "noise_scale)"
        )
    data = tomllib.loads(find_profiles(profile_dir)[base].read_text(encoding="utf-8-sig"))
    noise = scaled_noise(data.get("noise", {}), scale)
    name = scaled_profile_name(base, scale)
    lines = [f"description = {toml_value(data['description'] + f', noise x{scale:g}')}"]
    lines += [f"{key} = {toml_value(data[key])}" for key in ("kind", "computes", "gradient")]
    for table, values in (("options", data.get("options", {})), ("noise", noise)):
        lines += ["", f"[{table}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{name}.toml", ("\n".join(lines) + "\n").encode())
    return name
