""":class:`CompiledCircuit`: a parameterized Qiskit circuit compiled to batched, differentiable
torch operations, with the engine chosen by ``method``.

It parses the circuit once (:mod:`~qlstm_qiskit.sim.program`) and hands the program to an engine:
the statevector engine (:mod:`~qlstm_qiskit.sim.statevector`, methods ``dense`` and ``gates``,
differentiated by autograd), the adjoint engine (:mod:`~qlstm_qiskit.sim.adjoint`, memory
independent of the number of gates) or the block program (:mod:`~qlstm_qiskit.sim.block_kernel`,
method ``fused``: NumPy with a hand-written backward pass). With ``auto`` the cost model
(:mod:`~qlstm_qiskit.sim.costs`) picks one per use. Every engine's ``bind(weights)`` returns an
object whose ``expectation(inputs)`` maps ``(G, B, n_inputs)`` to ``(G, B, n_obs)``; those with a
NumPy kernel for whole sequences also have ``sequence_kernel(batch, steps)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import SparsePauliOp

from ..checks import check_choice
from .adjoint import AdjointBound, AdjointProgram
from .block_kernel import BlockBound, BlockProgram
from .costs import Workload, choose_method
from .program import parse_program
from .statevector import BoundCircuit, StatevectorProgram

METHODS = ("auto", "dense", "gates", "adjoint", "fused")


class CompiledCircuit:
    """A parameterized circuit compiled to torch, evaluated for G weight sets at once.

    Args:
        circuit: the Qiskit circuit (gates only; parameters must be plain ``Parameter`` objects in
            the single-parameter gates ``rx, ry, rz, p``).
        inputs: the circuit's input parameters, in the order of the ``inputs`` tensor's last axis.
        weights: the circuit's weight parameters, in the order of the ``weights`` tensor's last
            axis.
        observables: diagonal (I/Z) observables; the result has one value per observable.
        method: ``"dense"``, ``"gates"``, ``"adjoint"``, ``"fused"`` (the NumPy block program of
            :mod:`~qlstm_qiskit.sim.block_kernel`, CPU only) or ``"auto"``: per use, the method
            of least estimated time whose memory fits (:func:`~qlstm_qiskit.sim.costs.
            choose_method`, for the circuits, batch and time steps of that use; no qubit
            cutoffs).
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
        self.n_qubits = circuit.num_qubits
        self.n_inputs, self.n_weights = len(inputs), len(weights)
        self.method = method
        self.program = parse_program(circuit, inputs, weights, observables)
        self._engines: dict = {}
        self._choices: dict = {}  # the cost model's choice per workload (a pure function of it)

    def engine(self, method: str):
        """The engine of an explicit ``method`` (built on first use)."""
        if method not in self._engines:
            if method == "adjoint":
                self._engines[method] = AdjointProgram(self.program)
            elif method == "fused":
                self._engines[method] = BlockProgram(self.program)
            else:
                self._engines[method] = StatevectorProgram(self.program, dense=method == "dense")
        return self._engines[method]

    def choose(
        self, batch: int, steps: int = 1, circuits: int = 4, dtype=torch.float32, device="cpu"
    ) -> str:
        """The method that runs ``steps`` time steps of ``batch`` rows of ``circuits`` weight
        sets: the explicit one, or for ``auto`` the cost model's choice, one of ``product``
        (the dense engine's product kernel), ``fused``, ``dense``, ``gates``, ``adjoint``."""
        if self.method != "auto":
            return self.method
        itemsize = 16 if dtype == torch.float64 else 8
        workload = Workload(circuits, batch, steps, itemsize)
        cpu = torch.device(device).type == "cpu"
        if (workload, cpu) not in self._choices:
            if len(self._choices) >= 1024:  # many sequence lengths and batch sizes: start over
                self._choices.clear()
            self._choices[workload, cpu] = choose_method(self.program, workload, cpu=cpu)
        return self._choices[workload, cpu]

    def bind(self, weights: torch.Tensor) -> BoundCircuit | AdjointBound | BlockBound | AutoBound:
        """Do the weight-only work once. ``weights``: ``(G, n_weights)`` float32 or float64."""
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(
                f"CompiledCircuit.bind: weights must have shape (G, {self.n_weights}),"
                f" got {tuple(weights.shape)}"
            )
        if self.method == "auto":
            return AutoBound(self, weights)
        return self.engine(self.method).bind(weights)

    def expectation(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` inputs, ``(G, n_weights)`` weights -> ``(G, B, n_obs)``."""
        return self.bind(weights).expectation(inputs)


class AutoBound:
    """Weights bound for ``method="auto"``: each use asks :meth:`CompiledCircuit.choose` and
    binds that method's engine (once). A sequence that no NumPy kernel runs remembers its
    choice, so that its per-step evaluations use the method chosen for the whole sequence."""

    def __init__(self, compiled: CompiledCircuit, weights: torch.Tensor) -> None:
        self.compiled, self.weights = compiled, weights
        self.n_circuits = weights.shape[0]
        self.sequence_method: str | None = None
        self._bound: dict = {}
        self.shared_product = None

    def bound(self, method: str):
        """This method's bound engine (``product`` is the dense engine's)."""
        method = "dense" if method == "product" else method
        if method not in self._bound:
            self._bound[method] = self.compiled.engine(method).bind(self.weights)
        return self._bound[method]

    def choose(self, batch: int, steps: int) -> str:
        return self.compiled.choose(
            batch, steps, self.n_circuits, self.weights.dtype, self.weights.device
        )

    def sequence_kernel(self, batch: int, steps: int):
        """The NumPy kernel that runs a whole sequence, if the chosen method has one."""
        method = self.choose(batch, steps)
        found = None
        if method == "product":
            found = self.product_sequence_kernel()
        elif method == "fused":
            found = self.bound(method).sequence_kernel(batch, steps)
        if found is None:
            self.sequence_method = "dense" if method == "product" else method
        return found

    def product_sequence_kernel(self):
        """The engine's quick product binding (see :meth:`StatevectorProgram.
        product_sequence_kernel`), once per bound object: the calls of a step-by-step loop that
        reuse it (``QLSTMCell.bound_cache``) share one basis, whose gradient is taken once."""
        if self.shared_product is None:
            engine = self.compiled.engine("dense")
            self.shared_product = engine.product_sequence_kernel(self.weights)
        return self.shared_product

    def product_kernel(self):
        """The dense engine's product kernel (see :meth:`BoundCircuit.product_kernel`)."""
        return self.bound("dense").product_kernel()

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` -> ``(G, B, n_obs)`` with the chosen method."""
        method = self.sequence_method or self.choose(inputs.shape[1], 1)
        return self.bound(method).expectation(inputs)
