"""Backends: what executes a gate circuit, selected by name or passed as an object.

A backend turns a :class:`~qlstm_qiskit.circuits.GateCircuit` into an *executor* with one method,
``bind(weights) -> bound``, where ``weights`` is ``(G, n_weights)`` (one row per LSTM gate) and
``bound.expectation(inputs)`` maps ``(G, B, n_inputs)`` circuit inputs to ``(G, B, n_qubits)``
expectation values, differentiably.

Named backends are profiles (:mod:`qlstm_qiskit.profiles`): ``statevector`` is the exact torch
simulator of :mod:`qlstm_qiskit.simulator` (autograd); ``aer_*`` profiles and user-supplied
``BackendV2``/``BaseEstimatorV2`` objects run through :mod:`qlstm_qiskit.primitive`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from ._checks import check_choice
from .circuits import CircuitSpec, GateCircuit
from .profiles import find_profiles, load_profile
from .simulator import METHODS, CompiledCircuit


class QuantumBackend:
    """Base class of the backends: a name, what it computes, and a ``compile`` method."""

    name: str = ""
    #: "exact", "sampled" or "noisy": what its expectation values are ("estimator" for a user's
    #: estimator object: whatever that estimator computes).
    computes: str = ""

    def compile(self, gate_circuit: GateCircuit):
        """Return an executor for ``gate_circuit`` (see the module docstring)."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The backend's options with their values (shown by ``extra_repr``)."""
        return {}

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}(name={self.name!r}{options})"


class StatevectorBackend(QuantumBackend):
    """Exact, differentiable statevector simulation in torch.

    Args:
        method: ``"auto"`` (dense unitaries up to 6 qubits, gate by gate above), ``"dense"`` or
            ``"gates"``; all three give the same results to rounding.
    """

    name = "statevector"
    computes = "exact"

    def __init__(self, method: str = "auto") -> None:
        self.method = check_choice("StatevectorBackend", "method", method, METHODS)

    def compile(self, gate_circuit: GateCircuit) -> CompiledCircuit:
        return _compiled(gate_circuit, self.method)

    def options(self) -> dict[str, Any]:
        return {"method": self.method}


@lru_cache(maxsize=64)
def _compiled(gate_circuit: GateCircuit, method: str) -> CompiledCircuit:
    return CompiledCircuit(gate_circuit.circuit, gate_circuit.inputs, gate_circuit.weights,
                           gate_circuit.observables, method=method)


@lru_cache(maxsize=64)
def gate_circuit(spec: CircuitSpec) -> GateCircuit:
    """The (shared, cached) gate circuit of a layout."""
    return GateCircuit(spec)


def list_backends(profile_dir: str | os.PathLike | list | None = None) -> dict[str, str]:
    """Names of the available backends with a one-line description each.

    Args:
        profile_dir: a folder (or a list of folders) of user profiles, searched after the built-in
            profiles and the folders in the environment variable ``QLSTM_QISKIT_BACKENDS``; a user
            profile replaces a built-in one of the same name.
    """
    return {name: load_profile(path).description
            for name, path in find_profiles(profile_dir).items()}


def get_backend(name: str, *, profile_dir: str | os.PathLike | list | None = None,
                **overrides: Any) -> QuantumBackend:
    """The backend of profile ``name``, ``overrides`` replacing its ``gradient`` and options.

    Raises:
        ValueError: unknown name (the error lists the valid ones), unknown option or bad value.
        TypeError: an option of the wrong type.
    """
    profiles = find_profiles(profile_dir)
    if not isinstance(name, str) or name not in profiles:
        raise ValueError(f"get_backend: unknown backend {name!r}; valid names: "
                         f"{', '.join(profiles)}")
    profile = load_profile(profiles[name]).with_overrides("get_backend", overrides)
    if profile.kind == "statevector":
        return StatevectorBackend(**profile.options)
    from .primitive import aer_backend

    return aer_backend(profile)


def resolve_backend(owner: str, backend: Any, options: dict[str, Any]) -> QuantumBackend:
    """A backend object from what a user passed as ``backend=``: a name (with ``options`` as
    overrides), a :class:`QuantumBackend`, a Qiskit ``BackendV2`` or a ``BaseEstimatorV2``
    (with the options of :func:`qlstm_qiskit.primitive.from_backend` / ``from_estimator``)."""
    from qiskit.primitives import BaseEstimatorV2
    from qiskit.providers import BackendV2

    if isinstance(backend, QuantumBackend):
        if options:
            raise ValueError(f"{owner}: backend options {sorted(options)} given with a backend "
                             "object; pass options only with a backend name")
        return backend
    if isinstance(backend, str):
        return get_backend(backend, **options)
    if isinstance(backend, BackendV2):
        from .primitive import from_backend

        return from_backend(owner, backend, options)
    if isinstance(backend, BaseEstimatorV2):
        from .primitive import from_estimator

        return from_estimator(owner, backend, options)
    raise TypeError(f"{owner}: backend must be a backend name (one of "
                    f"{', '.join(find_profiles())}), a QuantumBackend, a Qiskit BackendV2 or a "
                    f"BaseEstimatorV2, got {type(backend).__name__}")
