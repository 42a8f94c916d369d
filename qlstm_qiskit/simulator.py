"""Compile a parameterized Qiskit ``QuantumCircuit`` into batched, differentiable torch operations.

This is the engine of the ``statevector`` backend. It executes the circuit it is given (it reads
``circuit.data``; there is no second hand-written model of the gate circuit) on a batch of
statevectors of shape ``(G, B, 2**n)``: ``G`` circuits of the same layout with different weights
(the four LSTM gates) times ``B`` input rows. Amplitude index ``i = sum_q b_q 2**q`` follows
Qiskit's little-endian convention.

The instruction list is split into *local layers* (maximal runs of single-qubit gates: a tensor
product of one 2x2 matrix per qubit, built for all qubits at once) and multi-qubit gates. Work that
depends only on the weights is done once in :meth:`CompiledCircuit.bind`; only the input-dependent
part runs per call of :meth:`BoundCircuit.expectation`. Two methods:

- ``dense``: every weight-only segment is folded into one ``2**n x 2**n`` unitary per circuit;
  input-dependent layers are applied as a Kronecker product. Fast for a few qubits.
- ``gates``: every gate is applied to the batch of states one by one (memory ``O(G B 2**n)``).

Gradients come from torch autograd through either method. When the whole circuit is one input
product layer followed by weight-only or fixed gates (``expanded``),
:meth:`BoundCircuit.product_kernel` also hands it to :mod:`qlstm_qiskit.kernels`, which the fused
LSTM recurrence (:mod:`qlstm_qiskit.recurrence`) differentiates by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.quantum_info import SparsePauliOp

from .checks import check_choice
from .kernels import ProductKernel

METHODS = ("auto", "dense", "gates", "adjoint")
#: ``auto`` picks ``dense`` up to this many qubits, ``gates`` up to ``GATES_MAX_QUBITS`` and
#: ``adjoint`` (:mod:`qlstm_qiskit.adjoint`: memory independent of the number of gates) above.
DENSE_MAX_QUBITS = 6
GATES_MAX_QUBITS = 12
#: ``dense`` evaluates an input product layer as one real matrix product while it has at most this
#: many rows (``2**(input rotations)``); above, rotation by rotation.
EXPANDED_MAX_ROWS = 1024
#: single-parameter gates the compiler understands.
ROTATION_GATES = ("rx", "ry", "rz", "p")
_IGNORED = ("barrier",)


@dataclass(frozen=True)
class _Angle:
    """Where a rotation angle comes from: an input, a weight (by index) or a constant."""

    source: str  # "input" | "weight" | "const"
    index: int = -1
    value: float = 0.0


@dataclass(frozen=True)
class _Instruction:
    name: str
    qubits: tuple[int, ...]
    angle: _Angle | None = None  # rotation gates
    matrix: np.ndarray | None = None  # parameter-free gates

    @property
    def signature(self) -> tuple[str, str]:
        return (self.name, self.angle.source if self.angle else "fixed")


def _parse(
    circuit: QuantumCircuit, inputs: Sequence[Parameter], weights: Sequence[Parameter]
) -> list[_Instruction]:
    input_index = {p: i for i, p in enumerate(inputs)}
    weight_index = {p: i for i, p in enumerate(weights)}
    unknown = set(circuit.parameters) - set(input_index) - set(weight_index)
    if unknown:
        names = ", ".join(sorted(p.name for p in unknown))
        raise ValueError(
            f"CompiledCircuit: circuit parameters {names} are neither inputs nor weights"
        )
    program = []
    for item in circuit.data:
        op = item.operation
        qubits = tuple(circuit.find_bit(q).index for q in item.qubits)
        if op.name in _IGNORED:
            continue
        if not isinstance(op, Gate) or item.clbits:
            raise ValueError(
                f"CompiledCircuit: instruction {op.name!r} is not a unitary gate; expected gates "
                "only (no measure, reset or classical control)"
            )
        if not op.params:
            program.append(_Instruction(op.name, qubits, matrix=np.array(op.to_matrix())))
            continue
        if op.name not in ROTATION_GATES:
            raise ValueError(
                f"CompiledCircuit: parameterized gate {op.name!r} is not supported; expected one "
                f"of {', '.join(ROTATION_GATES)} or a parameter-free gate"
            )
        (param,) = op.params
        if isinstance(param, Parameter):
            if param in input_index:
                angle = _Angle("input", input_index[param])
            else:
                angle = _Angle("weight", weight_index[param])
        elif getattr(param, "parameters", None):
            raise ValueError(
                f"CompiledCircuit: gate {op.name!r} on qubit {qubits[0]} has the expression "
                f"{param}; expected a single Parameter or a number"
            )
        else:
            angle = _Angle("const", value=float(param))
        program.append(_Instruction(op.name, qubits, angle=angle))
    return program


def _rotation(name: str, theta: torch.Tensor) -> torch.Tensor:
    """Matrices ``(*theta.shape, 2, 2)`` of the rotation gate ``name`` (Qiskit's definitions)."""
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


def _local_index(index: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """The bits of ``index`` on ``qubits`` as a little-endian local index."""
    return sum(((index >> q) & 1) << k for k, q in enumerate(qubits))


def _with_local(index: np.ndarray, qubits: Sequence[int], local: np.ndarray) -> np.ndarray:
    for k, q in enumerate(qubits):
        index = (index & ~(1 << q)) | (((local >> k) & 1) << q)
    return index


def _monomial(matrix: np.ndarray, qubits: Sequence[int], n_qubits: int):
    """``(source, phase)`` over the full register if ``matrix`` has one non-zero per row, else None.

    The gate then maps ``psi`` to ``phase * psi[source]``.
    """
    nonzero = np.abs(matrix) > 1e-12
    if not np.all(nonzero.sum(axis=1) == 1):
        return None
    column = nonzero.argmax(axis=1)
    index = np.arange(2**n_qubits)
    local = _local_index(index, qubits)
    source = _with_local(index, qubits, column[local])
    return source, matrix[local, column[local]]


@dataclass
class _Monomial:
    """A fixed permutation-with-phases of the amplitudes (CNOT, CZ, SWAP, ... and products)."""

    source: np.ndarray
    phase: np.ndarray

    def then(self, other: _Monomial) -> _Monomial:
        return _Monomial(self.source[other.source], other.phase * self.phase[other.source])


@dataclass
class _FixedGate:
    """A fixed multi-qubit gate that is not a monomial: applied by tensor contraction."""

    matrix: np.ndarray
    qubits: tuple[int, ...]


class _LocalLayer:
    """A run of single-qubit gates: one 2x2 matrix per qubit, built for all qubits at once.

    Qubits whose gate sequences have the same signature (names and angle sources) form a group and
    are computed together; in the circuits of this package all qubits form one group.
    """

    def __init__(self, n_qubits: int, ops: list[_Instruction]) -> None:
        self.n_qubits = n_qubits
        self.n_ops = len(ops)
        per_qubit: list[list[_Instruction]] = [[] for _ in range(n_qubits)]
        for op in ops:
            per_qubit[op.qubits[0]].append(op)
        groups: dict[tuple, list[int]] = {}
        for q, q_ops in enumerate(per_qubit):
            groups.setdefault(tuple(op.signature for op in q_ops), []).append(q)
        self.groups = [(qubits, [[per_qubit[q][k] for q in qubits] for k in range(len(sig))])
                       for sig, qubits in groups.items()]
        self.order = np.argsort(np.concatenate([qubits for qubits, _ in self.groups]))
        self.depends_on_input = any(op.angle is not None and op.angle.source == "input"
                                    for op in ops)

    @classmethod
    def from_columns(cls, n_qubits: int, qubits, columns: list[list[_Instruction]]) -> _LocalLayer:
        """The layer of ``columns`` (one gate per qubit of ``qubits`` each), in column order."""
        return cls(n_qubits, [op for column in columns for op in column])

    @staticmethod
    def _column_matrix(column: list[_Instruction], inputs, weights, like: torch.Tensor):
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
            theta = torch.tensor([op.angle.value for op in column], dtype=like.real.dtype,
                                 device=like.device)
        return _rotation(first.name, theta)

    def bind(self, weights: torch.Tensor, like: torch.Tensor) -> list:
        """Pre-multiply the weight-only runs. Returns, per group, a list of pieces: a tensor
        ``(G, 1, m, 2, 2)`` (or ``(m, 2, 2)``) for a bound run, or a column needing inputs."""
        bound = []
        for _qubits, columns in self.groups:
            pieces: list = []
            for column in columns:
                if column[0].angle is not None and column[0].angle.source == "input":
                    pieces.append(column)
                    continue
                matrix = self._column_matrix(column, None, weights, like)
                if pieces and isinstance(pieces[-1], torch.Tensor):
                    pieces[-1] = matrix @ pieces[-1]
                else:
                    pieces.append(matrix)
            bound.append(pieces)
        return bound

    def matrices(self, bound: list, inputs: torch.Tensor | None, like: torch.Tensor):
        """The per-qubit matrices ``(..., n_qubits, 2, 2)`` of the layer, in qubit order."""
        per_group = []
        for (qubits, _columns), pieces in zip(self.groups, bound):
            total = None
            for piece in pieces:
                matrix = piece if isinstance(piece, torch.Tensor) else \
                    self._column_matrix(piece, inputs, None, like)
                total = matrix if total is None else matrix @ total
            if total is None:
                total = torch.eye(2, dtype=like.dtype, device=like.device).expand(len(qubits), 2, 2)
            per_group.append(total)
        if len(per_group) == 1:
            return per_group[0]
        shape = torch.broadcast_shapes(*(m.shape[:-3] for m in per_group))
        joined = torch.cat([m.expand(*shape, *m.shape[-3:]) for m in per_group], dim=-3)
        return joined[..., self.order, :, :]


#: ``-i P`` of each rotation ``exp(-i theta P / 2) = cos(theta/2) I + sin(theta/2) (-i P)``, as
#: (swaps the two amplitudes, phases): ``(-i P) u = phases * (u reversed if swaps else u)``.
_GENERATORS = {"rx": (True, (-1j, -1j)), "ry": (True, (-1.0, 1.0)), "rz": (False, (-1j, 1j))}


class _ProductStage:
    """The first local layer when it acts on ``|0...0>``, evaluated on one 2-vector per qubit.

    Requires every qubit to run the same gate sequence: weight-only or fixed gates (the *head*),
    then input rotations ``rx, ry, rz`` (the *middle*), then weight-only or fixed gates (the
    *tail*). The head is folded into the starting vectors at bind time; the tail into the next
    dense unitary (``dense``) or applied to the vectors (``gates``). Per call only the middle
    runs: ``u <- cos(t/2) u + sin(t/2) (-i P) u`` for every input rotation, on all qubits at once.
    """

    def __init__(self, layer: _LocalLayer) -> None:
        (qubits, columns), = layer.groups
        inputs = [k for k, column in enumerate(columns)
                  if column[0].angle is not None and column[0].angle.source == "input"]
        first, last = inputs[0], inputs[-1]
        middle = columns[first:last + 1]
        if not all(column[0].name in _GENERATORS and column[0].angle.source == "input"
                   for column in middle):
            raise _NoFastPath
        self.qubits = qubits
        self.head = _LocalLayer.from_columns(layer.n_qubits, qubits, columns[:first])
        self.tail = _LocalLayer.from_columns(layer.n_qubits, qubits, columns[last + 1:])
        # (m, n) input index of middle column k on the k-th qubit of ``qubits``
        self.index = np.array([[op.angle.index for op in column] for column in middle])
        self.generators = [_GENERATORS[column[0].name] for column in middle]

    @classmethod
    def try_build(cls, layer: _LocalLayer) -> _ProductStage | None:
        if len(layer.groups) != 1 or list(layer.groups[0][0]) != list(range(layer.n_qubits)):
            return None
        try:
            return cls(layer)
        except _NoFastPath:
            return None


class _NoFastPath(Exception):
    pass


def _generate(u: torch.Tensor, swaps: bool, phases: torch.Tensor) -> torch.Tensor:
    """``(-i P) u`` for a Pauli ``P`` given as (swaps amplitudes, phases)."""
    return (u.flip(-1) if swaps else u) * phases


def _squeeze_bind_axis(matrices: torch.Tensor | None) -> torch.Tensor | None:
    """Bound layer matrices ``(G, 1, n, 2, 2)`` -> ``(G, n, 2, 2)`` (fixed ones are ``(n, 2, 2)``)."""
    return matrices[:, 0] if matrices is not None and matrices.dim() == 5 else matrices


def _kron_tree(factors: torch.Tensor) -> torch.Tensor:
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


def _kron_rows(blocks: torch.Tensor) -> torch.Tensor:
    """``(..., n, r, c)`` -> ``(..., r**n, c**n)``, Kronecker product of the blocks (block n-1 most
    significant): row ``(b_{n-1}, ..., b_0)`` is the Kronecker product of the chosen rows."""
    total = blocks[..., -1, :, :]
    for q in range(blocks.shape[-3] - 2, -1, -1):
        block = blocks[..., q, :, :]
        total = (total[..., :, None, :, None] * block[..., None, :, None, :])
        total = total.flatten(-4, -3).flatten(-2)
    return total


def _kron_states(vectors: torch.Tensor) -> torch.Tensor:
    """``(..., n, 2)`` one-qubit states -> ``(..., 2**n)`` product state (qubit 0 least significant)."""
    state = vectors[..., -1, :]
    for q in range(vectors.shape[-2] - 2, -1, -1):
        state = (state[..., :, None] * vectors[..., q, None, :]).flatten(-2)
    return state


def _diagonal_terms(observables: Sequence[SparsePauliOp], n_qubits: int) -> list[list[tuple]]:
    """Each observable as its terms ``(coefficient, Z qubits)`` (sums of I/Z Pauli strings only)."""
    terms = []
    for k, observable in enumerate(observables):
        if observable.num_qubits != n_qubits:
            raise ValueError(f"CompiledCircuit: observable {k} acts on {observable.num_qubits} "
                             f"qubits, expected {n_qubits}")
        own = []
        for pauli, coeff in zip(observable.paulis, observable.coeffs):
            if pauli.x.any() or abs(np.imag(coeff)) > 1e-12:
                raise ValueError(f"CompiledCircuit: observable {k} term {pauli} is not a real "
                                 "I/Z Pauli string; put basis changes in the circuit")
            own.append((float(np.real(coeff)), tuple(int(q) for q in np.flatnonzero(pauli.z))))
        terms.append(own)
    return terms


def _diagonal_signs(terms: list[list[tuple]], n_qubits: int) -> np.ndarray:
    """``(2**n, n_obs)``: the diagonal of each observable of :func:`_diagonal_terms`."""
    index = np.arange(2**n_qubits)
    columns = []
    for own in terms:
        diagonal = np.zeros(2**n_qubits)
        for coeff, qubits in own:
            sign = np.ones(2**n_qubits)
            for q in qubits:
                sign *= 1 - 2 * ((index >> q) & 1)
            diagonal += coeff * sign
        columns.append(diagonal)
    return np.stack(columns, axis=1)


class CompiledCircuit:
    """A parameterized circuit compiled to torch, evaluated for G weight sets at once.

    Args:
        circuit: the Qiskit circuit (gates only; parameters must be plain ``Parameter`` objects in
            the single-parameter gates ``rx, ry, rz, p``).
        inputs: the circuit's input parameters, in the order of the ``inputs`` tensor's last axis.
        weights: the circuit's weight parameters, in the order of the ``weights`` tensor's last axis.
        observables: diagonal (I/Z) observables; the result has one value per observable.
        method: ``"dense"``, ``"gates"``, ``"adjoint"`` or ``"auto"`` (dense up to
            ``DENSE_MAX_QUBITS`` qubits, gates up to ``GATES_MAX_QUBITS``, adjoint above).
    """

    def __init__(self, circuit: QuantumCircuit, inputs: ParameterVector | Sequence[Parameter],
                 weights: ParameterVector | Sequence[Parameter],
                 observables: Sequence[SparsePauliOp], method: str = "auto") -> None:
        check_choice("CompiledCircuit", "method", method, METHODS)
        self.n_qubits = n = circuit.num_qubits
        self.n_inputs, self.n_weights = len(inputs), len(weights)
        if method == "auto":
            method = "dense" if n <= DENSE_MAX_QUBITS else \
                "gates" if n <= GATES_MAX_QUBITS else "adjoint"
        self.method = method
        self._terms = _diagonal_terms(observables, n)
        self._dense_signs: np.ndarray | None = None
        self._program = _parse(circuit, list(inputs), list(weights))
        self._adjoint = None  # built on the first bind with method "adjoint"
        self._stages = self._segment(self._program)

    def _segment(self, program: list[_Instruction]) -> list:
        """Group the program into local layers, monomials and fixed gates."""
        n = self.n_qubits
        stages: list = []
        run: list[_Instruction] = []
        for op in program + [None]:
            if op is not None and len(op.qubits) == 1:
                run.append(op)
                continue
            if run:
                stages.append(_LocalLayer(n, run))
                run = []
            if op is None:
                break
            monomial = _monomial(op.matrix, op.qubits, n)
            if monomial is None:
                stages.append(_FixedGate(op.matrix, op.qubits))
            elif stages and isinstance(stages[-1], _Monomial):
                stages[-1] = stages[-1].then(_Monomial(*monomial))
            else:
                stages.append(_Monomial(*monomial))
        return stages

    @property
    def _signs(self) -> np.ndarray:
        """``(2**n, n_obs)`` observable diagonals (built on first use: ``adjoint`` never needs
        them, and at 25 qubits they would take gigabytes)."""
        if self._dense_signs is None:
            self._dense_signs = _diagonal_signs(self._terms, self.n_qubits)
        return self._dense_signs

    def bind(self, weights: torch.Tensor) -> BoundCircuit:
        """Do the weight-only work once. ``weights``: ``(G, n_weights)`` real."""
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(f"CompiledCircuit.bind: weights must have shape (G, {self.n_weights}),"
                             f" got {tuple(weights.shape)}")
        if self.method == "adjoint":
            from .adjoint import AdjointProgram

            _complex_dtype(weights.dtype)  # float32 or float64
            if self._adjoint is None:
                self._adjoint = AdjointProgram(self._program, self.n_qubits, self._terms,
                                               self.n_inputs)
            return self._adjoint.bind(weights)
        return BoundCircuit(self, weights)

    def expectation(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` inputs, ``(G, n_weights)`` weights -> ``(G, B, n_obs)``."""
        return self.bind(weights).expectation(inputs)


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype == torch.float64:
        return torch.complex128
    if dtype == torch.float32:
        return torch.complex64
    raise TypeError(f"CompiledCircuit: weights must be float32 or float64, got {dtype}")


class BoundCircuit:
    """A :class:`CompiledCircuit` with its weights bound; call :meth:`expectation` per batch."""

    def __init__(self, compiled: CompiledCircuit, weights: torch.Tensor) -> None:
        self.compiled = compiled
        self.n_circuits = weights.shape[0]
        target = torch.empty((), dtype=_complex_dtype(weights.dtype), device=weights.device)
        # weight-only work runs in float64 (the dense products accumulate rounding), then the
        # bound tensors are cast once to the model's precision
        weights = weights.double()
        self.like = torch.empty((), dtype=torch.complex128, device=weights.device)
        n, dim = compiled.n_qubits, 2**compiled.n_qubits
        self.signs = torch.as_tensor(np.repeat(compiled._signs, 2, axis=0), dtype=weights.dtype,
                                     device=weights.device)  # (2 D, n_obs): rows for re and im
        # Each step: ("product", layer, bound) | ("local", layer, bound) | ("unitary", (G, D, D))
        # | ("monomial", source, phase or None) | ("fixed", matrix, qubits)
        self.steps: list[tuple] = []
        self.dense = dense = compiled.method == "dense"
        stages = list(compiled._stages)
        first = stages.pop(0) if stages and isinstance(stages[0], _LocalLayer) else None
        fast = _ProductStage.try_build(first) if first is not None and first.depends_on_input \
            else None
        if fast is not None:
            self.steps.append(self._bind_fast(fast, weights))
        elif first is not None:
            self.steps.append(("product", first, first.bind(weights, self.like)))
        else:
            self.steps.append(("basis0",))
        pending: list = []  # weight-only stages waiting to be folded into a unitary (dense)
        for stage in stages + [None]:
            folds = stage is not None and not (isinstance(stage, _LocalLayer)
                                               and stage.depends_on_input)
            if dense and folds:
                pending.append(stage)
                continue
            if len(pending) == 1 and isinstance(pending[0], _Monomial):
                self.steps.append(self._gate_step(pending[0], weights))  # no matrix needed
            elif pending:
                self.steps.append(("unitary", self._fold(pending, weights, dim)))
            pending = []
            if stage is not None:
                self.steps.append(self._gate_step(stage, weights))
        self.n, self.dim = n, dim
        if self.steps[0][0] == "expanded" and len(self.steps) > 1 \
                and self.steps[1][0] in ("unitary", "monomial"):  # fold what follows into rows
            self.steps[0] = self.steps[0][:3] + (self.steps.pop(1),)
        self.steps = _cast(self.steps, target)
        self._rows: torch.Tensor | None = None
        self.signs = self.signs.to(target.real.dtype)
        self.like = target

    def _bind_fast(self, fast: _ProductStage, weights: torch.Tensor) -> tuple:
        """The step of the fast product stage.

        With ``m`` input rotations per qubit, qubit ``q`` ends in ``u_q = sum_beta w_q[beta]
        E_q[beta]``: ``w_q`` is the Kronecker product of the ``(cos(t_k/2), sin(t_k/2))`` pairs
        and ``E_q[beta] = tail (-i P_{m-1})^beta_{m-1} ... (-i P_0)^beta_0 head |0>`` is fixed by
        the weights. So the state is ``W @ rows`` with ``W = kron(all pairs)`` real and
        ``rows = kron_q(E_q)``: the ``"expanded"`` step, used in ``dense`` mode while
        ``2**(m n) <= EXPANDED_MAX_ROWS``. Otherwise ``"elementwise"`` updates the vectors
        ``u <- cos(t/2) u + sin(t/2) (-i P) u`` and takes their Kronecker product.
        """
        like = self.like
        u0 = _squeeze_bind_axis(fast.head.matrices(fast.head.bind(weights, like), None, like)
                                if fast.head.n_ops else None)
        if u0 is None:
            u0 = torch.zeros(self.compiled.n_qubits, 2, dtype=like.dtype, device=like.device)
            u0[:, 0] = 1
        else:
            u0 = u0[..., 0]
        tail = _squeeze_bind_axis(fast.tail.matrices(fast.tail.bind(weights, like), None, like)
                                  if fast.tail.n_ops else None)
        generators = [(swaps, torch.tensor(phases, dtype=like.dtype, device=like.device))
                      for swaps, phases in fast.generators]
        m, n = fast.index.shape
        if self.dense and 2 ** (m * n) <= EXPANDED_MAX_ROWS:
            basis = u0[..., None, :]  # (..., n, 1, 2) -> (..., n, 2**m, 2)
            for swaps, phases in generators:
                basis = torch.stack((basis, _generate(basis, swaps, phases)), -2).flatten(-3, -2)
            if tail is not None:
                basis = basis @ tail.transpose(-1, -2)
            # the pairs in Kronecker order: qubit n-1 first, each qubit's columns in order
            index = torch.as_tensor(fast.index[:, ::-1].T.reshape(-1).copy(), device=like.device)
            return ("expanded", index, basis, None)
        index = torch.as_tensor(fast.index.reshape(-1), device=like.device)
        if u0.dim() == 3:  # (G, n, 2): per-circuit starting vectors, broadcast over the batch
            u0 = u0[:, None]
        if tail is not None and tail.dim() == 4:
            tail = tail[:, None]
        return ("elementwise", index, u0, generators, tail)

    def _run_fast(self, step: tuple, inputs: torch.Tensor) -> torch.Tensor:
        if step[0] == "expanded":
            index, rows = step[1], self._expanded_rows()
            half = 0.5 * inputs[..., index]  # (G, B, V) with V = m n
            pairs = torch.stack((torch.cos(half), torch.sin(half)), -1)  # (G, B, V, 2)
            state = _kron_tree(pairs) @ rows  # (G, B, 2 D): real and imaginary parts
            return torch.view_as_complex(state.unflatten(-1, (-1, 2)))
        _, index, u, generators, tail = step
        half = 0.5 * inputs[..., index].unflatten(-1, (len(generators), -1))[..., None]
        cos, sin = torch.cos(half), torch.sin(half)  # (G, B, m, n, 1)
        for k, (swaps, phases) in enumerate(generators):
            u = cos[:, :, k] * u + sin[:, :, k] * _generate(u, swaps, phases)
        if tail is not None:
            u = (tail * u[..., None, :]).sum(-1)
        return _kron_states(u)

    def _gate_step(self, stage, weights: torch.Tensor) -> tuple:
        if isinstance(stage, _LocalLayer):
            return ("local", stage, stage.bind(weights, self.like))
        if isinstance(stage, _Monomial):
            source = torch.as_tensor(stage.source, device=self.like.device)
            trivial = np.allclose(stage.phase, 1.0)
            phase = None if trivial else torch.as_tensor(stage.phase, dtype=self.like.dtype,
                                                         device=self.like.device)
            return ("monomial", source, phase)
        matrix = torch.as_tensor(stage.matrix, dtype=self.like.dtype, device=self.like.device)
        return ("fixed", matrix, stage.qubits)

    def _fold(self, stages: list, weights: torch.Tensor, dim: int) -> torch.Tensor:
        """Multiply weight-only stages into ``(G, D, D)`` with ``psi_out = psi_in @ result``."""
        identity = torch.eye(dim, dtype=self.like.dtype, device=self.like.device)
        state = identity.expand(self.n_circuits, dim, dim)  # row k holds U e_k after the loop
        for stage in stages:
            state = self._apply(self._gate_step(stage, weights), state, None)
        return state

    def _apply(self, step: tuple, state: torch.Tensor, inputs: torch.Tensor | None):
        kind = step[0]
        n = self.compiled.n_qubits
        if kind == "unitary":
            return torch.matmul(state, step[1])
        if kind == "monomial":
            _, source, phase = step
            state = state[..., source]
            return state if phase is None else state * phase
        if kind == "fixed":
            return _apply_fixed(state, step[1], step[2], n)
        _, layer, bound = step
        matrices = layer.matrices(bound, inputs, self.like)
        if self.dense and kind == "local":
            kron = _kron_rows(matrices).transpose(-1, -2)  # (G, B|1, D, D)
            return torch.matmul(state.unsqueeze(-2), kron).squeeze(-2)
        for q in range(n):
            state = apply_1q(state, matrices[..., q, :, :], q, n)
        return state

    def _expanded_rows(self) -> torch.Tensor:
        """The real rows ``(G, 2**V, 2 D)`` of the ``expanded`` step (computed once)."""
        if self._rows is None:
            _, _index, basis, post = self.steps[0]
            rows = _kron_rows(basis)
            if post is not None:
                rows = self._apply(post, rows, None)
            self._rows = torch.view_as_real(rows).flatten(-2)
        return self._rows

    def product_kernel(self) -> tuple[ProductKernel, torch.Tensor, torch.Tensor | None] | None:
        """``(kernel, basis, unitary)`` when the whole bound circuit is one ``expanded`` step
        (dense method, one re-uploading block of few inputs), else ``None``.

        ``basis (G | 1, n, 2**m, 2)`` holds each qubit's vectors ``E_q`` (see :meth:`_bind_fast`),
        ``unitary (G, D, D)`` the weight-dependent unitary that follows (``None`` if there is none
        or it is a fixed permutation, which the kernel applies itself); both carry the autograd
        graph back to the weights.
        """
        if len(self.steps) != 1 or self.steps[0][0] != "expanded":
            return None
        _, index, basis, post = self.steps[0]
        unitary = post[1] if post is not None and post[0] == "unitary" else None
        monomial = None
        if post is not None and post[0] == "monomial":
            monomial = (post[1].cpu().numpy(), None if post[2] is None else post[2].cpu().numpy())
        kernel = ProductKernel(index.cpu().numpy(), self.signs[0::2].cpu().numpy(),
                               self.compiled.n_qubits, monomial)
        return kernel, basis, unitary

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """Expectation values ``(G, B, n_obs)`` for inputs ``(G, B, n_inputs)``."""
        compiled = self.compiled
        if inputs.dim() != 3 or inputs.shape[0] != self.n_circuits \
                or inputs.shape[2] != compiled.n_inputs:
            raise ValueError(
                f"BoundCircuit.expectation: inputs must have shape ({self.n_circuits}, B, "
                f"{compiled.n_inputs}), got {tuple(inputs.shape)}"
            )
        if inputs.dtype != self.signs.dtype:
            raise TypeError(f"BoundCircuit.expectation: inputs must be {self.signs.dtype} like the"
                            f" weights, got {inputs.dtype}")
        first, *rest = self.steps
        if first[0] in ("expanded", "elementwise"):
            state = self._run_fast(first, inputs)
        elif first[0] == "product":
            _, layer, bound = first
            matrices = layer.matrices(bound, inputs, self.like)  # (G, B|1, n, 2, 2)
            state = _kron_states(matrices[..., 0])  # first columns: each qubit's M |0>
            state = state.expand(self.n_circuits, inputs.shape[1], self.dim)
        else:
            state = torch.zeros(self.n_circuits, inputs.shape[1], self.dim, dtype=self.like.dtype,
                                device=self.like.device)
            state[..., 0] = 1
        for step in rest:
            state = self._apply(step, state, inputs)
        # |psi_i|^2 weighted by the observables' diagonals, as one product over (re, im) pairs
        return torch.view_as_real(state).square().flatten(-2) @ self.signs


def _cast(value, like: torch.Tensor):
    """``value`` with every floating tensor inside (lists, tuples) cast to ``like``'s precision."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            return value.to(like.dtype)
        return value.to(like.real.dtype) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(item, like) for item in value)
    return value


def _apply_fixed(state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...], n: int):
    """Apply a fixed k-qubit gate by contracting its ``(2,)*2k`` tensor with the state's axes."""
    lead = state.shape[:-1]
    k = len(qubits)
    tensor = state.reshape(*lead, *([2] * n))
    # amplitude axis of qubit q (after the lead axes) is n - 1 - q; the gate's local index is
    # little-endian in ``qubits``, so its row/column axes are ordered from qubits[-1] to qubits[0].
    axes = [len(lead) + n - 1 - q for q in reversed(qubits)]
    gate = matrix.reshape(*([2] * (2 * k)))
    moved = torch.tensordot(tensor, gate, dims=(axes, list(range(k, 2 * k))))
    # tensordot appends the gate's output axes at the end; move them back into place.
    out = torch.movedim(moved, list(range(moved.dim() - k, moved.dim())), axes)
    return out.reshape(*lead, -1)
