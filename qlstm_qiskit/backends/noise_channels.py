"""The channels of an Aer ``NoiseModel`` on one transpiled circuit, for a density-matrix engine.

:func:`compact` keeps the qubits a circuit uses (an ISA circuit of a 127-qubit device touches a
handful); :func:`instruction_channels` gives, per instruction, the superoperator of the error Aer's
density-matrix simulator applies after it, and :func:`readout_assignments`, per qubit, the
assignment matrix of its readout error. The model is read through ``NoiseModel.to_dict()``
(public) and matched as Aer matches it:

- quantum errors are looked up by the instruction's label, else its name (Aer does so for gates;
  ``measure`` and ``reset`` by name), then by its *physical* qubits in the instruction's order: an
  error added for exactly those qubits wins over the all-qubit error of that name; errors added
  for the same name and qubits were already composed by Aer in the order they were added;
- the error acts after the instruction, on the instruction's qubits: local qubit ``i`` of the
  error is the instruction's ``i``-th qubit;
- readout errors: the one added for the qubit, else the all-qubit one. Aer applies an error added
  for several qubits only to a ``measure`` on exactly those qubits together; a circuit measures
  one qubit per instruction, so such errors never apply and are left out here too.

Conventions: a superoperator is ``qiskit.quantum_info.SuperOp`` data, a complex array
``(4**k, 4**k)`` acting on the column-stacked density matrix (``vec(rho)[i + d*j] = rho[i, j]``,
``d = 2**k``, qubit 0 the least significant bit); an assignment matrix is ``A[measured,
prepared]`` (2x2, columns sum to 1, ``p_measured = A @ p_prepared``).

Noise scaling (:func:`scaled_channel`) maps a channel ``E`` to ``I + scale * (E - I)``: exact for
Pauli and depolarizing mixtures (their probabilities scale), first order in the rates for
relaxation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import Choi, Kraus, Operator, Pauli, PauliList, SparsePauliOp, SuperOp
from qiskit_aer.noise import NoiseModel

from ..checks import check_real

__all__ = [
    "CompactCircuit",
    "active_qubits",
    "compact",
    "instruction_channels",
    "readout_assignments",
    "scaled_assignment",
    "scaled_channel",
]

#: how negative an eigenvalue of a scaled channel's Choi matrix may be (rounding).
CHOI_TOLERANCE = 1e-9
#: how far outside [0, 1] an entry of a scaled assignment matrix may be (rounding).
ASSIGNMENT_TOLERANCE = 1e-12
#: Aer keeps only the terms of an error whose probability (or Pauli-Lindblad rate) is above this
#: (``QuantumError::threshold_`` of its C++ core), without renormalising the rest.
AER_THRESHOLD = 1e-10
#: Kraus operators of a one-qubit reset to |0>.
RESET_KRAUS = (np.array([[1, 0], [0, 0]], dtype=complex), np.array([[0, 1], [0, 0]], dtype=complex))
#: instructions Aer looks up by name even when they carry a label.
BY_NAME = ("measure", "reset")


@dataclass(frozen=True)
class CompactCircuit:
    """A circuit on its active qubits only.

    Attributes:
        circuit: the circuit on ``len(physical)`` qubits, renumbered ``0..n-1`` in ascending
            order of the original (physical) index; no barriers; parameters as in the original.
        observables: the observables restricted to those qubits (same order as given), each a
            ``SparsePauliOp`` on ``n`` qubits.
        physical: compact index -> qubit index in the original circuit.
    """

    circuit: QuantumCircuit
    observables: list[SparsePauliOp]
    physical: tuple[int, ...]


def active_qubits(circuit: QuantumCircuit, observables: Sequence[SparsePauliOp]) -> tuple[int, ...]:
    """The qubits of ``circuit`` that an instruction other than a barrier touches or an
    observable acts on (a non-identity Pauli in some term), ascending. The observables must be on
    ``circuit.num_qubits`` qubits (laid out with the circuit's layout, as
    ``SparsePauliOp.apply_layout`` does); control-flow instructions are not supported."""
    owner = "compact"
    if not isinstance(circuit, QuantumCircuit):
        raise TypeError(
            f"{owner}: circuit must be a QuantumCircuit, got {type(circuit).__name__} {circuit!r}"
        )
    n_all = circuit.num_qubits
    active = np.zeros(n_all, dtype=bool)
    for i, observable in enumerate(observables):
        if not isinstance(observable, SparsePauliOp):
            raise TypeError(
                f"{owner}: observables[{i}] must be a SparsePauliOp, got "
                f"{type(observable).__name__} {observable!r}"
            )
        if observable.num_qubits != n_all:
            raise ValueError(
                f"{owner}: observables[{i}] must act on the circuit's {n_all} qubits, got "
                f"{observable.num_qubits} qubits"
            )
        active |= np.any(observable.paulis.x | observable.paulis.z, axis=0)
    index = {bit: i for i, bit in enumerate(circuit.qubits)}
    for instruction in circuit.data:
        operation = instruction.operation
        if isinstance(operation, ControlFlowOp):
            raise ValueError(
                f"{owner}: circuit must have no control-flow instructions, got {operation.name!r}"
            )
        if operation.name != "barrier":
            active[[index[bit] for bit in instruction.qubits]] = True
    return tuple(int(q) for q in np.flatnonzero(active))


def compact(
    circuit: QuantumCircuit,
    observables: Sequence[SparsePauliOp],
    keep: Sequence[int] | None = None,
) -> CompactCircuit:
    """The :class:`CompactCircuit` of ``circuit``: its :func:`active_qubits` are kept, the others
    dropped, and so are barriers; the observables are kept term by term, coefficients unchanged.
    ``keep`` (optional): keep these qubits instead, a superset of the active ones (e.g. the union
    over several circuits)."""
    owner = "compact"
    observables = list(observables)
    physical = active_qubits(circuit, observables)
    index = {bit: i for i, bit in enumerate(circuit.qubits)}
    if keep is not None:
        missing = sorted(set(physical) - {int(q) for q in keep})
        if missing:
            raise ValueError(
                f"{owner}: keep must include every active qubit of the circuit; it leaves out "
                f"{missing}"
            )
        physical = tuple(sorted({int(q) for q in keep}))
    position = {q: c for c, q in enumerate(physical)}
    small = QuantumCircuit(
        len(physical),
        circuit.num_clbits,
        name=circuit.name,
        global_phase=circuit.global_phase,
        metadata=dict(circuit.metadata or {}),
    )
    clbit_index = {bit: i for i, bit in enumerate(circuit.clbits)}
    for instruction in circuit.data:
        if instruction.operation.name == "barrier":
            continue
        small.append(
            instruction.operation,
            [small.qubits[position[index[bit]]] for bit in instruction.qubits],
            [small.clbits[clbit_index[bit]] for bit in instruction.clbits],
            copy=False,
        )
    kept = list(physical)
    restricted = [
        SparsePauliOp(
            PauliList.from_symplectic(o.paulis.z[:, kept], o.paulis.x[:, kept], o.paulis.phase),
            o.coeffs.copy(),
        )
        for o in observables
    ]
    return CompactCircuit(small, restricted, physical)


def instruction_channels(
    model: NoiseModel, compact: CompactCircuit, scale: float = 1.0
) -> list[np.ndarray | None]:
    """Per instruction of ``compact.circuit.data``, in order: the superoperator (complex array
    ``(4**k, 4**k)``, SuperOp convention, on the instruction's ``k`` qubits in the instruction's
    order) of the error that Aer applies after it, scaled by :func:`scaled_channel`; ``None`` when
    the model has no error for that instruction on those physical qubits (virtual ``rz``), and for
    every instruction when ``scale`` is 0.

    Raises ``ValueError`` for a ``delay`` (Aer's delay noise comes from a transpiler pass of the
    model, not from its errors), for an error whose size differs from the instruction's, and for a
    scale that makes an error unphysical. Instructions with the same error share one array."""
    owner = "instruction_channels"
    _check_model(owner, model)
    check_real(owner, "scale", scale, 0.0)
    errors = _quantum_errors(model)
    index = {bit: i for i, bit in enumerate(compact.circuit.qubits)}
    done: dict[tuple[int, int], np.ndarray] = {}
    channels: list[np.ndarray | None] = []
    for instruction in compact.circuit.data:
        operation = instruction.operation
        if operation.name == "delay":
            raise ValueError(
                f"{owner}: circuit must have no delay instructions (Aer's delay noise is added by "
                "a pass of the noise model), got a delay"
            )
        name = operation.name if operation.name in BY_NAME else operation.label or operation.name
        qubits = tuple(compact.physical[index[bit]] for bit in instruction.qubits)
        table = errors.get(name, {}) if operation.name != "barrier" else {}
        entry = table.get(qubits, table.get(None))
        if entry is None or scale == 0:
            channels.append(None)
            continue
        key = (id(entry), len(qubits))
        if key not in done:
            what = f"the {name!r} error on qubits {qubits}"
            superop = _error_superop(entry, len(qubits), f"{owner}: {what}")
            done[key] = scaled_channel(superop, scale, f"{owner}: noise scale for {what}")
        channels.append(done[key])
    return channels


def readout_assignments(
    model: NoiseModel, compact: CompactCircuit, scale: float = 1.0
) -> list[np.ndarray | None]:
    """Per compact qubit: the assignment matrix ``A[measured, prepared]`` (2x2 float, columns sum
    to 1; the transpose of the ``ReadoutError``'s ``probabilities[prepared][measured]``) of the
    readout error on its physical qubit (the one added for that qubit, else the all-qubit one),
    scaled by :func:`scaled_assignment`; ``None`` without a readout error, or when ``scale`` is 0.
    """
    owner = "readout_assignments"
    _check_model(owner, model)
    check_real(owner, "scale", scale, 0.0)
    local: dict[int, np.ndarray] = {}
    default = None
    for error in model.to_dict()["errors"]:
        if error["type"] != "roerror":
            continue
        matrix = np.asarray(error["probabilities"], dtype=float).T
        if not error.get("gate_qubits"):
            default = matrix
            continue
        for qubits in error["gate_qubits"]:
            if len(qubits) == 1:  # several qubits: only for a joint measure (see the module)
                local[int(qubits[0])] = matrix
    assignments: list[np.ndarray | None] = []
    for qubit in compact.physical:
        matrix = local.get(qubit, default)
        if matrix is None or scale == 0:
            assignments.append(None)
        else:
            what = f"noise scale for the readout error of qubit {qubit}"
            assignments.append(scaled_assignment(matrix, scale, f"{owner}: {what}"))
    return assignments


def scaled_channel(superop: np.ndarray, scale: float, owner: str) -> np.ndarray:
    """``I + scale * (E - I)`` for the superoperator ``E`` (``(4**k, 4**k)``): exact for Pauli and
    depolarizing mixtures (their probabilities scale), first order in the rates for relaxation;
    0 gives the identity, 1 ``E`` itself. Between 0 and 1 the result is a mixture of ``E`` and the
    identity, hence physical; above 1 its Choi matrix must stay positive semidefinite (to
    ``CHOI_TOLERANCE``), else a ``ValueError`` (prefixed by ``owner``, which names the channel)
    gives the largest scale that keeps it so."""
    check_real(owner, "scale", scale, 0.0)
    superop = np.asarray(superop, dtype=complex)
    size = superop.shape[0]
    if superop.shape != (size, size) or size < 4 or 4 ** round(np.log(size) / np.log(4)) != size:
        raise ValueError(
            f"{owner}: superop must be a square array of size 4**k, got shape {superop.shape}"
        )
    if scale == 1:
        return superop
    identity = np.eye(size, dtype=complex)
    scaled = identity + scale * (superop - identity)
    if scale > 1 and _min_choi_eigenvalue(scaled) < -CHOI_TOLERANCE:
        low, high = 0.0, float(scale)  # the physical scales are an interval that contains [0, 1]
        for _ in range(60):
            middle = 0.5 * (low + high)
            if _min_choi_eigenvalue(identity + middle * (superop - identity)) < -CHOI_TOLERANCE:
                high = middle
            else:
                low = middle
        raise ValueError(
            f"{owner}: scale must be at most {low:.6g} to keep the channel completely positive, "
            f"got {scale:g}"
        )
    return scaled


def scaled_assignment(matrix: np.ndarray, scale: float, owner: str) -> np.ndarray:
    """``I + scale * (A - I)`` for a 2x2 assignment matrix ``A[measured, prepared]``; above 1 every
    entry must stay within [0, 1], else a ``ValueError`` (prefixed by ``owner``) gives the
    largest scale that keeps it so."""
    check_real(owner, "scale", scale, 0.0)
    matrix = np.asarray(matrix, dtype=float)
    if scale == 1:
        return matrix
    identity = np.eye(len(matrix))
    step = matrix - identity
    scaled = identity + scale * step
    if np.any(scaled < -ASSIGNMENT_TOLERANCE) or np.any(scaled > 1 + ASSIGNMENT_TOLERANCE):
        # an entry 0 <= d + s * step <= 1 (d = 0 or 1) bounds s by (1 - d)/step or d/(-step)
        with np.errstate(divide="ignore", invalid="ignore"):
            bounds = np.where(
                step > 0, (1 - identity) / step, np.where(step < 0, -identity / step, np.inf)
            )
        raise ValueError(
            f"{owner}: scale must be at most {bounds.min():.6g} to keep the assignment "
            f"probabilities within [0, 1], got {scale:g}"
        )
    return scaled


# -- reading the model ----------------------------------------------------------------------------
def _check_model(owner: str, model: Any) -> None:
    if not isinstance(model, NoiseModel):
        raise TypeError(
            f"{owner}: model must be a qiskit_aer NoiseModel, got {type(model).__name__} {model!r}"
        )


def _quantum_errors(model: NoiseModel) -> dict[str, dict[tuple[int, ...] | None, dict]]:
    """name -> {physical qubits (``None``: all qubits) -> the error's ``to_dict`` entry}."""
    errors: dict[str, dict[tuple[int, ...] | None, dict]] = {}
    for error in model.to_dict()["errors"]:
        if error["type"] not in ("qerror", "plerror"):
            continue
        keys = [
            None if qubits is None else tuple(int(q) for q in qubits)
            for qubits in error.get("gate_qubits") or [None]
        ]
        for name in error["operations"]:
            for key in keys:
                errors.setdefault(name, {})[key] = error
    return errors


def _error_superop(error: dict, n_qubits: int, owner: str) -> np.ndarray:
    """The superoperator of one ``to_dict`` error entry on ``n_qubits`` local qubits, as Aer
    computes it: a ``QuantumError`` is the probability-weighted sum of its terms (each term its
    instructions composed in order; terms of probability <= ``AER_THRESHOLD`` dropped), a
    ``PauliLindbladError`` the product over its generators ``P`` of ``p I + (1 - p) P`` with
    ``p = (1 + exp(-2 rate)) / 2``."""
    size = 4**n_qubits
    identity = np.eye(size, dtype=complex)
    if "rates" in error:
        total = identity
        for rate, term in zip(error["rates"], error["instructions"], strict=True):
            if abs(rate) > AER_THRESHOLD:
                keep = 0.5 + 0.5 * np.exp(-2 * float(rate))
                pauli = _term_superop(term, n_qubits, owner)
                total = keep * total + (1 - keep) * (pauli @ total)
        return total
    total = np.zeros((size, size), dtype=complex)
    for probability, term in zip(error["probabilities"], error["instructions"], strict=True):
        if probability > AER_THRESHOLD:
            total += float(probability) * _term_superop(term, n_qubits, owner)
    return total


def _term_superop(term: list[dict], n_qubits: int, owner: str) -> np.ndarray:
    """The superoperator of one term of an error: its instructions (on local qubits) in order."""
    channel = SuperOp(np.eye(4**n_qubits, dtype=complex))
    for instruction in term:
        qubits = [int(q) for q in instruction["qubits"]]
        if max(qubits) >= n_qubits:
            raise ValueError(
                f"{owner}: the error must act on the instruction's {n_qubits} qubit(s), got a "
                f"term on local qubits {qubits}"
            )
        part = _instruction_superop(instruction, owner)
        if part is not None:
            channel = channel.compose(part, qargs=qubits)
    return channel.data


def _instruction_superop(instruction: dict, owner: str) -> SuperOp | None:
    """The superoperator of one instruction of an error term (on its own qubits, in its order);
    ``None`` for an identity."""
    name, params = instruction["name"], instruction.get("params") or []
    n_qubits = len(instruction["qubits"])
    if name == "id" or (name == "pauli" and set(params[0]) == {"I"}):
        return None
    if name == "pauli":
        return SuperOp(Operator(Pauli(params[0])))
    if name == "reset":
        reset = SuperOp(Kraus(list(RESET_KRAUS)))
        channel = reset
        for _ in range(n_qubits - 1):
            channel = channel.tensor(reset)
        return channel
    if name == "kraus":
        return SuperOp(Kraus([np.asarray(k, dtype=complex) for k in params]))
    if name == "unitary":
        return SuperOp(Operator(np.asarray(params[0], dtype=complex)))
    gates = get_standard_gate_name_mapping()
    if name in gates and name not in ("measure", "delay", "reset", "barrier"):
        gate = type(gates[name])(*params) if params else gates[name]
        return SuperOp(Operator(gate))
    raise ValueError(
        f"{owner}: error instructions must be id, pauli, reset, kraus, unitary or a standard "
        f"gate, got {name!r}"
    )


def _min_choi_eigenvalue(superop: np.ndarray) -> float:
    """The smallest eigenvalue of the (Hermitian part of the) Choi matrix of ``superop``."""
    choi = Choi(SuperOp(superop)).data
    return float(np.linalg.eigvalsh(0.5 * (choi + choi.conj().T)).min())
