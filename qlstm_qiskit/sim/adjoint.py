"""Gate-by-gate statevector simulation with adjoint differentiation, for many qubits.

Autograd through a gate-by-gate simulation keeps every intermediate state for the backward pass:
memory grows with the number of gates times ``G * B * 2**n`` amplitudes, far beyond 24 GB at 25
qubits. The adjoint method (Jones and Gacon 2020) keeps three states instead: the forward pass
returns only the final state; the backward pass walks the gates in reverse, undoing each on the
state ``psi`` and on the adjoint state ``lam = M psi`` (``M = sum_k g_k O_k``), and reads every
rotation's derivative off the pair:

    dL/dtheta_j = 2 Re <lam_j| D_j |psi_j>,    D_j = dU_j/dtheta_j U_j^dagger

(``D = -i P / 2`` for ``exp(-i theta P / 2)``, ``D = i |1><1|`` for the phase gate). The batch is
processed in chunks so that memory stays ``O(chunk * 2**n)``. This executes the same instruction
list as the statevector engine (a :class:`~qlstm_qiskit.sim.program.Program`).
"""

from __future__ import annotations

import numpy as np
import torch

from .gates import (
    PhasedPermutation,
    apply_1q,
    apply_fixed,
    complex_dtype,
    kron_states,
    rotation_matrix,
)
from .program import Instruction, Program, check_inputs

#: amplitudes (G * chunk * 2**n) processed at once: bounds the memory of one chunk
CHUNK_AMPLITUDES = 2**26

_PAULIS = {"rx": ((0, 1), (1, 0)), "ry": ((0, -1j), (1j, 0)), "rz": ((1, 0), (0, -1))}


class AdjointProgram:
    """A parsed circuit ready for :class:`AdjointBound`: consecutive fixed permutations merged,
    the one-qubit gates grouped into segments for the backward pass."""

    def __init__(self, program: Program) -> None:
        n_qubits = program.n_qubits
        self.n_qubits = n_qubits
        self.terms = program.terms  # per observable: (coefficient, Z qubits) terms
        self._tables: dict = {}
        self.n_inputs = program.n_inputs
        # consecutive fixed permutations with phases (CNOT rings, ...) become one gather
        self.instructions: list[Instruction] = []
        merged: dict[int, tuple[PhasedPermutation, set[int]]] = {}
        for op in program.instructions:
            permutation = (
                PhasedPermutation.of_gate(op.matrix, op.qubits, n_qubits)
                if op.angle is None and len(op.qubits) > 1
                else None
            )
            if permutation is None:
                self.instructions.append(op)
                continue
            position = len(self.instructions) - 1
            qubits = set(op.qubits)
            if position in merged:  # follows another permutation: merge
                previous, touched = merged[position]
                permutation, qubits = previous.then(permutation), qubits | touched
            else:
                self.instructions.append(op)
                position += 1
            merged[position] = (permutation, qubits)
        # for the backward pass: local segments {qubit: its one-qubit ops in order} between the
        # multi-qubit gates (given by position); one-qubit gates on different qubits commute
        self.segments: list = []
        for position, op in enumerate(self.instructions):
            if len(op.qubits) > 1:
                self.segments.append(position)
                continue
            if not self.segments or isinstance(self.segments[-1], int):
                self.segments.append({})
            self.segments[-1].setdefault(op.qubits[0], []).append(op)
        #: position -> (source, phase, inverse source, qubits) of each merged permutation
        self.permutations = {
            position: (
                torch.as_tensor(m.source),
                m.phase,
                torch.as_tensor(np.argsort(m.source)),
                qubits,
            )
            for position, (m, qubits) in merged.items()
        }

    def bind(self, weights: torch.Tensor) -> AdjointBound:
        """Bind ``weights`` ``(G, n_weights)`` float32 or float64."""
        complex_dtype(weights.dtype)  # rejects other dtypes
        return AdjointBound(self, weights)

    def permutation_tables(self, position: int, like: torch.Tensor) -> tuple:
        """``(source, phase, inverse source)`` of the permutation at ``position`` on ``like``'s
        device and dtype (cached: at 25 qubits each table is 256 MB)."""
        key = (position, like.device, like.dtype)
        if key not in self._tables:
            source, phase, inverse_source, _qubits = self.permutations[position]
            self._tables[key] = (
                source.to(like.device),
                torch.as_tensor(phase, dtype=like.dtype, device=like.device),
                inverse_source.to(like.device),
            )
        return self._tables[key]


class AdjointBound:
    """Weights bound to an :class:`AdjointProgram`; :meth:`expectation` is differentiable (by the
    adjoint method) in the inputs and the weights."""

    def __init__(self, program: AdjointProgram, weights: torch.Tensor) -> None:
        self.program = program
        self.weights = weights
        self.n_circuits = weights.shape[0]

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` -> ``(G, B, n_obs)``."""
        check_inputs(
            "AdjointBound.expectation",
            inputs,
            self.n_circuits,
            self.program.n_inputs,
            self.weights.dtype,
        )
        return _Adjoint.apply(self.program, inputs, self.weights)


def _angle(op, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor | float:
    """The angle of a rotation, ``(G, b)`` (or ``(G, 1)``, or a number)."""
    if op.angle.source == "input":
        return inputs[:, :, op.angle.index]
    if op.angle.source == "weight":
        return weights[:, op.angle.index, None]
    return op.angle.value


def _gate_matrix(op, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A one-qubit gate's matrices in complex128: ``(G, b | 1, 2, 2)`` for a parameterized
    rotation, ``(2, 2)`` otherwise (computed in float64: fewer roundings of the state)."""
    if op.angle is not None:
        return rotation_matrix(op.name, _float64(_angle(op, inputs, weights), inputs))
    return torch.as_tensor(op.matrix, dtype=torch.complex128, device=inputs.device)


def _apply_multi(
    program: AdjointProgram, position: int, op, state: torch.Tensor, inverse: bool
) -> torch.Tensor:
    """Apply (or undo) the multi-qubit gate at ``position``: a gather for a permutation with
    phases, a tensor contraction otherwise."""
    if position in program.permutations:
        source, phase_t, inverse_source = program.permutation_tables(position, state)
        if inverse:
            return (state * phase_t.conj())[..., inverse_source]
        return state[..., source] * phase_t
    matrix = torch.as_tensor(op.matrix, dtype=state.dtype, device=state.device)
    return apply_fixed(state, matrix.conj().T if inverse else matrix, op.qubits, program.n_qubits)


#: ``D = dU/dtheta U^dagger`` of each rotation gate: ``-i P / 2``, and ``i |1><1|`` for ``p``.
_GENERATORS = {
    name: -0.5j * torch.tensor(pauli, dtype=torch.complex128) for name, pauli in _PAULIS.items()
}
_GENERATORS["p"] = torch.tensor([[0, 0], [0, 1j]], dtype=torch.complex128)


class _Adjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, program: AdjointProgram, inputs: torch.Tensor, weights: torch.Tensor):
        ctx.program = program
        ctx.save_for_backward(inputs, weights)
        return torch.cat(
            [
                _expectations(program, _final_state(program, chunk, weights))
                for chunk in batch_chunks(program, inputs)
            ],
            dim=1,
        ).to(inputs.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_values: torch.Tensor):
        program = ctx.program
        inputs, weights = ctx.saved_tensors
        n = program.n_qubits
        grad_inputs = torch.zeros_like(inputs)
        grad_weights = torch.zeros_like(weights)
        start = 0
        for chunk in batch_chunks(program, inputs):
            stop = start + chunk.shape[1]
            psi = _final_state(program, chunk, weights)
            lam = psi * _weighted_diagonal(program, grad_values[:, start:stop])
            for segment in reversed(program.segments):
                if isinstance(segment, int):  # a multi-qubit gate
                    op = program.instructions[segment]
                    psi = _apply_multi(program, segment, op, psi, inverse=True)
                    lam = _apply_multi(program, segment, op, lam, inverse=True)
                    continue
                for qubit, ops in segment.items():
                    psi, lam = _run_backward(
                        ops,
                        qubit,
                        n,
                        psi,
                        lam,
                        chunk,
                        weights,
                        grad_inputs[:, start:stop],
                        grad_weights,
                    )
            start = stop
        return None, grad_inputs, grad_weights


def _overlap(psi: torch.Tensor, lam: torch.Tensor, qubit: int, n: int) -> torch.Tensor:
    """``rho[..., c, a] = sum_rest psi[..., c, rest] conj(lam[..., a, rest])`` on ``qubit``: the
    qubit's axis moved to the front of each state (one copy), then one batched product."""
    lead = psi.shape[:-1]
    view = (-1, 2 ** (n - 1 - qubit), 2, 2**qubit)
    first = psi.reshape(view).transpose(1, 2).reshape(-1, 2, 2 ** (n - 1))
    second = lam.reshape(view).transpose(1, 2).reshape(-1, 2, 2 ** (n - 1))
    return (first @ second.transpose(1, 2).conj()).reshape(*lead, 2, 2)


def _run_backward(
    ops: list,
    qubit: int,
    n: int,
    psi: torch.Tensor,
    lam: torch.Tensor,
    inputs: torch.Tensor,
    weights: torch.Tensor,
    grad_inputs: torch.Tensor,
    grad_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo one qubit's run of one-qubit gates on ``psi`` and ``lam``, adding the derivatives of
    its rotations to the gradients.

    With ``psi, lam`` after the run and ``B`` the inverse of the gates after gate ``j``, the
    states after gate ``j`` are ``B psi`` and ``B lam``, so ``<lam_j| D_j |psi_j> =
    Tr(B^dagger D_j B rho)`` with the 2x2 overlap ``rho[c, a] = sum_rest psi[c, rest]
    conj(lam[a, rest])``: one pass over the states for ``rho``, one to apply the run's inverse.
    """
    rho = _overlap(psi, lam, qubit, n).to(torch.complex128)  # (G, b, 2, 2)
    inverse = torch.eye(2, dtype=torch.complex128, device=psi.device)
    for op in reversed(ops):
        matrix = _gate_matrix(op, inputs, weights)
        if op.angle is not None and op.angle.source != "const":
            generator = _GENERATORS[op.name].to(psi.device)
            moved = inverse.conj().transpose(-1, -2) @ generator @ inverse
            slope = 2 * (moved * rho.transpose(-1, -2)).sum((-1, -2)).real  # Tr(moved rho)
            slope = slope.to(grad_inputs.dtype)
            if op.angle.source == "input":
                grad_inputs[:, :, op.angle.index] += slope
            else:
                grad_weights[:, op.angle.index] += slope.sum(1)
        inverse = matrix.conj().transpose(-1, -2) @ inverse
    inverse = inverse.to(psi.dtype)
    return apply_1q(psi, inverse, qubit, n), apply_1q(lam, inverse, qubit, n)


def _expectations(program: AdjointProgram, state: torch.Tensor) -> torch.Tensor:
    """``(G, b, n_obs)`` from the states ``(G, b, 2**n)``: each Z string's expectation by
    reductions of the probabilities (no ``2**n``-long diagonal is ever stored)."""
    probabilities = state.real.square() + state.imag.square()
    n = program.n_qubits
    values = []
    for terms in program.terms:
        total = torch.zeros(
            probabilities.shape[:-1], dtype=torch.float64, device=probabilities.device
        )
        for coeff, qubits in terms:
            reduced = probabilities
            for q in range(n - 1, -1, -1):  # fold the highest qubit each time
                pair = reduced.reshape(*reduced.shape[:-1], 2, 2**q)
                reduced = pair[..., 0, :] - pair[..., 1, :] if q in qubits else pair.sum(-2)
                if not any(p < q for p in qubits):  # only unsigned qubits left: sum them
                    reduced = reduced.sum(-1, keepdim=True)
                    break
            total = total + coeff * reduced[..., 0].double()
        values.append(total)
    return torch.stack(values, -1)


def _weighted_diagonal(program: AdjointProgram, grad_values: torch.Tensor) -> torch.Tensor:
    """``(G, b, 2**n)``: the diagonal of ``M = sum_k g_k O_k`` for ``g = grad_values``."""
    n = program.n_qubits
    diagonal = grad_values.new_zeros(*grad_values.shape[:-1], 2**n)
    for k, terms in enumerate(program.terms):
        for coeff, qubits in terms:
            weight = coeff * grad_values[..., k]
            if not qubits:
                diagonal += weight[..., None]
                continue
            lowest = min(qubits)  # the pattern is constant over the qubits below this one
            sign = torch.ones(1, dtype=diagonal.dtype, device=diagonal.device)
            for q in range(n - 1, lowest - 1, -1):  # the +-1 pattern, most significant first
                factor = torch.tensor(
                    [1.0, -1.0] if q in qubits else [1.0, 1.0],
                    dtype=diagonal.dtype,
                    device=diagonal.device,
                )
                sign = (sign[:, None] * factor[None, :]).reshape(-1)
            low = 2**lowest
            view = diagonal.reshape(*diagonal.shape[:-1], -1, low)
            view += weight[..., None, None] * sign[:, None]
    return diagonal


def batch_chunks(program: AdjointProgram, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The inputs ``(G, B, n_inputs)`` in chunks along ``B`` of at most ``CHUNK_AMPLITUDES``
    amplitudes of state each."""
    per_row = inputs.shape[0] * 2**program.n_qubits
    size = max(1, CHUNK_AMPLITUDES // per_row)
    return inputs.split(size, dim=1)


def _final_state(program: AdjointProgram, inputs: torch.Tensor, weights: torch.Tensor):
    """``(G, b, 2**n)``: the circuit applied to ``|0...0>`` for every row."""
    dtype = complex_dtype(inputs.dtype)
    shape = (inputs.shape[0], inputs.shape[1], 2**program.n_qubits)
    state = None  # |0...0>, built as a product state by the first flush
    # runs of one-qubit gates on a qubit are multiplied first (in float64: fewer roundings of the
    # state), and applied when a multi-qubit gate needs the qubit or at the end
    pending: dict[int, torch.Tensor] = {}
    fresh = True  # the state is still |0...0>: the first runs give a product state

    def flush(qubits):
        nonlocal state, fresh
        if fresh:  # one pass: the Kronecker product of every qubit's M |0>
            zero = torch.tensor([1, 0], dtype=torch.complex128, device=inputs.device)
            vectors = [
                pending.pop(q)[..., :, 0] if q in pending else zero for q in range(program.n_qubits)
            ]
            vectors = torch.stack(torch.broadcast_tensors(*vectors), -2)  # (G, b | 1, n, 2)
            state = kron_states(vectors.to(dtype)).expand(*shape).contiguous()
            fresh = False
            return
        for qubit in qubits:
            if qubit in pending:
                state = apply_1q(state, pending.pop(qubit).to(dtype), qubit, program.n_qubits)

    with torch.no_grad():
        for position, op in enumerate(program.instructions):
            if len(op.qubits) == 1:
                (qubit,) = op.qubits
                matrix = _gate_matrix(op, inputs, weights)
                pending[qubit] = matrix if qubit not in pending else matrix @ pending[qubit]
                continue
            flush(
                program.permutations[position][3] if position in program.permutations else op.qubits
            )
            state = _apply_multi(program, position, op, state, inverse=False)
        flush(list(pending))
    return state


def _float64(angle, like: torch.Tensor) -> torch.Tensor:
    return (
        angle.double()
        if isinstance(angle, torch.Tensor)
        else torch.tensor(angle, dtype=torch.float64, device=like.device)
    )
