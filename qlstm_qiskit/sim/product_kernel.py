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


def kron_halves(factors: np.ndarray) -> tuple[np.ndarray, tuple]:
    """``(G, V, 2, B)`` -> ``(G, 2**V, B)`` as :func:`kron_pairs` computes it, but as one
    outer product of the two halves' products: every full-size pass happens once (kron_pairs
    combines odd leftovers at full size, last)."""
    count = factors.shape[1]
    if count < 8:  # small states: fewer calls beat fewer passes
        state, levels, leftovers = kron_pairs(factors)
        return state, (levels, leftovers)
    high, high_levels, high_leftovers = kron_pairs(factors[:, : (count + 1) // 2])
    low, low_levels, low_leftovers = kron_pairs(factors[:, (count + 1) // 2 :])
    state = high[:, :, None, :] * low[:, None, :, :]  # (G, Dh, Dl, B)
    tape = (high, low, (high_levels, high_leftovers), (low_levels, low_leftovers))
    return state.reshape(state.shape[0], -1, state.shape[-1]), tape


def kron_halves_backward(tape: tuple, grad: np.ndarray) -> np.ndarray:
    """Gradient ``(G, V, 2, B)`` of the factors of :func:`kron_halves` (for real factors, as
    :func:`kron_pairs_backward`)."""
    if len(tape) == 2:
        return kron_pairs_backward(*tape, grad)
    high, low, high_tape, low_tape = tape
    pairs = grad.reshape(grad.shape[0], high.shape[1], low.shape[1], grad.shape[-1])
    # einsum contracts without a full-size temporary: 3-4x faster than product-then-sum at 15-16
    # qubits (measured), where the temporary is 16-32 MiB
    grad_high = np.einsum("ghlb,glb->ghb", pairs, low)
    grad_low = np.einsum("ghlb,ghb->glb", pairs, high)
    return np.concatenate(
        (kron_pairs_backward(*high_tape, grad_high), kron_pairs_backward(*low_tape, grad_low)), 1
    )


#: from this many qubits Z-string observables are evaluated as products of the qubits' ``<Z>``
#: (below, the ``2**n`` probabilities take fewer NumPy calls: measured slower at 4 qubits)
CHARACTER_MIN_QUBITS = 7


def parity_characters(signs: np.ndarray, n_qubits: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(masks (n_obs, n) bool, scale (n_obs,))`` when every column of ``signs (D, n_obs)`` is
    ``scale[j] * (-1)**popcount(i & mask_j)``, a scaled Z-string (``masks`` in Kronecker order:
    qubit ``n - 1`` first); else ``None``. On a product state such an observable's value is
    ``scale[j] * prod_{q in mask_j} (p_q0 - p_q1)``: no ``2**n`` array at all."""
    scale = signs[0].copy()
    units = signs[2 ** np.arange(n_qubits)]  # (n, n_obs): the column at each one-bit index
    masks = units != scale  # qubit order
    parity = np.zeros((len(signs), signs.shape[1]), dtype=bool)
    every = np.arange(len(signs))
    for q in range(n_qubits):
        parity ^= ((every >> q) & 1).astype(bool)[:, None] & masks[q]
    if not np.array_equal(np.where(parity, -scale, scale), signs):
        return None
    return np.ascontiguousarray(masks[::-1].T), scale


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

    The qubit states are computed as real parts, ``(Re u_q, Im u_q) = rows @ w_q``, together
    with their derivatives by the qubit's ``m`` inputs (forward mode: the Kronecker product of
    the pairs once more per input, that input's pair differentiated), so that the backward pass
    of a step, which the recurrence runs step after step, is short. Without a unitary the state
    stays a product state up to the permutation, whose phases do not change probabilities:
    ``|state|**2`` is the Kronecker product of the real magnitudes ``|u_q|**2``, with the signs
    permuted to match (:attr:`signs_seen`); no complex state is formed. (Every small NumPy call
    costs about as much as its arithmetic here: the fewer calls per step, the faster.)
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
        #: ``(D, n_obs)``: the signs of ``|psi|**2`` before the permutation: ``signs_seen[i] =
        #: signs[j]`` for ``source[j] = i``
        self.signs_seen = signs
        if permutation is not None:
            self.signs_seen = np.empty_like(signs)
            self.signs_seen[permutation[0]] = signs
        #: the observables as Z-strings of the permuted product state, or ``None``
        #: (:func:`parity_characters`)
        self.characters = None
        if n_qubits >= CHARACTER_MIN_QUBITS:
            self.characters = parity_characters(self.signs_seen, n_qubits)
        #: ``(n_obs, D)`` for the probabilities' readout (not needed with :attr:`characters`)
        self.signs_seen_t = None
        if self.characters is None:
            self.signs_seen_t = np.ascontiguousarray(self.signs_seen.T)
        # cos(x/2 - offsets) = (cos, sin, -sin, cos)(x/2): the pair and twice its derivative
        self._offsets = np.array([[0.0], [np.pi / 2], [-np.pi / 2], [0.0]], dtype=signs.dtype)
        rotations = len(index) // n_qubits
        # factor set 1 + k of a qubit's pairs has pair k differentiated
        self._tangents = (np.arange(1, rotations + 1), np.arange(rotations))

    def operands(self, arrays: Sequence, circuits: int) -> tuple:
        """The weight-dependent operands of one sequence from ``arrays`` (the basis vectors
        ``(G | 1, n, 2**m, 2)`` in qubit order and the unitary ``(G, D, D)`` or ``None``): the
        real rows ``(G, n, 1, 4, 2**m)`` of ``(Re u_q, Im u_q) = rows @ w_q`` (Kronecker order),
        their transpose ``(G, n, 2**m, 4)``, the unitary and its transpose (or ``None``)."""
        basis, unitary = arrays
        basis = np.broadcast_to(basis[:, ::-1], (circuits, *basis.shape[1:]))  # Kronecker order
        columns = np.concatenate((basis.real, basis.imag), -1)  # (G, n, 2**m, 4)
        rows = np.ascontiguousarray(columns.transpose(0, 1, 3, 2)[:, :, None])
        transposed = None if unitary is None else unitary.transpose(0, 2, 1)
        return rows, columns, unitary, transposed

    def forward(self, operands: tuple, angles: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Selected inputs ``angles (G, n * m, B)`` (``x[index]``, batch last) -> values
        ``(G, B, n_obs)`` and what :meth:`backward` needs."""
        rows, _columns, _unitary, unitary_t = operands
        circuits, inputs, batch = angles.shape
        n, m = self.n_qubits, inputs // self.n_qubits
        waves = np.cos(0.5 * angles.reshape(circuits, n, m, 1, batch) - self._offsets)
        factors = np.empty((circuits, n, 1 + m, m, 2, batch), dtype=waves.dtype)
        factors[...] = waves[:, :, None, :, :2]
        factors[:, :, self._tangents[0], self._tangents[1]] = waves[:, :, :, 2:]
        products = kron_pairs(factors)[0]  # (G, n, 1 + m, 2**m, B): w_q, then 2 dw_q / dx_k
        parts = rows @ products  # (G, n, 1 + m, 4, B): (Re u_q, Im u_q), then 2 du_q / dx_k
        if unitary_t is not None:
            qubits = parts[:, :, 0, :2] + 1j * parts[:, :, 0, 2:]  # (G, n, 2, B) complex
            psi, tape = kron_halves(qubits)  # (G, D, B)
            state = unitary_t @ psi
            probabilities = state.real * state.real + state.imag * state.imag
            values = (self.signs.T @ probabilities).transpose(0, 2, 1)
            return values, (products[:, :, 0], parts, tape, psi, state)
        squares = parts * parts[:, :, :1]
        magnitudes = squares[..., :2, :] + squares[..., 2:, :]  # (G, n, 1 + m, 2, B): |u_q|**2,
        # then d |u_q|**2 / dx_k
        if self.characters is not None:  # Z-strings: products of the qubits' <Z>
            masks, scale = self.characters
            z = magnitudes[:, :, 0, 0] - magnitudes[:, :, 0, 1]  # (G, n, B)
            factors = np.where(masks[:, :, None], z[:, None], 1)  # (G, n_obs, n, B)
            values = (factors.prod(2) * scale[:, None]).transpose(0, 2, 1)
            return values, (products[:, :, 0], parts, factors, magnitudes)
        probabilities, tape = kron_halves(magnitudes[:, :, 0])  # (G, D, B)
        values = (self.signs_seen_t @ probabilities).transpose(0, 2, 1)
        return values, (products[:, :, 0], parts, tape, magnitudes)

    def backward(
        self, operands: tuple, saved: tuple, grad_values: np.ndarray
    ) -> tuple[np.ndarray, tuple]:
        """Gradient ``(G, n * m, B)`` of the selected inputs from that of the values
        ``(G, B, n_obs)``, and a piece of the operands' gradient (see :meth:`operand_grads`)."""
        unitary = operands[2]
        weights, parts = saved[:2]
        circuits, n_qubits, _, _, batch = parts.shape
        grad_values = grad_values.transpose(0, 2, 1)  # (G, n_obs, B)
        if unitary is None:
            tape, magnitudes = saved[2:]
            if self.characters is not None:
                grad_magnitudes = self._character_backward(tape, grad_values)[:, :, None]
            else:
                grad_probabilities = self.signs_seen @ grad_values  # (G, D, B)
                grad_magnitudes = kron_halves_backward(tape, grad_probabilities)[:, :, None]
            grad_angles = (magnitudes[:, :, 1:] * grad_magnitudes).sum(-2)  # (G, n, m, B)
            # d |u|**2 = 2 (Re u dRe u + Im u dIm u)
            grad_parts = parts[:, :, 0].reshape(circuits, n_qubits, 2, 2, batch) * (
                2 * grad_magnitudes
            )
            piece = (weights, grad_parts.reshape(circuits, n_qubits, 4, batch), None, None)
            return grad_angles.reshape(circuits, -1, batch), piece
        tape, psi, state = saved[2:]
        grad_state = 2 * state * (self.signs @ grad_values)  # (G, D, B)
        grad_psi = unitary.conj() @ grad_state
        # complex factors: d(a b) gives g conj(b) = conj(conj(g) b)
        grad_qubits = kron_halves_backward(tape, grad_psi.conj()).conj()
        grad_parts = np.concatenate((grad_qubits.real, grad_qubits.imag), 2)  # (G, n, 4, B)
        grad_angles = 0.5 * (parts[:, :, 1:] * grad_parts[:, :, None]).sum(-2)  # (G, n, m, B)
        return grad_angles.reshape(circuits, -1, batch), (weights, grad_parts, psi, grad_state)

    def _character_backward(self, factors: np.ndarray, grad_values: np.ndarray) -> np.ndarray:
        """``(G, n, 2, B)``: the gradient of ``|u_q|**2`` from the values' ``(G, n_obs, B)``,
        through ``values[j] = scale[j] prod_q factors[j, q]`` (leave-one-out products)."""
        masks, scale = self.characters
        others = np.ones_like(factors)  # prod_{p != q} factors[j, p]
        others[:, :, 1:] = np.cumprod(factors[:, :, :-1], 2)
        others[:, :, :-1] *= np.cumprod(factors[:, :, :0:-1], 2)[:, :, ::-1]
        weights = (grad_values * scale[:, None])[:, :, None] * masks[:, :, None]
        grad_z = (weights * others).sum(1)  # (G, n, B)
        return np.stack((grad_z, -grad_z), 2)

    @staticmethod
    def operand_grads(
        operands: tuple, pieces: Sequence[tuple], shapes: Sequence
    ) -> list[np.ndarray | None]:
        """Gradients of the basis vectors ``(basis_circuits, n, 2**m, 2)`` (qubit order; the
        shape of the basis tensor is ``shapes[0]``) and of the unitary (``None`` without one),
        each summed over all :meth:`backward` pieces in one matrix product."""
        basis_circuits = shapes[0][0]
        weights, grad_parts, psis, grad_states = zip(*pieces, strict=True)
        # (Re u, Im u) = rows w: d rows[j, i] = sum_b g_parts[j, b] w[i, b]; a complex
        # gradient is dL/dRe + i dL/dIm
        grad_columns = np.concatenate(weights, -1) @ np.concatenate(grad_parts, -1).transpose(
            0, 1, 3, 2
        )  # (G, n, 2**m, 4)
        grad_basis = np.empty(
            grad_columns.shape[:-1] + (2,), np.result_type(grad_columns.dtype, np.complex64)
        )
        grad_basis.real, grad_basis.imag = grad_columns[..., :2], grad_columns[..., 2:]
        grad_basis = grad_basis[:, ::-1]  # back to qubit order
        if basis_circuits != grad_basis.shape[0]:  # one basis shared by all circuits
            grad_basis = grad_basis.sum(0, keepdims=True)
        grad_unitary = None
        if operands[2] is not None:  # state = U^T psi: dU = conj(psi) g_state^T
            grad_unitary = np.concatenate(psis, -1).conj() @ np.concatenate(
                grad_states, -1
            ).transpose(0, 2, 1)
        return [grad_basis, grad_unitary]
