""":class:`CompiledCircuit`: a parameterized Qiskit circuit compiled to batched, differentiable
torch operations, with the engine chosen by ``method``.

It parses the circuit once (:mod:`~qlstm_qiskit.sim.program`) and hands the program to one engine:
the statevector engine (:mod:`~qlstm_qiskit.sim.statevector`, methods ``dense`` and ``gates``,
differentiated by autograd) or the adjoint engine (:mod:`~qlstm_qiskit.sim.adjoint`, memory
independent of the number of gates). Every engine's ``bind(weights)`` returns an object whose
``expectation(inputs)`` maps ``(G, B, n_inputs)`` to ``(G, B, n_obs)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import SparsePauliOp

from ..checks import check_choice
from .adjoint import AdjointBound, AdjointProgram
from .program import parse_program
from .statevector import BoundCircuit, StatevectorProgram

METHODS = ("auto", "dense", "gates", "adjoint")
#: ``auto`` picks ``dense`` up to this many qubits, ``gates`` up to ``GATES_MAX_QUBITS`` and
#: ``adjoint`` above.
DENSE_MAX_QUBITS = 6
GATES_MAX_QUBITS = 12


class CompiledCircuit:
    """A parameterized circuit compiled to torch, evaluated for G weight sets at once.

    Args:
        circuit: the Qiskit circuit (gates only; parameters must be plain ``Parameter`` objects in
            the single-parameter gates ``rx, ry, rz, p``).
        inputs: the circuit's input parameters, in the order of the ``inputs`` tensor's last axis.
        weights: the circuit's weight parameters, in the order of the ``weights`` tensor's last
            axis.
        observables: diagonal (I/Z) observables; the result has one value per observable.
        method: ``"dense"``, ``"gates"``, ``"adjoint"`` or ``"auto"`` (dense up to
            ``DENSE_MAX_QUBITS`` qubits, gates up to ``GATES_MAX_QUBITS``, adjoint above).
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        inputs: ParameterVector | Sequence[Parameter],
        weights: ParameterVector | Sequence[Parameter],
        observables: Sequence[SparsePauliOp],
        method: str = "auto",
    ) -> None:
        check_choice("CompiledCircuit", "method", method, METHODS)
        self.n_qubits = n = circuit.num_qubits
        self.n_inputs, self.n_weights = len(inputs), len(weights)
        if method == "auto":
            method = (
                "dense"
                if n <= DENSE_MAX_QUBITS
                else "gates"
                if n <= GATES_MAX_QUBITS
                else "adjoint"
            )
        self.method = method
        program = parse_program(circuit, inputs, weights, observables)
        self.engine = (
            AdjointProgram(program)
            if method == "adjoint"
            else StatevectorProgram(program, dense=method == "dense")
        )

    def bind(self, weights: torch.Tensor) -> BoundCircuit | AdjointBound:
        """Do the weight-only work once. ``weights``: ``(G, n_weights)`` float32 or float64."""
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(
                f"CompiledCircuit.bind: weights must have shape (G, {self.n_weights}),"
                f" got {tuple(weights.shape)}"
            )
        return self.engine.bind(weights)

    def expectation(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` inputs, ``(G, n_weights)`` weights -> ``(G, B, n_obs)``."""
        return self.bind(weights).expectation(inputs)
