"""The parsed circuit program that every engine of this package executes.

:func:`parse_program` reads ``circuit.data`` once (there is no second hand-written model of the
gate circuit) into a :class:`Program`: a list of :class:`Instruction` (a gate on some qubits with
either a fixed matrix or one rotation angle, whose :class:`Angle` comes from an input, a weight or
a constant) and the observables as sums of ``Z`` strings. Amplitude index ``i = sum_q b_q 2**q``
follows Qiskit's little-endian convention in every engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter
from qiskit.quantum_info import SparsePauliOp

#: single-parameter gates the engines understand.
ROTATION_GATES = ("rx", "ry", "rz", "p")
#: instructions skipped without effect.
IGNORED_INSTRUCTIONS = ("barrier",)
#: an observable as its terms ``(coefficient, qubits carrying Z)``.
Terms = list[tuple[float, tuple[int, ...]]]


@dataclass(frozen=True)
class Angle:
    """Where a rotation angle comes from: ``scale * parameter + value`` for an input or a weight
    (by index), or the constant ``value``. ``scale`` and ``value`` differ from 1 and 0 only in
    programs parsed with ``affine=True`` (transpiled circuits: ``RY(x)`` becomes ``RZ(x + pi)``
    between ``SX`` gates)."""

    source: str  # "input" | "weight" | "const"
    index: int = -1
    value: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class Instruction:
    """One gate: a rotation with its :class:`Angle`, or a parameter-free gate with its matrix."""

    name: str
    qubits: tuple[int, ...]
    angle: Angle | None = None  # rotation gates
    matrix: np.ndarray | None = None  # parameter-free gates

    @property
    def signature(self) -> tuple[str, str]:
        """``(name, angle source or "fixed")``: what two qubits' gates share to be batched."""
        return (self.name, self.angle.source if self.angle else "fixed")

    @property
    def takes_input(self) -> bool:
        return self.angle is not None and self.angle.source == "input"


@dataclass(frozen=True)
class Program:
    """A parsed circuit: its instructions, sizes and observables (one :data:`Terms` each)."""

    instructions: list[Instruction]
    n_qubits: int
    n_inputs: int
    n_weights: int
    terms: list[Terms]


def parse_program(
    circuit: QuantumCircuit,
    inputs: Sequence[Parameter],
    weights: Sequence[Parameter],
    observables: Sequence[SparsePauliOp],
    *,
    affine: bool = False,
) -> Program:
    """Parse ``circuit`` (gates only; parameters plain ``Parameter`` objects in the rotations of
    :data:`ROTATION_GATES`, or with ``affine`` expressions ``a * parameter + b``) with ``inputs``
    and ``weights`` in the order of the tensors' last axes, and diagonal (I/Z) ``observables``.
    Errors name ``CompiledCircuit``, the public entry point."""
    inputs, weights = list(inputs), list(weights)
    n_qubits = circuit.num_qubits
    return Program(
        _instructions(circuit, inputs, weights, affine),
        n_qubits,
        len(inputs),
        len(weights),
        _diagonal_terms(observables, n_qubits),
    )


def _instructions(
    circuit: QuantumCircuit, inputs: list[Parameter], weights: list[Parameter], affine: bool
) -> list[Instruction]:
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
        if op.name in IGNORED_INSTRUCTIONS:
            continue
        if not isinstance(op, Gate) or item.clbits:
            raise ValueError(
                f"CompiledCircuit: instruction {op.name!r} is not a unitary gate; expected gates "
                "only (no measure, reset or classical control)"
            )
        if not op.params:
            program.append(Instruction(op.name, qubits, matrix=np.array(op.to_matrix())))
            continue
        if op.name not in ROTATION_GATES:
            raise ValueError(
                f"CompiledCircuit: parameterized gate {op.name!r} is not supported; expected one "
                f"of {', '.join(ROTATION_GATES)} or a parameter-free gate"
            )
        (param,) = op.params
        if isinstance(param, Parameter):
            if param in input_index:
                angle = Angle("input", input_index[param])
            else:
                angle = Angle("weight", weight_index[param])
        elif affine and len(getattr(param, "parameters", ())) == 1:
            angle = _affine_angle(op.name, qubits, param, input_index, weight_index)
        elif getattr(param, "parameters", None):
            raise ValueError(
                f"CompiledCircuit: gate {op.name!r} on qubit {qubits[0]} has the expression "
                f"{param}; expected a single Parameter or a number"
            )
        else:
            angle = Angle("const", value=float(param))
        program.append(Instruction(op.name, qubits, angle=angle))
    return program


def _affine_angle(name, qubits, expression, input_index, weight_index) -> Angle:
    """The :class:`Angle` of ``a * p + b`` (one parameter ``p``, numbers ``a`` and ``b``)."""
    (param,) = expression.parameters
    slope = expression.gradient(param)
    if getattr(slope, "parameters", None):
        raise ValueError(
            f"CompiledCircuit: gate {name!r} on qubit {qubits[0]} has the expression "
            f"{expression}; expected a * parameter + b"
        )
    offset = float(expression.assign(param, 0.0))
    if param in input_index:
        return Angle("input", input_index[param], offset, float(slope))
    return Angle("weight", weight_index[param], offset, float(slope))


def _diagonal_terms(observables: Sequence[SparsePauliOp], n_qubits: int) -> list[Terms]:
    """Each observable as its terms ``(coefficient, Z qubits)`` (sums of I/Z Pauli strings only)."""
    terms = []
    for k, observable in enumerate(observables):
        if observable.num_qubits != n_qubits:
            raise ValueError(
                f"CompiledCircuit: observable {k} acts on {observable.num_qubits} "
                f"qubits, expected {n_qubits}"
            )
        own = []
        for pauli, coeff in zip(observable.paulis, observable.coeffs, strict=True):
            if pauli.x.any() or abs(np.imag(coeff)) > 1e-12:
                raise ValueError(
                    f"CompiledCircuit: observable {k} term {pauli} is not a real "
                    "I/Z Pauli string; put basis changes in the circuit"
                )
            own.append((float(np.real(coeff)), tuple(int(q) for q in np.flatnonzero(pauli.z))))
        terms.append(own)
    return terms


def diagonal_signs(terms: list[Terms], n_qubits: int) -> np.ndarray:
    """``(2**n, n_obs)``: the diagonal of each observable."""
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


def check_inputs(owner: str, inputs, n_circuits: int, n_inputs: int, dtype) -> None:
    """Require circuit inputs of shape ``(n_circuits, B, n_inputs)`` and the weights' ``dtype``
    (every engine's ``expectation`` checks them alike)."""
    if inputs.dim() != 3 or inputs.shape[0] != n_circuits or inputs.shape[2] != n_inputs:
        raise ValueError(
            f"{owner}: inputs must have shape ({n_circuits}, B, {n_inputs}), got "
            f"{tuple(inputs.shape)}"
        )
    if inputs.dtype != dtype:
        raise TypeError(f"{owner}: inputs must be {dtype} like the weights, got {inputs.dtype}")
