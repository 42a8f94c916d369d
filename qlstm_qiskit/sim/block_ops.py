"""The operations of a block program, in NumPy, each with its hand-written reverse pass.

A :class:`~qlstm_qiskit.sim.block_kernel.BlockKernel` runs a circuit as a list of these
operations on states of shape ``(G, D, B)`` (``G`` circuits, ``D = 2**n`` amplitudes, the batch
``B`` last, as in :mod:`~qlstm_qiskit.sim.product_kernel`). Every operation is unitary, so the
reverse pass walks the operations backwards with two states, the state ``y`` after the operation
and its gradient ``g`` (torch's convention ``dL/dRe + i dL/dIm``), and returns both before it:
permutations and fixed gates are *undone* (``x = M^H y``); one-qubit layers, chunk products and
dense unitaries keep their input (a state per operation and time step: memory for fewer passes).
The derivative of a one-qubit matrix ``M`` applied to qubit ``q`` is ``g_M = S M`` with the 2x2
overlap ``S[c, b] = sum_rest g[c, rest] conj(y[b, rest])``, and for a product ``M = A P B``,
``g_P = A^H g_M B^H``; a rotation's angle then gets ``Re sum conj(g_P) dP/dtheta``.

Operands (weight-dependent matrices) are arrays of the kernel's operand list, indexed by *slot*;
gradients of the operands are added to ``grad_operands[slot]`` (summed over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .product_kernel import kron_halves, kron_halves_backward


# -- 2x2 matrices per row, shape (..., 2, 2, B) -------------------------------------------------
def rotation_and_slope(name: str, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matrices ``(..., 2, 2, B)`` of the rotation ``name`` (``rx, ry, rz, p``; Qiskit's
    definitions) for angles ``theta (..., B)``, and their derivatives by the angle."""
    if name == "p":
        zero, one = np.zeros_like(theta), np.ones_like(theta)
        phase = np.exp(1j * theta)
        matrix = np.stack((np.stack((one, zero), -2), np.stack((zero, phase), -2)), -3)
        slope = np.stack((np.stack((zero, zero), -2), np.stack((zero, 1j * phase), -2)), -3)
        return matrix, slope
    # exp(-i theta P / 2): its derivative is the same rotation by theta + pi, halved
    return _rotation(name, theta), 0.5 * _rotation(name, theta + np.pi)


def _rotation(name: str, theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(0.5 * theta), np.sin(0.5 * theta)
    if name == "rx":
        rows = ((c, -1j * s), (-1j * s, c))
    elif name == "ry":
        rows = ((c + 0j, -s + 0j), (s + 0j, c + 0j))
    else:  # rz
        rows = ((c - 1j * s, 0j * c), (0j * c, c + 1j * s))
    return np.stack([np.stack(row, -2) for row in rows], -3)


def times(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise 2x2 product ``left @ right`` of ``(..., 2, 2, B)`` arrays (broadcasting)."""
    first = left[..., :, 0:1, :] * right[..., 0:1, :, :]
    return first + left[..., :, 1:2, :] * right[..., 1:2, :, :]


def dagger(matrix: np.ndarray) -> np.ndarray:
    """Row-wise conjugate transpose of ``(..., 2, 2, B)``."""
    return matrix.conj().swapaxes(-3, -2)


def apply_qubit(state: np.ndarray, matrix: np.ndarray, qubit: int, n_qubits: int) -> np.ndarray:
    """``matrix (G | 1, 2, 2, B | 1)`` applied to ``qubit`` of ``state (G, D, B)``."""
    view = state.reshape(state.shape[0], 2 ** (n_qubits - 1 - qubit), 2, 2**qubit, state.shape[-1])
    s0, s1 = view[:, :, 0], view[:, :, 1]
    m = matrix[:, None, None]  # (G, 1, 1, 2, 2, B): broadcast over (high, low)
    out = np.empty_like(view, dtype=np.result_type(state, matrix))
    out[:, :, 0] = m[..., 0, 0, :] * s0 + m[..., 0, 1, :] * s1
    out[:, :, 1] = m[..., 1, 0, :] * s0 + m[..., 1, 1, :] * s1
    return out.reshape(state.shape)


def overlap(grad: np.ndarray, state: np.ndarray, qubit: int, n_qubits: int) -> np.ndarray:
    """``S (G, 2, 2, B)``: ``S[c, b] = sum_rest grad[c, rest] conj(state[b, rest])`` on
    ``qubit``, per row."""
    shape = (state.shape[0], 2 ** (n_qubits - 1 - qubit), 2, 2**qubit, state.shape[-1])
    grad, state = grad.reshape(shape), state.reshape(shape).conj()
    # one product of (G, rest, 2, 2, B) and a sum: faster than einsum's loop over the batch axis
    return (grad[:, :, :, None] * state[:, :, None, :]).sum((1, 4))


# -- operations ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputPiece:
    """Input rotations ``name(scale * x[index] + offset)`` on the qubits of a group."""

    name: str
    index: np.ndarray  # (m,) the circuit input of each qubit of the group
    scale: np.ndarray  # (m, 1)
    offset: np.ndarray  # (m, 1)
    unique: bool  # no input appears twice in ``index``


@dataclass(frozen=True)
class BoundPiece:
    """A weight-only (or fixed) run of gates on the qubits of a group: operand ``slot`` holds
    its matrices ``(G | 1, m, 2, 2)``."""

    slot: int


class LocalOp:
    """A layer of one-qubit gates: per group of qubits (same gate sequence), a product of
    :class:`InputPiece` and :class:`BoundPiece` matrices, first piece first. ``product``: the
    layer acts on ``|0...0>`` and yields the Kronecker product of each qubit's ``M |0>``."""

    def __init__(self, n_qubits: int, groups: list, product: bool) -> None:
        self.n_qubits, self.groups, self.product = n_qubits, groups, product

    def _matrices(self, operands: list, angles: np.ndarray) -> list:
        """Per group ``(M (G, m, 2, 2, B), tape)``; the tape holds each piece's matrix, slope
        and the product of the pieces before it."""
        out = []
        for _qubits, pieces in self.groups:
            total, tape = None, []
            for piece in pieces:
                slope = None
                if isinstance(piece, BoundPiece):
                    matrix = operands[piece.slot][..., None]  # (G | 1, m, 2, 2, 1)
                else:
                    theta = piece.scale * angles[:, piece.index] + piece.offset  # (G, m, B)
                    matrix, slope = rotation_and_slope(piece.name, theta)
                tape.append((piece, matrix, slope, total))
                total = matrix if total is None else times(matrix, total)
            out.append((total, tape))
        return out

    def forward(self, state, operands: list, angles: np.ndarray):
        """``state (G, D, B)`` (``None`` for a product layer) -> the state after the layer, and
        what :meth:`backward` needs."""
        per_group = self._matrices(operands, angles)
        if not self.product:  # keeps its input: the reverse pass need not undo the layer
            before = state
            for (qubits, _pieces), (matrix, _tape) in zip(self.groups, per_group, strict=True):
                for j, q in enumerate(qubits):
                    state = apply_qubit(state, matrix[:, j], q, self.n_qubits)
            return state, (per_group, before)
        circuits, batch = angles.shape[0], angles.shape[-1]
        vectors = np.empty((circuits, self.n_qubits, 2, batch), dtype=_complex(angles.dtype))
        for (qubits, _pieces), (matrix, _tape) in zip(self.groups, per_group, strict=True):
            vectors[:, qubits] = matrix[..., 0, :]  # M |0>: the first columns
        state, tape = kron_halves(vectors[:, ::-1])  # Kronecker order: qubit n-1 first
        return state, (per_group, tape)

    def backward(self, state, grad, operands, saved, grad_angles, grad_operands):
        """Gradients of the layer's pieces from the state after it and that state's gradient;
        returns the state before the layer and its gradient (``None, None`` for a product
        layer)."""
        if self.product:
            per_group, tape = saved
            # complex factors: d(a b) gives g conj(b) = conj(conj(g) b)
            grad_vectors = kron_halves_backward(tape, grad.conj()).conj()[:, ::-1]
            for (qubits, _pieces), (_matrix, tape) in zip(self.groups, per_group, strict=True):
                grad_matrix = np.zeros(
                    (*grad_vectors.shape[:1], len(qubits), 2, 2, grad.shape[-1]), dtype=grad.dtype
                )
                grad_matrix[..., 0, :] = grad_vectors[:, qubits]
                _piece_grads(tape, grad_matrix, grad_angles, grad_operands)
            return None, None
        per_group, before = saved
        for (qubits, _pieces), (matrix, tape) in zip(self.groups, per_group, strict=True):
            overlaps = np.stack([overlap(grad, state, q, self.n_qubits) for q in qubits], 1)
            grad_matrix = times(overlaps, matrix)  # (G, m, 2, 2, B)
            _piece_grads(tape, grad_matrix, grad_angles, grad_operands)
        for (qubits, _pieces), (matrix, _tape) in zip(self.groups, per_group, strict=True):
            inverse = dagger(matrix)
            for j, q in enumerate(qubits):
                grad = apply_qubit(grad, inverse[:, j], q, self.n_qubits)
        return before, grad


def _piece_grads(tape: list, grad_matrix, grad_angles, grad_operands) -> None:
    """Add the gradients of a product of pieces ``M = P_K ... P_1`` (its ``tape``) given that
    of ``M``: ``g_{P_k} = A^H g_M B^H`` with ``A`` the pieces after ``k`` and ``B`` before."""
    after = None  # A, built from the last piece down
    for piece, matrix, slope, before in reversed(tape):
        grad_piece = grad_matrix if after is None else times(dagger(after), grad_matrix)
        if before is not None:
            grad_piece = times(grad_piece, dagger(before))
        if isinstance(piece, InputPiece):
            slope_sum = (grad_piece.conj() * slope).real.sum((-3, -2)) * piece.scale  # (G, m, B)
            if piece.unique:
                grad_angles[:, piece.index] += slope_sum
            else:
                np.add.at(grad_angles, (slice(None), piece.index), slope_sum)
        else:
            total = grad_piece.sum(-1)  # (G, m, 2, 2): summed over the batch
            current = grad_operands[piece.slot]
            grad_operands[piece.slot] = total if current is None else current + total
        after = matrix if after is None else times(after, matrix)


class PermutationOp:
    """A fixed permutation with phases: ``y[j] = phase[j] x[source[j]]``."""

    def __init__(self, source: np.ndarray, phase: np.ndarray | None) -> None:
        self.source, self.inverse = source, np.argsort(source)
        self.phase = None if phase is None else phase[:, None]
        self.phase_conj = None if phase is None else self.phase.conj()

    def forward(self, state, operands, angles):
        state = state[:, self.source]
        return (state if self.phase is None else state * self.phase), None

    def backward(self, state, grad, operands, saved, grad_angles, grad_operands):
        if self.phase is not None:
            state, grad = state * self.phase_conj, grad * self.phase_conj
        return state[:, self.inverse], grad[:, self.inverse]


class DenseOp:
    """A weight-only segment folded into one unitary: operand ``slot`` holds ``(G, D, D)``
    with ``psi_out = psi_in @ matrix`` (row convention), i.e. ``y = matrix^T x`` here."""

    def __init__(self, slot: int) -> None:
        self.slot = slot

    def forward(self, state, operands, angles):
        return operands[self.slot][1] @ state, state  # keeps its input for the reverse pass

    def backward(self, state, grad, operands, saved, grad_angles, grad_operands):
        matrix = operands[self.slot][0]
        # y = U^T x: g_x = conj(U) g, g_U = conj(x) g^T
        total = saved.conj() @ grad.swapaxes(1, 2)
        current = grad_operands[self.slot]
        grad_operands[self.slot] = total if current is None else current + total
        return saved, matrix.conj() @ grad


#: the most qubits of one :class:`ChunkOp` (``2**4 = 16``-row matrices: measured fastest on one
#: core at 6 to 12 qubits, the batch 32, against 8 to 64 rows)
CHUNK_QUBITS = 4


def chunk_ranges(n_qubits: int) -> list[tuple[int, int]]:
    """The qubit ranges ``[lo, hi)`` of the :class:`ChunkOp` s of a layer: ``ceil(n / 4)``
    contiguous ranges of near-equal size, the highest (and larger) first."""
    count = -(-n_qubits // CHUNK_QUBITS)
    base, extra = divmod(n_qubits, count)
    ranges, high = [], n_qubits
    for size in [base + 1] * extra + [base] * (count - extra):
        ranges.append((high - size, high))
        high -= size
    return ranges


class ChunkOp:
    """The one-qubit gates of a weight-only layer on qubits ``lo..hi-1`` as one matrix product:
    operand ``slot`` holds ``(U (G | 1, K, K), U^H)``, ``K = 2**(hi - lo)``, the Kronecker product
    of the qubits' 2x2 matrices (qubit ``hi - 1`` most significant), applied to the state viewed
    as ``(G, H, K, L B)`` (``H = 2**(n - hi)``, ``L = 2**lo``). Keeps its input for the reverse
    pass: ``g_x = U^H g`` and ``g_U = sum g x^H``."""

    def __init__(self, slot: int, lo: int, hi: int, n_qubits: int) -> None:
        self.slot, self.high, self.size = slot, 2 ** (n_qubits - hi), 2 ** (hi - lo)

    def _view(self, state: np.ndarray) -> np.ndarray:
        return state.reshape(state.shape[0], self.high, self.size, -1)

    def forward(self, state, operands, angles):
        matrix, view = operands[self.slot][0], self._view(state)
        if self.high == 1:  # one matrix product per circuit
            return (matrix @ view[:, 0]).reshape(state.shape), view
        return (matrix[:, None] @ view).reshape(state.shape), view

    def backward(self, state, grad, operands, saved, grad_angles, grad_operands):
        adjoint, view = operands[self.slot][1], self._view(grad)
        if self.high == 1:
            total = view[:, 0] @ saved[:, 0].conj().swapaxes(-1, -2)
            grad = adjoint @ view[:, 0]
        else:
            total = (view @ saved.conj().swapaxes(-1, -2)).sum(1)
            grad = adjoint[:, None] @ view
        current = grad_operands[self.slot]
        grad_operands[self.slot] = total if current is None else current + total
        return saved.reshape(state.shape), grad.reshape(state.shape)


class FixedOp:
    """A fixed multi-qubit gate that is not a permutation, applied by tensor contraction."""

    def __init__(self, matrix: np.ndarray, qubits: tuple[int, ...], n_qubits: int) -> None:
        self.matrix, self.qubits, self.n_qubits = matrix, qubits, n_qubits

    def _apply(self, state: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        n, k = self.n_qubits, len(self.qubits)
        tensor = state.reshape(state.shape[0], *([2] * n), state.shape[-1])
        axes = [1 + n - 1 - q for q in reversed(self.qubits)]  # the gate's axes, high first
        moved = np.tensordot(tensor, matrix.reshape([2] * (2 * k)), (axes, list(range(k, 2 * k))))
        return np.moveaxis(moved, list(range(moved.ndim - k, moved.ndim)), axes).reshape(
            state.shape
        )

    def forward(self, state, operands, angles):
        return self._apply(state, self.matrix), None

    def backward(self, state, grad, operands, saved, grad_angles, grad_operands):
        inverse = self.matrix.conj().T
        return self._apply(state, inverse), self._apply(grad, inverse)


def _complex(real_dtype) -> np.dtype:
    return np.result_type(real_dtype, np.complex64)
