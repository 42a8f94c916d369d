"""Gate maths on batches of statevectors, shared by the engines of this package.

States are ``(*lead, 2**n)`` complex tensors, amplitude index ``i = sum_q b_q 2**q`` (Qiskit's
little-endian order); ``lead`` is usually ``(G, B)``: ``G`` circuits times ``B`` input rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype of a real one; only float32 and float64 are simulated."""
    if dtype == torch.float64:
        return torch.complex128
    if dtype == torch.float32:
        return torch.complex64
    raise TypeError(f"CompiledCircuit: weights must be float32 or float64, got {dtype}")


def rotation_matrix(name: str, theta: torch.Tensor) -> torch.Tensor:
    """Matrices ``(*theta.shape, 2, 2)`` of the rotation gate ``name`` (``rx, ry, rz, p``;
    Qiskit's definitions)."""
    if name == "p":
        zero, one = torch.zeros_like(theta), torch.ones_like(theta)
        real = torch.stack((one, zero, zero, torch.cos(theta)), -1)
        imag = torch.stack((zero, zero, zero, torch.sin(theta)), -1)
    else:
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        zero = torch.zeros_like(theta)
        if name == "rx":
            real, imag = torch.stack((c, zero, zero, c), -1), torch.stack((zero, -s, -s, zero), -1)
        elif name == "ry":
            real, imag = torch.stack((c, -s, s, c), -1), torch.stack((zero,) * 4, -1)
        else:  # rz
            real, imag = torch.stack((c, zero, zero, c), -1), torch.stack((-s, zero, zero, s), -1)
    return torch.complex(real, imag).unflatten(-1, (2, 2))


def apply_1q(state: torch.Tensor, matrix: torch.Tensor, qubit: int, n_qubits: int) -> torch.Tensor:
    """Apply a one-qubit gate to a batch of states.

    Args:
        state: ``(*lead, 2**n_qubits)``.
        matrix: ``(2, 2)`` or ``(*lead', 2, 2)`` broadcastable against ``lead``.
    """
    lead = state.shape[:-1]
    view = state.reshape(*lead, 2 ** (n_qubits - 1 - qubit), 2, 2**qubit)
    s0, s1 = view[..., 0, :], view[..., 1, :]
    m = matrix[..., None, None]  # broadcast over the (high, low) amplitude axes
    new0 = m[..., 0, 0, :, :] * s0 + m[..., 0, 1, :, :] * s1
    new1 = m[..., 1, 0, :, :] * s0 + m[..., 1, 1, :, :] * s1
    return torch.stack((new0, new1), -2).reshape(*lead, -1)


def apply_fixed(
    state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int], n_qubits: int
) -> torch.Tensor:
    """Apply a k-qubit gate ``matrix (2**k, 2**k)`` by contracting its ``(2,)*2k`` tensor with
    the state's axes of ``qubits``."""
    lead = state.shape[:-1]
    k = len(qubits)
    tensor = state.reshape(*lead, *([2] * n_qubits))
    # amplitude axis of qubit q (after the lead axes) is n - 1 - q; the gate's local index is
    # little-endian in ``qubits``, so its row/column axes are ordered from qubits[-1] to qubits[0].
    axes = [len(lead) + n_qubits - 1 - q for q in reversed(qubits)]
    gate = matrix.reshape(*([2] * (2 * k)))
    moved = torch.tensordot(tensor, gate, dims=(axes, list(range(k, 2 * k))))
    # tensordot appends the gate's output axes at the end; move them back into place.
    out = torch.movedim(moved, list(range(moved.dim() - k, moved.dim())), axes)
    return out.reshape(*lead, -1)


@dataclass
class PhasedPermutation:
    """A fixed permutation with phases of the amplitudes (CNOT, CZ, SWAP, ... and products):
    ``psi -> phase * psi[source]``, both ``(2**n,)``."""

    source: np.ndarray
    phase: np.ndarray

    @classmethod
    def of_gate(
        cls, matrix: np.ndarray, qubits: Sequence[int], n_qubits: int
    ) -> PhasedPermutation | None:
        """The gate ``matrix`` on ``qubits`` over the full register if it has one non-zero per
        row, else ``None``."""
        nonzero = np.abs(matrix) > 1e-12
        if not np.all(nonzero.sum(axis=1) == 1):
            return None
        column = nonzero.argmax(axis=1)
        index = np.arange(2**n_qubits)
        local = sum(((index >> q) & 1) << k for k, q in enumerate(qubits))
        source = index
        for k, q in enumerate(qubits):  # ``index`` with its bits on ``qubits`` set to ``column``
            source = (source & ~(1 << q)) | (((column[local] >> k) & 1) << q)
        return cls(source, matrix[local, column[local]])

    @property
    def phases(self) -> np.ndarray | None:
        """``phase``, or ``None`` when every phase is 1 (a plain permutation)."""
        return None if np.allclose(self.phase, 1.0) else self.phase

    def then(self, other: PhasedPermutation) -> PhasedPermutation:
        """This permutation followed by ``other``."""
        return PhasedPermutation(self.source[other.source], other.phase * self.phase[other.source])


def kron_tree(factors: torch.Tensor) -> torch.Tensor:
    """``(..., V, 2)`` real pairs -> ``(..., 2**V)``, their Kronecker product (factor 0 most
    significant), combining neighbours pairwise: ``log2 V`` products instead of ``V - 1``."""
    if factors.shape[-2] == 0:
        return factors.new_ones(*factors.shape[:-2], 1)
    leftovers = []
    while factors.shape[-2] > 1:
        if factors.shape[-2] % 2:
            leftovers.append(factors[..., -1, :])
            factors = factors[..., :-1, :]
        factors = (factors[..., 0::2, :, None] * factors[..., 1::2, None, :]).flatten(-2)
    total = factors[..., 0, :]
    for leftover in reversed(leftovers):
        total = (total[..., :, None] * leftover[..., None, :]).flatten(-2)
    return total


def kron_rows(blocks: torch.Tensor) -> torch.Tensor:
    """``(..., n, r, c)`` -> ``(..., r**n, c**n)``, Kronecker product of the blocks (block n-1 most
    significant): row ``(b_{n-1}, ..., b_0)`` is the Kronecker product of the chosen rows."""
    total = blocks[..., -1, :, :]
    for q in range(blocks.shape[-3] - 2, -1, -1):
        block = blocks[..., q, :, :]
        total = total[..., :, None, :, None] * block[..., None, :, None, :]
        total = total.flatten(-4, -3).flatten(-2)
    return total


def kron_states(vectors: torch.Tensor) -> torch.Tensor:
    """``(..., n, 2)`` one-qubit states -> ``(..., 2**n)`` product state (qubit 0 least
    significant)."""
    state = vectors[..., -1, :]
    for q in range(vectors.shape[-2] - 2, -1, -1):
        state = (state[..., :, None] * vectors[..., q, None, :]).flatten(-2)
    return state
