"""NumPy evaluation of a *product-kernel* circuit, with its derivatives written by hand.

A bound circuit whose input-dependent part is one layer of single-qubit rotations on ``|0...0>``,
followed only by weight-only or fixed gates (the default gate circuit, and every circuit with one
re-uploading block on few qubits; see :class:`~qlstm_qiskit.sim.steps.ExpandedStart`), prepares
the product state ``kron_q u_q`` and then applies one fixed permutation with phases or one unitary
``U``. With ``m`` input rotations per qubit::

    p_{q,k} = (cos(x[index[q,k]] / 2), sin(x[index[q,k]] / 2))    k = 0 .. m-1
    w_q     = p_{q,0} kron ... kron p_{q,m-1}                       (2**m,) real
    u_q     = w_q @ E_q                                             E_q: (2**m, 2) complex
    state   = (kron_q u_q) @ U                                      (D,) complex
    values  = |state|**2 @ signs                                    signs: (D, n_obs)

``E_q`` (each qubit's basis vectors) and ``U`` depend on the weights only.
:class:`ProductKernel` evaluates this for ``G`` circuits and ``B`` input rows, and its
vector-Jacobian products, in NumPy: for the small arrays of a time step NumPy's per-operation cost
is a fraction of torch's, and the recurrence that calls it (:mod:`qlstm_qiskit.recurrence`)
differentiates a whole sequence by hand, so no autograd graph is needed inside. Complex gradients
follow torch's convention ``dL/dRe + i dL/dIm``.

Layout: the batch axis ``B`` is innermost (``(G, n, 2, B)`` qubit states, ``(G, D, B)`` states),
so the Kronecker products run over contiguous rows; qubits are in Kronecker order (``n - 1``
first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def kron_pairs(factors: np.ndarray) -> tuple[np.ndarray, list, list]:
    """``(..., V, 2, B)`` pairs -> ``(..., 2**V, B)``, their Kronecker product (factor 0 most
    significant) for every leading and trailing index, and the tape of
    :func:`kron_pairs_backward`. Neighbours are combined pairwise: ``log2 V`` products."""
    levels, leftovers = [], []
    while factors.shape[-3] > 1:
        leftover = None
        if factors.shape[-3] % 2:
            leftover = factors[..., -1, :, :]
            factors = factors[..., :-1, :, :]
        left, right = factors[..., 0::2, :, :], factors[..., 1::2, :, :]
        levels.append((left, right, leftover))
        product = left[..., :, :, None, :] * right[..., :, None, :, :]  # (..., K, wl, wr, B)
        factors = product.reshape(*product.shape[:-3], -1, product.shape[-1])
    total = factors[..., 0, :, :]
    for _left, _right, leftover in reversed(levels):
        if leftover is not None:
            leftovers.append((total, leftover))
            product = total[..., :, None, :] * leftover[..., None, :, :]
            total = product.reshape(*product.shape[:-3], -1, product.shape[-1])
    return total, levels, leftovers


def kron_pairs_backward(levels: list, leftovers: list, grad: np.ndarray) -> np.ndarray:
    """Gradient ``(..., V, 2, B)`` of the factors of :func:`kron_pairs` from that of its
    product ``(..., 2**V, B)``, for real factors (for complex ones, conjugate the gradient before
    and after, as :meth:`ProductKernel.backward` does)."""
    leftover_grads = []
    for total, leftover in reversed(leftovers):
        pairs = grad.reshape(*grad.shape[:-2], total.shape[-2], leftover.shape[-2], grad.shape[-1])
        leftover_grads.append((pairs * total[..., :, None, :]).sum(-3))
        grad = (pairs * leftover[..., None, :, :]).sum(-2)
    grad = grad[..., None, :, :]  # (..., 1, w, B): the single factor of the last level
    for left, right, leftover in reversed(levels):
        pairs = grad.reshape(*grad.shape[:-2], left.shape[-2], right.shape[-2], grad.shape[-1])
        grad_left = (pairs * right[..., :, None, :, :]).sum(-2)
        grad_right = (pairs * left[..., :, :, None, :]).sum(-3)
        grad = np.empty((*grad_left.shape[:-2], 2, *grad_left.shape[-2:]), grad_left.dtype)
        grad[..., 0, :, :], grad[..., 1, :, :] = grad_left, grad_right  # (..., K, 2, w, B)
        grad = grad.reshape(*grad.shape[:-4], -1, *grad.shape[-2:])
        if leftover is not None:
            grad = np.concatenate((grad, leftover_grads.pop()[..., None, :, :]), -3)
    return grad


class ProductKernel:
    """The product-kernel circuit of the module docstring, evaluated and differentiated in NumPy.

    Args:
        index: ``(n * m,)`` the circuit input of each pair: qubits in Kronecker order, each
            qubit's ``m`` rotations in circuit order.
        signs: ``(D, n_obs)`` the observables' diagonals.
        permutation: ``(source, phase)`` of the fixed permutation ``state[j] = phase[j] *
            psi[source[j]]`` (``phase`` may be ``None``) when there is no unitary, or ``None``.

    :meth:`BoundCircuit.product_kernel <qlstm_qiskit.sim.statevector.BoundCircuit.product_kernel>`
    builds it, with the basis vectors and the unitary as tensors.
    """

    def __init__(
        self,
        index: np.ndarray,
        signs: np.ndarray,
        n_qubits: int,
        permutation: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> None:
        self.index = index
        self.signs = signs
        self.n_qubits = n_qubits
        self.permutation = permutation
        # (cos(x/2), sin(x/2)) = cos(x/2 - (0, pi/2))
        self._offsets = np.array([[0.0], [-np.pi / 2]], dtype=signs.dtype)

    def operands(self, arrays: Sequence, circuits: int) -> tuple:
        """The weight-dependent operands of one sequence from ``arrays``: the basis vectors
        ``(G | 1, n, 2**m, 2)`` (qubit order) and the unitary ``(G, D, D)`` or ``None``."""
        basis, unitary = arrays
        basis = np.broadcast_to(basis[:, ::-1], (circuits, *basis.shape[1:]))  # Kronecker order
        transposed = None if unitary is None else unitary.transpose(0, 2, 1)
        return basis, np.ascontiguousarray(basis.transpose(0, 1, 3, 2)), unitary, transposed

    def forward(self, operands: tuple, angles: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Selected inputs ``angles (G, n * m, B)`` (``x[index]``, batch last) -> values
        ``(G, B, n_obs)`` and what :meth:`backward` needs."""
        _basis, basis_t, _unitary, unitary_t = operands
        circuits, _, batch = angles.shape
        angles = angles.reshape(circuits, self.n_qubits, -1, 1, batch)
        pairs = np.cos(0.5 * angles + self._offsets)  # (G, n, m, 2, B)
        weights, levels, leftovers = kron_pairs(pairs)  # (G, n, 2**m, B)
        qubits = basis_t @ weights  # (G, n, 2, B) complex
        psi, psi_levels, psi_leftovers = kron_pairs(qubits)  # (G, D, B)
        if unitary_t is not None:
            state = unitary_t @ psi
        else:
            source, phase = self.permutation if self.permutation is not None else (None, None)
            state = psi if source is None else psi[:, source]
            if phase is not None:
                state = state * phase[:, None]
        probabilities = state.real * state.real + state.imag * state.imag
        values = probabilities.transpose(0, 2, 1) @ self.signs
        return values, (
            pairs,
            levels,
            leftovers,
            weights,
            qubits,
            psi_levels,
            psi_leftovers,
            psi,
            state,
        )

    def backward(
        self, operands: tuple, saved: tuple, grad_values: np.ndarray
    ) -> tuple[np.ndarray, tuple]:
        """Gradient ``(G, n * m, B)`` of the selected inputs from that of the values
        ``(G, B, n_obs)``, and a piece of the operands' gradient (see :meth:`operand_grads`)."""
        basis, _basis_t, unitary, _unitary_t = operands
        pairs, levels, leftovers, weights, qubits, psi_levels, psi_leftovers, psi, state = saved
        grad_state = 2 * state * (self.signs @ grad_values.transpose(0, 2, 1))  # (G, D, B)
        if unitary is not None:
            grad_psi = unitary.conj() @ grad_state
        elif self.permutation is not None:
            source, phase = self.permutation
            grad_psi = np.empty_like(grad_state)
            grad_psi[:, source] = (
                grad_state if phase is None else grad_state * phase.conj()[:, None]
            )
        else:
            grad_psi = grad_state
        # complex factors: d(a b) gives g conj(b) = conj(conj(g) b)
        grad_qubits = kron_pairs_backward(psi_levels, psi_leftovers, grad_psi.conj()).conj()
        grad_weights = (basis.conj() @ grad_qubits).real  # (G, n, 2**m, B)
        grad_pairs = kron_pairs_backward(levels, leftovers, grad_weights)  # (G, n, m, 2, B)
        # d(cos, sin)(x/2)/dx = (-sin, cos) / 2
        grad_angles = 0.5 * (
            grad_pairs[..., 1, :] * pairs[..., 0, :] - grad_pairs[..., 0, :] * pairs[..., 1, :]
        )
        piece = (weights, grad_qubits, psi if unitary is not None else None, grad_state)
        return grad_angles.reshape(grad_angles.shape[0], -1, grad_angles.shape[-1]), piece

    @staticmethod
    def operand_grads(
        operands: tuple, pieces: Sequence[tuple], shapes: Sequence
    ) -> list[np.ndarray | None]:
        """Gradients of the basis vectors ``(basis_circuits, n, 2**m, 2)`` (qubit order; the
        shape of the basis tensor is ``shapes[0]``) and of the unitary (``None`` without one),
        each summed over all :meth:`backward` pieces in one matrix product."""
        basis_circuits = shapes[0][0]
        weights, grad_qubits, psis, grad_states = zip(*pieces, strict=True)
        # u = E^T w: dE[i, j] = sum_b w[i, b] g_u[j, b]
        grad_basis = np.concatenate(weights, -1) @ np.concatenate(grad_qubits, -1).transpose(
            0, 1, 3, 2
        )
        grad_basis = grad_basis[:, ::-1]  # back to qubit order
        if basis_circuits != grad_basis.shape[0]:  # one basis shared by all circuits
            grad_basis = grad_basis.sum(0, keepdims=True)
        grad_unitary = None
        if operands[2] is not None:  # state = U^T psi: dU = conj(psi) g_state^T
            grad_unitary = np.concatenate(psis, -1).conj() @ np.concatenate(
                grad_states, -1
            ).transpose(0, 2, 1)
        return [grad_basis, grad_unitary]
