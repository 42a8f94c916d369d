"""The block program: any parsed circuit as NumPy operations with a hand-written reverse pass.

:class:`BlockProgram` splits a circuit into its first layer of one-qubit gates (on ``|0...0>``:
a product state, the Kronecker product of each qubit's ``M |0>``), then layers that depend on the
inputs (data re-uploading), and the weight-only segments between them. Each weight-only segment
is either folded into one ``D x D`` unitary (in torch, so that autograd carries its gradient back
to the weights) or applied gate by gate, whichever :func:`~qlstm_qiskit.sim.costs.
segment_is_dense` estimates cheaper for the rows to be evaluated. :class:`BlockKernel` runs the
operations of :mod:`~qlstm_qiskit.sim.block_ops` on states ``(G, D, B)`` and their reverse pass,
with the interface of :class:`~qlstm_qiskit.sim.product_kernel.ProductKernel`
(``operands``, ``forward``, ``backward``, ``operand_grads``), so that the LSTM recurrence runs a
whole sequence of any circuit in one autograd node (:mod:`qlstm_qiskit.recurrence`).
:meth:`BlockBound.expectation` is the same kernel as a differentiable one-step evaluation
(method ``fused`` of :class:`~qlstm_qiskit.sim.compiled.CompiledCircuit`).

The weight-dependent matrices (each one-qubit run ``(G | 1, m, 2, 2)``, each folded unitary
``(G, D, D)``) are torch tensors built from the weights, the kernel's *operands*; the kernel
returns their gradients and autograd takes them to the weights.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import check_choice
from .block_ops import (
    BoundPiece,
    ChunkOp,
    DenseOp,
    FixedOp,
    InputPiece,
    LocalOp,
    PermutationOp,
    chunk_ranges,
)
from .costs import census, segment_is_dense
from .gates import PhasedPermutation, complex_dtype, kron_rows
from .layers import LocalLayer
from .program import Instruction, Program, check_inputs, diagonal_signs
from .statevector import Stage, segment
from .steps import FixedGate, LocalGates, Permutation
from .threads import torch_blas_threads

#: how :meth:`BlockBound.sequence_kernel` runs the weight-only segments
SEGMENTS = ("auto", "dense", "gates")


class BlockKernel:
    """A circuit as a list of :mod:`~qlstm_qiskit.sim.block_ops` operations (see the module
    docstring); ``start`` is the first layer (``None``: the circuit starts with a multi-qubit
    gate on ``|0...0>``). ``index`` (all inputs, in order) and ``signs (D, n_obs)`` as in
    :class:`~qlstm_qiskit.sim.product_kernel.ProductKernel`."""

    def __init__(self, start, ops: list, signs: np.ndarray, n_qubits: int, n_inputs: int) -> None:
        self.start, self.ops = start, ops
        self.signs, self.n_qubits = signs, n_qubits
        self.signs_t = np.ascontiguousarray(signs.T)  # (n_obs, D): BLAS-friendly products
        self.index = np.arange(n_inputs)
        self.dense_slots = {op.slot for op in ops if isinstance(op, DenseOp)}
        self.chunk_slots = {op.slot for op in ops if isinstance(op, ChunkOp)}

    def operands(self, arrays: list, circuits: int) -> list:
        """The operand arrays: each folded unitary with its transpose, each chunk matrix with its
        conjugate transpose (made contiguous once per sequence)."""
        operands = []
        for slot, array in enumerate(arrays):
            if slot in self.dense_slots:
                operands.append((array, np.ascontiguousarray(array.transpose(0, 2, 1))))
            elif slot in self.chunk_slots:
                operands.append((array, np.ascontiguousarray(array.conj().transpose(0, 2, 1))))
            else:
                operands.append(array)
        return operands

    def forward(self, operands: list, angles: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Circuit inputs ``angles (G, n_inputs, B)`` -> values ``(G, B, n_obs)`` and what
        :meth:`backward` needs."""
        circuits, _, batch = angles.shape
        if self.start is not None:
            state, first = self.start.forward(None, operands, angles)
        else:
            dtype = np.result_type(angles.dtype, np.complex64)
            state = np.zeros((circuits, 2**self.n_qubits, batch), dtype=dtype)
            state[:, 0] = 1
            first = None
        saved = [first]
        for op in self.ops:
            state, kept = op.forward(state, operands, angles)
            saved.append(kept)
        probabilities = state.real * state.real + state.imag * state.imag
        values = (self.signs_t @ probabilities).transpose(0, 2, 1)
        return values, (saved, state, angles.shape)

    def backward(self, operands: list, saved: tuple, grad_values: np.ndarray):
        """Gradient ``(G, n_inputs, B)`` of the inputs from that of the values
        ``(G, B, n_obs)``, and this evaluation's piece of the operands' gradients."""
        kept, state, shape = saved
        weight = self.signs @ np.ascontiguousarray(2 * grad_values.transpose(0, 2, 1))
        grad = state * weight.astype(state.dtype)  # (G, D, B); complex x real is a slow loop
        grad_angles = np.zeros(shape, dtype=self.signs.dtype)
        grad_operands: list = [None] * len(operands)
        for op, op_kept in zip(reversed(self.ops), reversed(kept[1:]), strict=True):
            state, grad = op.backward(state, grad, operands, op_kept, grad_angles, grad_operands)
        if self.start is not None:
            self.start.backward(state, grad, operands, kept[0], grad_angles, grad_operands)
        return grad_angles, grad_operands

    @staticmethod
    def operand_grads(operands: list, pieces: list, shapes: list) -> list:
        """Gradients of the operand tensors (of ``shapes``), summed over the ``pieces`` of
        :meth:`backward` (``None`` where none reached an operand)."""
        grads = []
        for slot, shape in enumerate(shapes):
            parts = [piece[slot] for piece in pieces if piece[slot] is not None]
            if not parts:
                grads.append(None)
                continue
            total = sum(parts[1:], parts[0])
            if shape[0] == 1 and total.shape[0] != 1:  # one matrix shared by all circuits
                total = total.sum(0, keepdims=True)
            grads.append(total)
        return grads


class BlockProgram:
    """A :class:`~qlstm_qiskit.sim.program.Program` segmented for block kernels."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.stages = segment(program)
        self.signs = diagonal_signs(program.terms, program.n_qubits)

    def bind(self, weights: torch.Tensor) -> BlockBound:
        """Bind ``weights`` ``(G, n_weights)`` float32 or float64 on the CPU."""
        complex_dtype(weights.dtype)  # rejects other dtypes
        if weights.device.type != "cpu":
            raise ValueError(
                "CompiledCircuit: method 'fused' runs in NumPy on the CPU; got weights on "
                f"{weights.device}, use method 'gates', 'dense' or 'adjoint' there"
            )
        return BlockBound(self, weights)


class BlockBound:
    """Weights bound to a :class:`BlockProgram`; the operand tensors are built per call of
    :meth:`sequence_kernel` (the dense-or-gates choice depends on the rows)."""

    def __init__(self, engine: BlockProgram, weights: torch.Tensor) -> None:
        self.engine, self.weights = engine, weights
        self.n_circuits = weights.shape[0]
        self.n_qubits = engine.program.n_qubits

    def sequence_kernel(
        self, batch: int, steps: int, segments: str = "auto"
    ) -> tuple[BlockKernel, tuple]:
        """``(kernel, operand tensors)`` for ``steps`` evaluations of ``batch`` rows; weight-only
        segments folded into unitaries (``segments="dense"``), gate by gate (``"gates"``) or
        whichever the cost model estimates cheaper (``"auto"``)."""
        check_choice("BlockBound.sequence_kernel", "segments", segments, SEGMENTS)
        builder = _Builder(self, batch, steps, segments)
        kernel = builder.build()
        target = complex_dtype(self.weights.dtype)
        return kernel, tuple(tensor.to(target) for tensor in builder.tensors)

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` -> ``(G, B, n_obs)``, differentiable (hand-written backward)."""
        program = self.engine.program
        check_inputs(
            "BlockBound.expectation", inputs, self.n_circuits, program.n_inputs, self.weights.dtype
        )
        kernel, tensors = self.sequence_kernel(inputs.shape[1], 1)
        return _BlockExpectation.apply(kernel, inputs, *tensors)


class _Builder:
    """Builds one :class:`BlockKernel` and its operand tensors (in complex128)."""

    def __init__(self, bound: BlockBound, batch: int, steps: int, segments: str) -> None:
        self.segments = segments
        self.engine, self.n = bound.engine, bound.n_qubits
        self.weights = bound.weights.double()
        self.like = torch.empty((), dtype=torch.complex128, device=self.weights.device)
        self.real = bound.weights.detach().numpy().dtype
        self.complex = np.result_type(self.real, np.complex64)
        self.circuits = bound.n_circuits
        self.rows, self.steps = self.circuits * batch * steps, steps
        self.tensors: list[torch.Tensor] = []

    def build(self) -> BlockKernel:
        stages = list(self.engine.stages)
        start = None
        if stages and isinstance(stages[0], LocalLayer):
            start = self.local(stages.pop(0), product=True)
        ops: list = []
        pending: list[Stage] = []
        for stage in [*stages, None]:
            if stage is not None and not (isinstance(stage, LocalLayer) and stage.depends_on_input):
                pending.append(stage)
                continue
            if pending:
                ops += self.segment(pending)
            pending = []
            if stage is not None:
                ops.append(self.local(stage, product=False))
        signs = self.engine.signs.astype(self.real)
        program = self.engine.program
        return BlockKernel(start, ops, signs, self.n, program.n_inputs)

    def slot(self, tensor: torch.Tensor) -> int:
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def local(self, layer: LocalLayer, product: bool) -> LocalOp:
        groups = []
        for (qubits, _columns), pieces in zip(
            layer.groups, layer.bind(self.weights, self.like), strict=True
        ):
            converted = []
            for piece in pieces:
                if isinstance(piece, torch.Tensor):  # (G, 1, m, 2, 2) or (m, 2, 2)
                    converted.append(
                        BoundPiece(self.slot(piece[:, 0] if piece.dim() == 5 else piece[None]))
                    )
                    continue
                angles = [op.angle for op in piece]
                index = np.array([angle.index for angle in angles])
                converted.append(
                    InputPiece(
                        piece[0].name,
                        index,
                        np.array([[angle.scale] for angle in angles], dtype=self.real),
                        np.array([[angle.value] for angle in angles], dtype=self.real),
                        len(set(index.tolist())) == len(index),
                    )
                )
            if not converted:
                if not product:
                    continue  # no gates on these qubits
                identity = torch.eye(2, dtype=torch.complex128).expand(1, len(qubits), 2, 2)
                converted.append(BoundPiece(self.slot(identity)))
            groups.append((np.array(qubits), converted))
        return LocalOp(self.n, groups, product)

    def segment(self, stages: list[Stage]) -> list:
        """A weight-only segment: one dense unitary or its gates, whichever costs less."""
        counted = [census(stage) for stage in stages]
        if len(stages) == 1 and isinstance(stages[0], PhasedPermutation):
            dense = False  # never worth a matrix
        elif self.segments == "auto":
            dense = segment_is_dense(counted, self.n, self.rows, self.circuits, self.steps)
        else:
            dense = self.segments == "dense"
        if dense:
            dim = 2**self.n
            state = torch.eye(dim, dtype=torch.complex128).expand(self.circuits, dim, dim)
            for stage in stages:  # row k ends as (U e_k)^T: psi_out = psi_in @ state
                state = self.torch_step(stage).apply(state, None)
            return [DenseOp(self.slot(state))]
        ops = []
        for stage in stages:
            if isinstance(stage, LocalLayer):
                ops += self.chunked(stage)
            elif isinstance(stage, PhasedPermutation):
                phase = None if stage.phases is None else stage.phases.astype(self.complex)
                ops.append(PermutationOp(stage.source, phase))
            else:
                ops.append(FixedOp(stage.matrix.astype(self.complex), stage.qubits, self.n))
        return ops

    def chunked(self, layer: LocalLayer) -> list[ChunkOp]:
        """A weight-only layer as :class:`~qlstm_qiskit.sim.block_ops.ChunkOp` s: one Kronecker
        product of 2x2 matrices per range of :func:`~qlstm_qiskit.sim.block_ops.chunk_ranges`
        that holds a gate."""
        matrices = layer.bound_matrices(self.weights, self.like)  # (G | 1, n, 2, 2) or None
        if matrices is None:
            return []
        matrices = matrices if matrices.dim() == 4 else matrices[None]
        touched = {q for qubits, columns in layer.groups if columns for q in qubits}
        return [
            ChunkOp(self.slot(kron_rows(matrices[:, lo:hi])), lo, hi, self.n)
            for lo, hi in chunk_ranges(self.n)
            if touched.intersection(range(lo, hi))
        ]

    def torch_step(self, stage: Stage):
        like = self.like
        if isinstance(stage, LocalLayer):
            return LocalGates(stage, stage.bind(self.weights, like), like, dense=False)
        if isinstance(stage, PhasedPermutation):
            phase = torch.as_tensor(stage.phase, dtype=like.dtype)
            return Permutation(torch.as_tensor(stage.source), phase)
        assert isinstance(stage, Instruction)
        return FixedGate(torch.as_tensor(stage.matrix, dtype=like.dtype), stage.qubits, self.n)


def operand_arrays(tensors) -> list[np.ndarray]:
    """The operand tensors as NumPy arrays (detached, conjugation resolved)."""
    return [tensor.detach().resolve_conj().numpy() for tensor in tensors]


class _BlockExpectation(torch.autograd.Function):
    """One evaluation of a :class:`BlockKernel`: inputs ``(G, B, n_inputs)`` -> values."""

    @staticmethod
    def forward(ctx, kernel: BlockKernel, inputs: torch.Tensor, *tensors: torch.Tensor):
        operands = kernel.operands(operand_arrays(tensors), inputs.shape[0])
        angles = np.ascontiguousarray(inputs.detach().numpy().transpose(0, 2, 1))
        with torch_blas_threads():
            values, saved = kernel.forward(operands, angles)
        ctx.kernel, ctx.operands, ctx.kept = kernel, operands, saved
        ctx.shapes = [tensor.shape for tensor in tensors]
        return torch.from_numpy(np.ascontiguousarray(values))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_values: torch.Tensor):
        kernel = ctx.kernel
        with torch_blas_threads():
            grad_angles, piece = kernel.backward(ctx.operands, ctx.kept, grad_values.numpy())
        grads = kernel.operand_grads(ctx.operands, [piece], ctx.shapes)
        grad_inputs = torch.from_numpy(np.ascontiguousarray(grad_angles.transpose(0, 2, 1)))
        return (
            None,
            grad_inputs,
            *(None if g is None else torch.from_numpy(np.ascontiguousarray(g)) for g in grads),
        )
