"""The backend registry: names to backends (:func:`get_backend`, :func:`list_backends`) and what a
user passes as ``backend=`` to a backend object (:func:`resolve_backend`).

Named backends are profiles (:mod:`.profiles`): ``statevector`` is the exact torch simulator
(:mod:`.statevector`); ``aer_*`` profiles run through :mod:`.aer`; user-supplied
``BackendV2``/``BaseEstimatorV2`` objects through :mod:`.user_objects`; ``density`` profiles
through :mod:`.density`; ``fake_<device>`` and ``ibm_<device>`` names through :mod:`.devices`.
Those are imported on first use: they load Qiskit Aer, qiskit-machine-learning and the IBM runtime,
which a ``statevector`` model never needs.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from qiskit.primitives import BaseEstimatorV2
from qiskit.providers import BackendV2

from .base import QuantumBackend
from .ibm_account import LEAST_BUSY, LEAST_BUSY_DESCRIPTION
from .ibm_runtime import IBM_INSTALL, fake_device_names, runtime_available
from .profile_files import load_profiles
from .profiles import Profile
from .statevector import StatevectorBackend


def _catalogue(profile_dir) -> tuple[dict[str, Profile], dict[str, Profile], dict[str, str]]:
    """Named profiles (name -> profile), device templates (family -> profile) and broken
    profiles (name -> why: a file that does not load breaks its own name only; a broken
    ``<family>_device`` template breaks that family's names)."""
    profiles, broken = load_profiles(profile_dir)
    named, templates = {}, {}
    for name, profile in profiles.items():
        if profile.kind == "device":
            templates[profile.family] = profile
        else:
            named[name] = profile
    return named, templates, broken


def _broken(name: str, broken: dict[str, str]) -> str | None:
    """Why ``name`` cannot be built because of a broken profile (its own, or its family's
    template ``<family>_device``), else ``None``."""
    if name in broken:
        return broken[name]
    template = f"{name.partition('_')[0]}_device"
    return broken.get(template) if template != name and "_" in name else None


def list_backends(profile_dir: str | os.PathLike | list | None = None) -> dict[str, str]:
    """Names of the available backends with a one-line description each.

    Every fake device of ``qiskit_ibm_runtime.fake_provider`` is listed by name
    (``fake_manila``, ...); without qiskit-ibm-runtime one entry ``fake_<device>`` says how to
    install it. IBM Quantum devices cannot be listed offline: one entry ``ibm_<device>`` stands
    for all of them, and ``ibm_least_busy`` for the least busy one of the account (resolved when
    the backend is built, see :mod:`.ibm_account`).

    Args:
        profile_dir: a folder (or a list of folders) of user profiles, searched after the built-in
            profiles and the folders in the environment variable ``QLSTM_QISKIT_BACKENDS``; a user
            profile replaces a built-in one of the same name.
    """
    named, templates, broken = _catalogue(profile_dir)
    found = {name: profile.description for name, profile in named.items()}
    found.update({name: f"BROKEN: {why}" for name, why in broken.items()})
    if "fake" in templates:
        description = templates["fake"].description
        if runtime_available():
            found.update({name: description for name in fake_device_names()})
        else:
            found["fake_<device>"] = f"{description} (needs qiskit-ibm-runtime: {IBM_INSTALL})"
    if "ibm" in templates:
        found["ibm_<device>"] = templates["ibm"].description
        found[LEAST_BUSY] = LEAST_BUSY_DESCRIPTION
    return dict(sorted(found.items()))


def backend_profile(
    name: str, profile_dir: str | os.PathLike | list | None = None
) -> dict[str, str] | None:
    """Which profile ``name`` resolves to now: ``{"profile": its name, "source": its file,
    "sha256": Profile.digest()}`` (for ``fake_*``/``ibm_*`` names, their family's template);
    ``None`` when no profile serves ``name``. Checkpoints record it, so that a profile that
    changed, or a user profile that shadows a built-in one, is noticed when a run is loaded."""
    named, templates, _ = _catalogue(profile_dir)
    profile = named.get(name)
    if profile is None and isinstance(name, str) and "_" in name:
        profile = templates.get(name.partition("_")[0])
    if profile is None:
        return None
    return {"profile": profile.name, "source": profile.source, "sha256": profile.digest()}


def get_backend(
    name: str, *, profile_dir: str | os.PathLike | list | None = None, **overrides: Any
) -> QuantumBackend:
    """The backend of profile ``name``, ``overrides`` replacing its ``gradient`` and options;
    ``fake_<device>`` and ``ibm_<device>`` names use the device templates, and
    ``ibm_least_busy`` (option ``min_qubits``) the ``ibm`` template on the least busy device of
    the account (the backend's ``name`` is that device's).

    Raises:
        ValueError: unknown name (the error lists the valid ones), unknown option or bad value,
            missing IBM Quantum credentials (the error says how to save an account),
            ``execution="session"`` on the Open Plan, no device for ``ibm_least_busy``.
        TypeError: an option of the wrong type.
        ImportError: a device backend without qiskit-ibm-runtime (the error gives the pip
            command).
    """
    named, templates, broken = _catalogue(profile_dir)
    why = _broken(name, broken) if isinstance(name, str) and name not in named else None
    if why is not None:
        raise ValueError(f"get_backend: backend {name!r} cannot be built: {why}")
    family = name.partition("_")[0] if isinstance(name, str) else None
    if isinstance(name, str) and name not in named and family in templates:
        profile = replace(templates[family], name=name).with_overrides("get_backend", overrides)
        from .devices import device_backend

        return device_backend(profile, name)
    if not isinstance(name, str) or name not in named:
        valid = [*named, *(f"{f}_<device>" for f in templates)]
        valid += [LEAST_BUSY] if "ibm" in templates else []
        raise ValueError(f"get_backend: unknown backend {name!r}; valid names: {', '.join(valid)}")
    profile = named[name].with_overrides("get_backend", overrides)
    if profile.kind == "statevector":
        return StatevectorBackend(**profile.options)
    if profile.kind == "density":
        from .density import density_backend

        return density_backend(profile, profile_dir)
    from .aer import aer_backend

    return aer_backend(profile)


def resolve_backend(owner: str, backend: Any, options: dict[str, Any]) -> QuantumBackend:
    """A backend object from what a user passed as ``backend=``: a name (with ``options`` as
    overrides), a :class:`QuantumBackend`, a Qiskit ``BackendV2`` or a ``BaseEstimatorV2``
    (with the options of :func:`.user_objects.from_backend` / ``from_estimator``)."""
    if isinstance(backend, QuantumBackend):
        if options:
            raise ValueError(
                f"{owner}: backend options {sorted(options)} given with a backend "
                "object; pass options only with a backend name"
            )
        return backend
    if isinstance(backend, str):
        return get_backend(backend, **options)
    if isinstance(backend, BackendV2):
        from .user_objects import from_backend

        return from_backend(owner, backend, options)
    if isinstance(backend, BaseEstimatorV2):
        from .user_objects import from_estimator

        return from_estimator(owner, backend, options)
    raise TypeError(
        f"{owner}: backend must be a backend name (one of "
        f"{', '.join(_catalogue(None)[0])}, fake_<device>, ibm_<device>, {LEAST_BUSY}), a "
        "QuantumBackend, a Qiskit BackendV2 or a "
        f"BaseEstimatorV2, got {type(backend).__name__}"
    )
