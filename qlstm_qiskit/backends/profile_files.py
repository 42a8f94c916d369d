"""Backend profile files: where they are found and how one is read (:mod:`.profiles` says what a
profile holds and validates it).

Folders searched, later ones overriding profiles of the same name: the built-in profiles (the
top-level ``backends/`` folder, shipped in the package as ``qlstm_qiskit.profiles_data``), the
folders in the environment variable ``QLSTM_QISKIT_BACKENDS`` (``os.pathsep``-separated; a folder
that does not exist is an error), then the ``profile_dir`` argument of
:func:`qlstm_qiskit.list_backends` / :func:`qlstm_qiskit.get_backend`. A file is UTF-8 TOML (a
byte-order mark is allowed). A file that does not load breaks only its own name
(:func:`load_profiles`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ..checks import check_choice, check_table
from .profiles import (
    COMPUTES,
    FAMILIES,
    KINDS,
    NOISE_KEYS,
    OPTIONS,
    PROFILE_KEYS,
    Profile,
    check_applicable,
)

ENV_VAR = "QLSTM_QISKIT_BACKENDS"


def builtin_dir() -> Path:
    """The built-in profiles: the installed data package, or ``backends/`` of a source tree."""
    package = Path(__file__).resolve().parent.parent  # qlstm_qiskit
    installed = package / "profiles_data"
    if installed.is_dir():
        return installed
    return package.parent / "backends"


def search_dirs(profile_dir: str | os.PathLike | list | tuple | None = None) -> list[Path]:
    """Folders searched for profiles, lowest precedence first."""
    dirs = [builtin_dir()]
    for folder in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if folder and not Path(folder).is_dir():
            raise ValueError(
                f"list_backends/get_backend: the environment variable {ENV_VAR} names "
                f"{folder!r}, which is not an existing folder (it lists folders of backend "
                f"profiles, separated by {os.pathsep!r})"
            )
        if folder:
            dirs.append(Path(folder))
    if profile_dir is not None:
        extra = profile_dir if isinstance(profile_dir, (list, tuple)) else [profile_dir]
        for folder in extra:
            if not isinstance(folder, (str, os.PathLike)):
                raise TypeError(
                    f"list_backends/get_backend: profile_dir must be a folder path or "
                    f"a list of them, got {type(folder).__name__}"
                )
            if not Path(folder).is_dir():
                raise ValueError(
                    f"list_backends/get_backend: profile_dir must be an existing "
                    f"folder, got {str(folder)!r}"
                )
            dirs.append(Path(folder))
    return dirs


def find_profiles(profile_dir=None) -> dict[str, Path]:
    """Profile name -> file, later folders overriding earlier ones."""
    found: dict[str, Path] = {}
    for folder in search_dirs(profile_dir):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path
    return dict(sorted(found.items()))


def load_profiles(profile_dir=None) -> tuple[dict[str, Profile], dict[str, str]]:
    """Every profile found (:func:`find_profiles`), loaded: ``(name -> Profile, name -> error)``.
    A file that does not load (bad TOML, a bad value, an unrelated ``*.toml``) breaks only its own
    name: it is in the second dict with the reason, and the others load as usual."""
    profiles, broken = {}, {}
    for name, path in find_profiles(profile_dir).items():
        try:
            profiles[name] = load_profile(path)
        except (ValueError, TypeError) as exc:
            broken[name] = str(exc)
    return profiles, broken


def load_profile(path: Path) -> Profile:
    """Parse and validate one profile file; errors name the file."""
    owner = f"backend profile {str(path)!r}"
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is allowed
    except OSError as exc:
        raise ValueError(f"{owner}: cannot read it ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{owner}: is not UTF-8 text, as TOML must be (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{owner}: cannot read it as TOML: {exc}") from exc
    check_table(owner, data, PROFILE_KEYS)
    for key in ("description", "kind", "gradient"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"{owner}: {key} must be a string, got {data.get(key)!r}")
    check_choice(owner, "kind", data["kind"], KINDS)
    kind = data["kind"]
    options = data.get("options", {})
    noise = data.get("noise", {})
    check_table(owner, options, OPTIONS[kind], "option")
    if kind not in ("aer", "density") and noise:
        raise ValueError(f"{owner}: a {kind!r} profile takes no [noise] table")
    if noise and options.get("noise_from") is not None:
        raise ValueError(
            f"{owner}: a density profile takes a [noise] table or noise_from, not both"
        )
    family = data.get("family")
    if (kind == "device") != (family is not None):
        raise ValueError(
            f"{owner}: family is required with kind 'device' and only there, got "
            f"kind={kind!r}, family={family!r}"
        )
    if family is not None:
        check_choice(owner, "family", family, FAMILIES)
    check_table(owner, noise, NOISE_KEYS, "noise key")
    profile = Profile(
        path.stem,
        data["description"],
        kind,
        data["gradient"],
        {**OPTIONS[kind], **options},
        {
            k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in noise.items()
        },
        str(path),
        family,
    )
    profile.validate(owner)
    check_applicable(owner, options, profile.gradient, profile.options.get("shots"))
    declared = data.get("computes")
    if declared != profile.computes:
        raise ValueError(
            f"{owner}: computes must be {profile.computes!r} for these options and "
            f"noise (one of {', '.join(map(repr, COMPUTES))}), got {declared!r}"
        )
    return profile
