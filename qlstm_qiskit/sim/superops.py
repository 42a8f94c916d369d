"""Superoperator maths on flattened density matrices, for the density-matrix engine.

A density matrix ``rho (D, D)`` (``D = 2**n``) is held flattened, ``rho[r, c]`` at index
``r * D + c``: a vector over ``2n`` qubits in which qubit ``q`` of the columns sits at position
``q`` and qubit ``q`` of the rows at position ``n + q``. Superoperators follow Qiskit's convention
(``qiskit.quantum_info.SuperOp``: column stacking, ``vec(rho)[i + d j] = rho[i, j]``), so a
``k``-qubit superoperator on qubits ``Q`` acts on positions ``[n + Q..., Q...]``. Every
operation here also has its transpose, which the engine uses to carry observables backwards
(``<w, S v> = <S^T w, v>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .gates import apply_fixed


def unitary_superop(matrix: torch.Tensor) -> torch.Tensor:
    """``conj(U) (x) U``: the superoperators ``(..., d**2, d**2)`` of unitaries ``(..., d, d)``."""
    d = matrix.shape[-1]
    outer = matrix.conj()[..., :, None, :, None] * matrix[..., None, :, None, :]
    return outer.reshape(*matrix.shape[:-2], d * d, d * d)


def apply_one_qubit(rho: torch.Tensor, superop: torch.Tensor, qubit: int, n: int) -> torch.Tensor:
    """Apply one-qubit superoperators ``(4, 4)`` or ``(*lead', 4, 4)`` (broadcast against the
    lead axes) to ``rho (*lead, D * D)`` on ``qubit``."""
    high, low = 2 ** (n - 1 - qubit), 2**qubit
    view = rho.reshape(*rho.shape[:-1], high, 2, low, high, 2, low)  # (r_hi a r_lo c_hi b c_lo)
    matrix = superop.reshape(*superop.shape[:-2], 2, 2, 2, 2)  # (j, i, b, a): index i + 2 j
    out = torch.einsum("...jiba,...halgbm->...hilgjm", matrix, view)
    return out.reshape(*out.shape[: out.dim() - 6], -1)


@dataclass
class SuperopGate:
    """A fixed superoperator ``(4**k, 4**k)`` on ``qubits`` of an ``n``-qubit register."""

    matrix: torch.Tensor
    qubits: tuple[int, ...]
    n_qubits: int

    @property
    def positions(self) -> list[int]:
        return [self.n_qubits + q for q in self.qubits] + list(self.qubits)

    def apply(self, rho: torch.Tensor) -> torch.Tensor:
        return apply_fixed(rho, self.matrix, self.positions, 2 * self.n_qubits)

    def apply_transposed(self, w: torch.Tensor) -> torch.Tensor:
        return apply_fixed(w, self.matrix.transpose(0, 1), self.positions, 2 * self.n_qubits)


@dataclass
class PermutationGate:
    """A unitary permutation with phases on the flattened matrix:
    ``rho'[k] = phase[k] rho[source[k]]`` (``phase`` ``None`` when all ones)."""

    source: torch.Tensor
    inverse: torch.Tensor  # source[inverse[j]] = j
    phase: torch.Tensor | None

    def apply(self, rho: torch.Tensor) -> torch.Tensor:
        rho = rho[..., self.source]
        return rho if self.phase is None else rho * self.phase

    def apply_transposed(self, w: torch.Tensor) -> torch.Tensor:
        return (w if self.phase is None else w * self.phase)[..., self.inverse]
