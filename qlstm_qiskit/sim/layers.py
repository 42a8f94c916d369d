"""Runs of single-qubit gates, as the statevector engine evaluates them.

A :class:`LocalLayer` is a maximal run of single-qubit gates: a tensor product of one 2x2 matrix
per qubit, built for all qubits at once. A :class:`ProductStage` is the first local layer when it
acts on ``|0...0>`` with input rotations in a form that needs only one 2-vector per qubit.
"""

from __future__ import annotations

import numpy as np
import torch

from .gates import rotation_matrix
from .program import Instruction

#: ``-i P`` of each rotation ``exp(-i theta P / 2) = cos(theta/2) I + sin(theta/2) (-i P)``, as
#: (swaps the two amplitudes, phases): ``(-i P) u = phases * (u reversed if swaps else u)``.
PAULI_GENERATORS = {"rx": (True, (-1j, -1j)), "ry": (True, (-1.0, 1.0)), "rz": (False, (-1j, 1j))}


class LocalLayer:
    """A run of single-qubit gates: one 2x2 matrix per qubit, built for all qubits at once.

    Qubits whose gate sequences have the same signature (names and angle sources) form a group and
    are computed together; in the circuits of this package all qubits form one group.
    """

    def __init__(self, n_qubits: int, ops: list[Instruction]) -> None:
        self.n_qubits = n_qubits
        self.n_ops = len(ops)
        per_qubit: list[list[Instruction]] = [[] for _ in range(n_qubits)]
        for op in ops:
            per_qubit[op.qubits[0]].append(op)
        groups: dict[tuple, list[int]] = {}
        for q, q_ops in enumerate(per_qubit):
            groups.setdefault(tuple(op.signature for op in q_ops), []).append(q)
        self.groups = [
            (qubits, [[per_qubit[q][k] for q in qubits] for k in range(len(sig))])
            for sig, qubits in groups.items()
        ]
        self.order = np.argsort(np.concatenate([qubits for qubits, _ in self.groups]))
        self.depends_on_input = any(op.takes_input for op in ops)

    @classmethod
    def from_columns(cls, n_qubits: int, columns: list[list[Instruction]]) -> LocalLayer:
        """The layer of ``columns`` (one gate per qubit each), in column order."""
        return cls(n_qubits, [op for column in columns for op in column])

    @staticmethod
    def column_matrix(column: list[Instruction], inputs, weights, like: torch.Tensor):
        """Matrices ``(..., len(column), 2, 2)`` of one gate on each qubit of a group."""
        first = column[0]
        if first.angle is None:
            stacked = np.stack([op.matrix for op in column])
            return torch.as_tensor(stacked, dtype=like.dtype, device=like.device)
        if first.angle.source == "input":
            theta = inputs[..., [op.angle.index for op in column]]  # (G, B, m)
        elif first.angle.source == "weight":
            theta = weights[:, None, [op.angle.index for op in column]]  # (G, 1, m)
        else:
            theta = torch.tensor(
                [op.angle.value for op in column], dtype=like.real.dtype, device=like.device
            )
        return rotation_matrix(first.name, theta)

    def bind(self, weights: torch.Tensor, like: torch.Tensor) -> list:
        """Pre-multiply the weight-only runs. Returns, per group, a list of pieces: a tensor
        ``(G, 1, m, 2, 2)`` (or ``(m, 2, 2)``) for a bound run, or a column needing inputs."""
        bound = []
        for _qubits, columns in self.groups:
            pieces: list = []
            for column in columns:
                if column[0].takes_input:
                    pieces.append(column)
                    continue
                matrix = self.column_matrix(column, None, weights, like)
                if pieces and isinstance(pieces[-1], torch.Tensor):
                    pieces[-1] = matrix @ pieces[-1]
                else:
                    pieces.append(matrix)
            bound.append(pieces)
        return bound

    def matrices(self, bound: list, inputs: torch.Tensor | None, like: torch.Tensor):
        """The per-qubit matrices ``(..., n_qubits, 2, 2)`` of the layer, in qubit order."""
        per_group = []
        for (qubits, _columns), pieces in zip(self.groups, bound, strict=True):
            total = None
            for piece in pieces:
                matrix = (
                    piece
                    if isinstance(piece, torch.Tensor)
                    else self.column_matrix(piece, inputs, None, like)
                )
                total = matrix if total is None else matrix @ total
            if total is None:
                total = torch.eye(2, dtype=like.dtype, device=like.device).expand(len(qubits), 2, 2)
            per_group.append(total)
        if len(per_group) == 1:
            return per_group[0]
        shape = torch.broadcast_shapes(*(m.shape[:-3] for m in per_group))
        joined = torch.cat([m.expand(*shape, *m.shape[-3:]) for m in per_group], dim=-3)
        return joined[..., self.order, :, :]

    def bound_matrices(self, weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor | None:
        """The matrices of a layer without inputs, ``(G, n, 2, 2)`` (``(n, 2, 2)`` when it has no
        weights either), or ``None`` for an empty layer."""
        if not self.n_ops:
            return None
        matrices = self.matrices(self.bind(weights, like), None, like)
        return matrices[:, 0] if matrices.dim() == 5 else matrices  # drop the batch axis


class ProductStage:
    """The first local layer when it acts on ``|0...0>``, evaluated on one 2-vector per qubit.

    Requires every qubit to run the same gate sequence: weight-only or fixed gates (the *head*),
    then input rotations ``rx, ry, rz`` (the *middle*), then weight-only or fixed gates (the
    *tail*). The head is folded into the starting vectors at bind time; the tail into the next
    dense unitary (``dense``) or applied to the vectors (``gates``). Per call only the middle
    runs: ``u <- cos(t/2) u + sin(t/2) (-i P) u`` for every input rotation, on all qubits at once.
    Built by :meth:`of_layer`.
    """

    def __init__(
        self,
        head: LocalLayer,
        tail: LocalLayer,
        index: np.ndarray,
        generators: list[tuple[bool, tuple]],
    ) -> None:
        self.head, self.tail = head, tail
        #: ``(m, n)``: the input index of middle column k on qubit q
        self.index = index
        #: per middle column, the ``(swaps, phases)`` of its :data:`PAULI_GENERATORS`
        self.generators = generators

    @classmethod
    def of_layer(cls, layer: LocalLayer) -> ProductStage | None:
        """The product stage of ``layer``, or ``None`` where its form does not allow one."""
        if len(layer.groups) != 1 or list(layer.groups[0][0]) != list(range(layer.n_qubits)):
            return None
        ((_qubits, columns),) = layer.groups
        inputs = [k for k, column in enumerate(columns) if column[0].takes_input]
        if not inputs:
            return None
        first, last = inputs[0], inputs[-1]
        middle = columns[first : last + 1]
        if not all(
            column[0].name in PAULI_GENERATORS and column[0].takes_input for column in middle
        ):
            return None
        return cls(
            LocalLayer.from_columns(layer.n_qubits, columns[:first]),
            LocalLayer.from_columns(layer.n_qubits, columns[last + 1 :]),
            np.array([[op.angle.index for op in column] for column in middle]),
            [PAULI_GENERATORS[column[0].name] for column in middle],
        )
