"""Backends: what executes a gate circuit, selected by name or passed as an object.

A backend turns a :class:`~qlstm_qiskit.circuits.GateCircuit` into an *executor* with one method,
``bind(weights) -> bound``, where ``weights`` is ``(G, n_weights)`` (one row per LSTM gate) and
``bound.expectation(inputs)`` maps ``(G, B, n_inputs)`` circuit inputs to ``(G, B, n_qubits)``
expectation values, differentiably.

Available now: ``statevector`` — the exact simulator of :mod:`qlstm_qiskit.simulator`, on the
model's torch device and dtype, differentiated by autograd.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ._checks import check_choice
from .circuits import CircuitSpec, GateCircuit
from .simulator import METHODS, CompiledCircuit


class QuantumBackend:
    """Base class of the backends: a name, what it computes, and a ``compile`` method."""

    name: str = ""
    #: "exact", "sampled" or "noisy": what its expectation values are.
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


_BACKENDS: dict[str, tuple[type[QuantumBackend], str]] = {
    "statevector": (StatevectorBackend, "exact torch statevector simulator, autograd gradients"),
}


def list_backends() -> dict[str, str]:
    """Names of the available backends with a one-line description each."""
    return {name: description for name, (_cls, description) in _BACKENDS.items()}


def get_backend(name: str, **options: Any) -> QuantumBackend:
    """The backend called ``name``, with ``options`` overriding its defaults."""
    if not isinstance(name, str) or name not in _BACKENDS:
        raise ValueError(f"get_backend: unknown backend {name!r}; valid names: "
                         f"{', '.join(sorted(_BACKENDS))}")
    cls, _description = _BACKENDS[name]
    try:
        return cls(**options)
    except TypeError as exc:
        raise TypeError(f"get_backend: invalid options for {name!r}: {exc}") from exc


def resolve_backend(owner: str, backend: str | QuantumBackend, options: dict[str, Any]):
    """A backend object from what a user passed as ``backend=`` (a name or a backend object)."""
    if isinstance(backend, QuantumBackend):
        if options:
            raise ValueError(f"{owner}: backend options {sorted(options)} given with a backend "
                             "object; pass options only with a backend name")
        return backend
    if isinstance(backend, str):
        return get_backend(backend, **options)
    raise TypeError(f"{owner}: backend must be a backend name (one of "
                    f"{', '.join(sorted(_BACKENDS))}) or a QuantumBackend, got "
                    f"{type(backend).__name__}")
