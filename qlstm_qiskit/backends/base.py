"""The base class of every backend, and the executor contract its ``compile`` fulfils.

A backend turns a gate circuit into an *executor* with one method, ``bind(weights) -> bound``,
where ``weights`` is ``(G, n_weights)`` (one row per LSTM gate) and ``bound.expectation(inputs)``
maps ``(G, B, n_inputs)`` circuit inputs to ``(G, B, n_observables)`` expectation values,
differentiably. A gate circuit is any hashable object with the attributes of
:class:`CircuitTemplate` (the model's :class:`~qlstm_qiskit.circuits.GateCircuit` is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp


class CircuitTemplate(Protocol):
    """What a backend compiles: a parameterized circuit, the order of its input and weight
    parameters, and one observable per output."""

    circuit: QuantumCircuit
    inputs: Sequence[Parameter]
    weights: Sequence[Parameter]
    observables: list[SparsePauliOp]


class QuantumBackend:
    """Base class of the backends: a name, what it computes, and a ``compile`` method."""

    name: str = ""
    #: "exact", "sampled" or "noisy": what its expectation values are ("estimator" for a user's
    #: estimator object: whatever that estimator computes).
    computes: str = ""

    def compile(self, template: CircuitTemplate):
        """Return an executor for ``template`` (see the module docstring)."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The backend's options with their values (shown by ``extra_repr``)."""
        return {}

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}(name={self.name!r}{options})"
