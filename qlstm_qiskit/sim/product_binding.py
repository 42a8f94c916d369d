"""The product kernel's basis bound from the weights in NumPy, with a hand-written derivative.

A training step changes the weights, so the basis ``(G, n, 2**m, 2)`` of
:class:`~qlstm_qiskit.sim.product_kernel.ProductKernel` is bound again every step. Through torch
autograd that is about fifty small operations forward and as many backward, a fifth of the
reference step; here it is a few NumPy calls. :class:`BasisBinding` holds the weight-free part
(``base (n, 2**m, 2)``: each qubit's vectors before the tail) and the tail's columns, one gate per
qubit each (a rotation by a weight, or a fixed matrix): ``basis[g, q, r] = T[g, q] base[q, r]``
with ``T = P_K ... P_1``. Its reverse pass: ``g_T = sum_r g[r] base[r]^H``, then
``g_{P_k} = A^H g_T B^H`` (``A``, ``B``: the columns after and before ``k``) and
``dL/dw = Re sum conj(g_P) dP/dw``.

:class:`BoundBasis` makes that one autograd node (NumPy forward, NumPy backward).
"""

from __future__ import annotations

import numpy as np
import torch

from .layers import ProductStage


class BasisBinding:
    """``basis (G, n, 2**m, 2)`` as a function of the weights ``(G, n_weights)``; see the module
    docstring. Build with :meth:`of_stage`."""

    def __init__(self, base: np.ndarray, columns: list) -> None:
        self.base = base  # (n, 2**m, 2) complex128
        #: per tail column: ``("rotation", name, weight index (n,))`` or ``("fixed", (n, 2, 2))``
        self.columns = columns

    @staticmethod
    def head_holds_weights(fast: ProductStage) -> bool:
        """Whether a gate before the input rotations is a rotation by a weight."""
        return any(
            op.angle is not None and op.angle.source == "weight"
            for _qubits, columns in fast.head.groups
            for column in columns
            for op in column
        )

    @classmethod
    def of_stage(cls, fast: ProductStage, base: torch.Tensor) -> BasisBinding | None:
        """The binding of ``fast`` whose weight-free vectors are ``base (n, 2**m, 2)``; ``None``
        where a weight angle is scaled or shifted (transpiled programs) or the head holds
        weights (then ``base`` would depend on them)."""
        if base.dim() != 3 or cls.head_holds_weights(fast):
            return None
        columns = []
        for _qubits, tail_columns in fast.tail.groups:
            for column in tail_columns:
                angle = column[0].angle
                if angle is not None and angle.source == "weight":
                    if any(op.angle.scale != 1.0 or op.angle.value != 0.0 for op in column):
                        return None
                    index = np.array([op.angle.index for op in column])
                    columns.append(("rotation", column[0].name, index))
                else:  # fixed: a gate without angle or with a constant one
                    columns.append(("fixed", fixed_matrices(column)))
        return cls(base.detach().cpu().numpy(), columns)

    def bind(self, weights: np.ndarray) -> tuple[np.ndarray, list]:
        """``weights (G, n_weights)`` -> ``basis (G, n, 2**m, 2)`` complex128 and the tape of
        :meth:`backward` (each column's matrix and slope)."""
        tape, tail = [], None
        for column in self.columns:
            slope = None
            if column[0] == "rotation":
                matrix, slope = rotation_with_slope(column[1], weights[:, column[2]])
            else:
                matrix = column[1]
            tape.append((column, matrix, slope, tail))
            tail = matrix if tail is None else matrix @ tail
        if tail is None:
            basis = np.broadcast_to(self.base, (weights.shape[0], *self.base.shape))
        else:
            basis = self.base @ tail.swapaxes(-1, -2)  # rows: T u
        return basis, tape

    def backward(self, tape: list, grad_basis: np.ndarray, n_weights: int) -> np.ndarray:
        """The weights' gradient ``(G, n_weights)`` from the basis' ``(G, n, 2**m, 2)``."""
        grad_weights = np.zeros((grad_basis.shape[0], n_weights))
        if not tape:
            return grad_weights
        grad_tail = grad_basis.swapaxes(-1, -2) @ self.base.conj()  # (G, n, 2, 2)
        after = None
        for column, matrix, slope, before in reversed(tape):
            grad_piece = grad_tail if after is None else after.conj().swapaxes(-1, -2) @ grad_tail
            if before is not None:
                grad_piece = grad_piece @ before.conj().swapaxes(-1, -2)
            if slope is not None:
                angle_grads = (grad_piece.conj() * slope).real.sum((-2, -1))  # (G, n)
                np.add.at(grad_weights, (slice(None), column[2]), angle_grads)
            after = matrix if after is None else after @ matrix
        return grad_weights


def rotation_with_slope(name: str, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 2, 2)`` complex128 matrices of the rotation ``name`` (``rx, ry, rz, p``; Qiskit's
    definitions) for angles ``theta (...)``, and their derivatives by the angle (element by
    element: a handful of small NumPy calls, the per-step cost here)."""
    half = 0.5 * theta.astype(np.float64)
    matrix = np.zeros((*theta.shape, 2, 2), np.complex128)
    slope = np.zeros_like(matrix)
    if name == "p":
        phase = np.exp(2j * half)
        matrix[..., 0, 0], matrix[..., 1, 1], slope[..., 1, 1] = 1, phase, 1j * phase
        return matrix, slope
    c, s = np.cos(half), np.sin(half)
    if name == "rz":
        phase = c - 1j * s  # exp(-i theta / 2)
        matrix[..., 0, 0], matrix[..., 1, 1] = phase, phase.conj()
        slope[..., 0, 0], slope[..., 1, 1] = -0.5j * phase, 0.5j * phase.conj()
        return matrix, slope
    matrix[..., 0, 0] = matrix[..., 1, 1] = c
    slope[..., 0, 0] = slope[..., 1, 1] = -0.5 * s
    if name == "rx":
        matrix[..., 0, 1] = matrix[..., 1, 0] = -1j * s
        slope[..., 0, 1] = slope[..., 1, 0] = -0.5j * c
    else:  # ry
        matrix[..., 0, 1], matrix[..., 1, 0] = -s, s
        slope[..., 0, 1], slope[..., 1, 0] = -0.5 * c, 0.5 * c
    return matrix, slope


def fixed_matrices(column: list) -> np.ndarray:
    """The matrices ``(n, 2, 2)`` of a tail column without weights (gates without angle, or
    rotations by constants ``scale * 0 + value``)."""
    matrices = []
    for op in column:
        if op.angle is None:
            matrices.append(np.asarray(op.matrix, dtype=np.complex128))
        else:
            matrices.append(rotation_with_slope(op.name, np.array(op.angle.value))[0])
    return np.stack(matrices)


class BoundBasis(torch.autograd.Function):
    """``basis = BoundBasis.apply(binding, weights)``: the basis ``(G, n, 2**m, 2)`` (complex of
    the weights' precision) bound by :meth:`BasisBinding.bind`, one autograd node whose backward
    is :meth:`BasisBinding.backward`. A basis shared by several sequences (a step-by-step loop)
    has its gradient taken once for all."""

    @staticmethod
    def forward(ctx, binding: BasisBinding, weights: torch.Tensor) -> torch.Tensor:
        real = weights.detach().numpy()
        basis, tape = binding.bind(real)
        ctx.binding, ctx.tape, ctx.shape, ctx.real = binding, tape, weights.shape, real.dtype
        return torch.from_numpy(basis.astype(np.result_type(real.dtype, np.complex64)))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_basis: torch.Tensor):
        grad = grad_basis.resolve_conj().numpy().astype(np.complex128)
        grad = np.broadcast_to(grad, (ctx.shape[0], *grad.shape[1:]))
        weights = ctx.binding.backward(ctx.tape, grad, ctx.shape[1])
        return None, torch.from_numpy(weights.astype(ctx.real))
