"""The density-matrix engine: a parsed circuit with a noise channel after each instruction, run on
batches of density matrices in torch and differentiated by autograd.

The program is segmented into per-qubit runs of one-qubit instructions (each followed by its
channel, see :mod:`~qlstm_qiskit.sim.superops` for the conventions) between the multi-qubit gates
on that qubit, and the multi-qubit gates, each of which is fused with its channel into one
superoperator (a permutation when it has none). At bind time every run's weight-only and fixed
pieces are multiplied into one 4x4 superoperator per circuit; per call only the input rotations
are multiplied in. Readout errors act on the outcome probabilities through each qubit's
assignment matrix ``A[measured, prepared]``.

Two evaluations, the same numbers:

- *product* (when the inputs enter only the first runs, which act on ``|0><0|``, and at most
  :data:`PRODUCT_MAX_QUBITS` qubits): the state after the first runs is a product of one-qubit
  density matrices ``v_q``; everything after them is fixed by the weights. At bind time the
  outcome functionals (readout included) are carried backwards through that fixed part
  (transposed superoperators) into ``M (G, 4**n, D)``; per call the probabilities are
  ``kron_q(v_q) @ M``: a few 4-vectors and one small matrix product per step.
- *evolution* (otherwise): ``rho`` is evolved instruction run by run. Autograd keeps every
  intermediate ``rho``: the batch runs in chunks of at most :data:`CHUNK_ELEMENTS` entries, each
  checkpointed (recomputed in the backward pass) when there are several.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from .gates import PhasedPermutation, complex_dtype, rotation_matrix
from .program import Instruction, Program, check_inputs, diagonal_signs
from .superops import PermutationGate, SuperopGate, apply_one_qubit, unitary_superop

#: density-matrix entries (G * rows * 4**n) evaluated in one chunk of the batch
CHUNK_ELEMENTS = 2**22
#: the largest register the engine takes (one row of 4 circuits: 4 * 4**10 entries)
MAX_QUBITS = 10
#: the product evaluation holds ``M (G, 4**n, 2**n)``: up to this many qubits
PRODUCT_MAX_QUBITS = 6


@dataclass
class QubitRun:
    """One qubit's run of one-qubit instructions, each with its channel (or ``None``)."""

    qubit: int
    ops: list[tuple[Instruction, np.ndarray | None]]


@dataclass
class MultiQubitGate:
    """A fixed multi-qubit gate fused with its channel: a superoperator ``(4**k, 4**k)``, or the
    gate's permutation over the flattened matrix when it is noiseless and a permutation."""

    qubits: tuple[int, ...]
    superop: np.ndarray | None
    permutation: PhasedPermutation | None


class DensityProgram:
    """A :class:`~qlstm_qiskit.sim.program.Program` (parsed with ``affine=True``) with its noise.

    Args:
        program: the parsed circuit.
        channels: per instruction of ``program.instructions``, the superoperator of the error
            after it (``(4**k, 4**k)``, Qiskit's ``SuperOp`` convention, on the instruction's
            qubits in order) or ``None``.
        readout: per qubit, the assignment matrix ``A[measured, prepared]`` ``(2, 2)`` or ``None``.
    """

    def __init__(
        self,
        program: Program,
        channels: list[np.ndarray | None],
        readout: list[np.ndarray | None],
    ) -> None:
        n = program.n_qubits
        if n > MAX_QUBITS:
            raise ValueError(
                f"density_matrix: a {n}-qubit circuit needs {4 * 16 * 4**n / 2**30:.1f} GiB per "
                f"batch row for one density matrix of each gate, above the engine's limit of "
                f"{MAX_QUBITS} qubits; use the aer_noisy backend (Aer's density-matrix simulator) "
                "for larger circuits"
            )
        if len(channels) != len(program.instructions) or len(readout) != n:
            raise ValueError(
                f"DensityProgram: expected {len(program.instructions)} channels and {n} readout "
                f"matrices, got {len(channels)} and {len(readout)}"
            )
        self.program = program
        self.n_qubits = n
        # one-qubit runs commute with gates on other qubits: each qubit's run before its first
        # multi-qubit gate acts on |0> (``first``); later runs are applied just before the next
        # multi-qubit gate on their qubit (``rest``, in order)
        first: dict[int, QubitRun] = {}
        pending: dict[int, QubitRun] = {}
        started: set[int] = set()
        #: the stages after ``first``: runs on distinct qubits, or a multi-qubit gate
        self.rest: list[list[QubitRun] | MultiQubitGate] = []
        for op, channel in zip(program.instructions, channels, strict=True):
            if len(op.qubits) == 1:
                (qubit,) = op.qubits
                runs = pending if qubit in started else first
                runs.setdefault(qubit, QubitRun(qubit, [])).ops.append((op, channel))
                continue
            flushed = [pending.pop(q) for q in op.qubits if q in pending]
            if flushed:
                self.rest.append(flushed)
            self.rest.append(self._multi_qubit(op, channel))
            started.update(op.qubits)
        if pending:
            self.rest.append(sorted(pending.values(), key=lambda run: run.qubit))
        #: each qubit's run before its first multi-qubit gate (acting on |0><0|)
        self.first = sorted(first.values(), key=lambda run: run.qubit)
        self.readout = [None if a is None else np.asarray(a, dtype=np.float64) for a in readout]
        self.signs = diagonal_signs(program.terms, n)  # (D, n_obs)
        #: whether the product evaluation applies (inputs only in the first runs)
        self.product = n <= PRODUCT_MAX_QUBITS and not any(
            isinstance(stage, list) and _takes_input(stage) for stage in self.rest
        )
        # kron_q v_q (qubit n-1 first, v_q column-stacked) in the flattened-matrix order
        index = np.arange(4**n)
        pair = [(index >> (2 * q)) & 3 for q in range(n)]  # a_q = r_q + 2 c_q
        self.pair_index = sum(
            ((pair[q] & 1) << (n + q)) | ((pair[q] >> 1) << q) for q in range(n)
        ).astype(np.int64)
        #: its inverse: the flattened-matrix order in the Kronecker order
        self.matrix_index = np.argsort(self.pair_index)

    def _multi_qubit(self, op: Instruction, channel: np.ndarray | None) -> MultiQubitGate:
        n = self.n_qubits
        if channel is None:
            permutation = PhasedPermutation.of_gate(op.matrix, op.qubits, n)
            if permutation is not None:  # rho[r, c] -> phase[r] conj(phase[c]) rho[src[r], src[c]]
                source = (permutation.source[:, None] * 2**n + permutation.source[None, :]).ravel()
                phase = (permutation.phase[:, None] * permutation.phase.conj()[None, :]).ravel()
                return MultiQubitGate(op.qubits, None, PhasedPermutation(source, phase))
        superop = unitary_superop(torch.as_tensor(op.matrix, dtype=torch.complex128)).numpy()
        if channel is not None:
            superop = channel @ superop
        return MultiQubitGate(op.qubits, superop, None)

    def bind(self, weights: torch.Tensor) -> DensityBound:
        """Fold the weight-only work; ``weights`` ``(G, n_weights)`` float32 or float64."""
        complex_dtype(weights.dtype)  # rejects other dtypes
        return DensityBound(self, weights)


def _takes_input(runs: list[QubitRun]) -> bool:
    return any(op.takes_input for run in runs for op, _ in run.ops)


class DensityBound:
    """A :class:`DensityProgram` with its weights bound: :meth:`probabilities_and_values` (and
    :meth:`expectation`) per batch, differentiable in the inputs and the weights."""

    def __init__(self, program: DensityProgram, weights: torch.Tensor) -> None:
        self.program = program
        self.weights = weights
        self.n_circuits = weights.shape[0]
        self.device = weights.device
        self.dtype = complex_dtype(weights.dtype)
        self.dim = 2**program.n_qubits
        self.signs = torch.as_tensor(program.signs, dtype=weights.dtype, device=self.device)
        self.first = {run.qubit: self._bind_run(run) for run in program.first}
        self.rest = [
            [(run.qubit, self._bind_run(run)) for run in stage]
            if isinstance(stage, list)
            else self._bind_gate(stage)
            for stage in program.rest
        ]
        self.zero = torch.tensor([1, 0, 0, 0], dtype=self.dtype, device=self.device)  # |0><0|
        if program.product:
            self.functionals = self._outcome_functionals()

    # -- binding --------------------------------------------------------------------------------
    def _op_superop(self, op: Instruction, inputs: torch.Tensor | None) -> torch.Tensor:
        """The superoperator ``(4, 4)``, ``(G, 1, 4, 4)`` or ``(G, b, 4, 4)`` of one one-qubit
        instruction and its channel, in the model's precision (built in float64)."""
        angle = op.angle
        if angle is None:
            matrix = torch.as_tensor(op.matrix, dtype=torch.complex128, device=self.device)
        else:
            if angle.source == "const":
                theta = torch.tensor(angle.value, dtype=torch.float64, device=self.device)
            else:
                values = self.weights[:, None] if angle.source == "weight" else inputs
                theta = values[..., angle.index].double() * angle.scale + angle.value
            matrix = rotation_matrix(op.name, theta)
        return unitary_superop(matrix)

    def _bind_run(self, run: QubitRun) -> list:
        """The run as pieces: bound superoperators (weight-only stretches multiplied together)
        and ``(instruction, channel)`` pairs that need inputs."""
        pieces: list = []
        for op, channel in run.ops:
            if op.takes_input:
                if channel is not None:
                    channel = torch.as_tensor(channel, dtype=self.dtype, device=self.device)
                pieces.append((op, channel))
                continue
            superop = _with_channel(self._op_superop(op, None), channel)
            if pieces and isinstance(pieces[-1], torch.Tensor):
                pieces[-1] = superop @ pieces[-1]
            else:
                pieces.append(superop)
        return [p.to(self.dtype) if isinstance(p, torch.Tensor) else p for p in pieces]

    def _bind_gate(self, gate: MultiQubitGate) -> SuperopGate | PermutationGate:
        if gate.permutation is None:
            matrix = torch.as_tensor(gate.superop, dtype=self.dtype, device=self.device)
            return SuperopGate(matrix, gate.qubits, self.program.n_qubits)
        source = torch.as_tensor(gate.permutation.source, device=self.device)
        phase = gate.permutation.phase
        return PermutationGate(
            source,
            torch.argsort(source),
            None
            if np.allclose(phase, 1.0)
            else torch.as_tensor(phase, device=self.device).to(self.dtype),
        )

    def _run_superop(self, pieces: list, inputs: torch.Tensor | None) -> torch.Tensor:
        """The run's superoperator ``(G, b | 1, 4, 4)`` (or ``(4, 4)``) for these inputs."""
        total = None
        for piece in pieces:
            if not isinstance(piece, torch.Tensor):
                op, channel = piece
                piece = self._op_superop(op, inputs).to(self.dtype)
                piece = piece if channel is None else channel @ piece
            total = piece if total is None else piece @ total
        return total

    def _apply_piece(self, piece, vector: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """A run's piece applied to one-qubit states ``vector (..., 4)``; a phase rotation
        (``rz``, ``p``: superoperator ``diag(1, e^{i t}, e^{-i t}, 1)``) elementwise."""
        if isinstance(piece, torch.Tensor):
            return (piece @ vector[..., None])[..., 0]
        op, channel = piece
        if op.name in ("rz", "p"):
            theta = inputs[..., op.angle.index] * op.angle.scale + op.angle.value
            phase = torch.polar(torch.ones_like(theta), theta)
            one = torch.ones_like(phase)
            vector = vector * torch.stack((one, phase, phase.conj(), one), -1)
        else:
            vector = (self._op_superop(op, inputs).to(self.dtype) @ vector[..., None])[..., 0]
        return vector if channel is None else (channel @ vector[..., None])[..., 0]

    def _outcome_functionals(self) -> torch.Tensor:
        """``M (G | 1, 4**n, D)``: the outcome probabilities (readout included) as functionals
        of the product state after the first runs, carried back through the rest."""
        n, dim = self.program.n_qubits, self.dim
        assignment = torch.ones(1, 1, dtype=torch.float64)
        for a in reversed(self.program.readout):  # qubit n-1 most significant
            a = np.eye(2) if a is None else a
            assignment = torch.kron(assignment, torch.as_tensor(a))
        w = torch.zeros(dim, dim * dim, dtype=self.dtype, device=self.device)
        w[:, torch.arange(dim) * (dim + 1)] = assignment.to(w)  # p'[m] = sum_r A[m, r] rho[r, r]
        w = w[None]
        for stage in reversed(self.rest):
            if isinstance(stage, list):
                for qubit, pieces in stage:
                    superop = self._run_superop(pieces, None)
                    w = apply_one_qubit(w, superop.transpose(-1, -2), qubit, n)
            else:
                w = stage.apply_transposed(w)
        index = torch.as_tensor(self.program.pair_index, device=self.device)
        return w[..., index].transpose(-1, -2)

    # -- evaluation -----------------------------------------------------------------------------
    def _product_state(self, inputs: torch.Tensor) -> torch.Tensor:
        """``kron_q v_q`` ``(G | 1, B | 1, 4**n)`` (qubit n-1 first, each ``v_q`` the
        column-stacked one-qubit density matrix after its first run, or ``|0><0|``)."""
        product = None
        for qubit in range(self.program.n_qubits - 1, -1, -1):
            vector = self.zero
            for piece in self.first.get(qubit, ()):
                vector = self._apply_piece(piece, vector, inputs)
            if product is None:
                product = vector
            else:
                product = (product[..., :, None] * vector[..., None, :]).flatten(-2)
        return product

    def _product_probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        return (self._product_state(inputs) @ self.functionals).real.expand(
            self.n_circuits, inputs.shape[1], self.dim
        )

    def _evolved_probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        n, dim = self.program.n_qubits, self.dim
        rho = self._product_state(inputs)
        index = torch.as_tensor(self.program.matrix_index, device=self.device)
        rho = rho.expand(self.n_circuits, inputs.shape[1], rho.shape[-1])[..., index]
        for stage in self.rest:
            if isinstance(stage, list):
                for qubit, pieces in stage:
                    rho = apply_one_qubit(rho, self._run_superop(pieces, inputs), qubit, n)
            else:
                rho = stage.apply(rho)
        probabilities = rho.unflatten(-1, (dim, dim)).diagonal(dim1=-2, dim2=-1).real
        for q, assignment in enumerate(self.program.readout):
            if assignment is not None:
                a = torch.as_tensor(assignment, dtype=probabilities.dtype, device=self.device)
                view = probabilities.unflatten(-1, (2 ** (n - 1 - q), 2, 2**q))
                probabilities = torch.einsum("mp,...hpl->...hml", a, view).flatten(-3)
        return probabilities

    def probabilities_and_values(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact noisy outcome probabilities ``(G, B, D)`` (readout included) and expectation
        values ``(G, B, n_obs)`` for inputs ``(G, B, n_inputs)``, differentiable."""
        check_inputs(
            "DensityBound.expectation",
            inputs,
            self.n_circuits,
            self.program.program.n_inputs,
            self.weights.dtype,
        )
        if self.program.product:
            probabilities = self._product_probabilities(inputs)
        else:
            rows = max(1, CHUNK_ELEMENTS // (self.n_circuits * self.dim * self.dim))
            chunks = inputs.split(rows, dim=1)
            if len(chunks) == 1 or not torch.is_grad_enabled():
                probabilities = torch.cat([self._evolved_probabilities(c) for c in chunks], 1)
            else:
                probabilities = torch.cat(
                    [
                        checkpoint(self._evolved_probabilities, c, use_reentrant=False)
                        for c in chunks
                    ],
                    1,
                )
        return probabilities, probabilities @ self.signs

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """Exact noisy expectation values ``(G, B, n_obs)`` for inputs ``(G, B, n_inputs)``."""
        return self.probabilities_and_values(inputs)[1]


def _with_channel(superop: torch.Tensor, channel: np.ndarray | None) -> torch.Tensor:
    if channel is None:
        return superop
    return torch.as_tensor(channel, dtype=superop.dtype, device=superop.device) @ superop
