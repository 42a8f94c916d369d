"""The gate circuit: a variational quantum circuit (VQC) built as a Qiskit ``QuantumCircuit``.

One circuit serves each LSTM gate. Its layout (SPEC §3)::

    for block in range(n_qlayers):          # data re-uploading
        encode the features                 # e.g. H, RY(arctan f_q), RZ(arctan f_q^2) on qubit q
        for layer in range(depth):          # variational layers
            trainable rotations on every qubit
            entangler (CNOT ring by default; "strong": range r = (l mod (n-1)) + 1 in layer
                       l = block * depth + layer, as PennyLane's StronglyEntanglingLayers)
    basis change for the readout (X: H; Y: S^dagger then H)
    readout: <Z_q> on every qubit q

Every circuit parameter appears in exactly one rotation gate: encoding nonlinearities such as
``arctan f`` are computed in torch (:func:`GateCircuit.encode`), and each re-uploading block has its
own copy of the input parameters. The two-term parameter-shift rule is then exact for every input
and every weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

from .checks import check_choice, check_int

#: encoding name -> (gates applied to each qubit, one input angle per rotation).
ENCODINGS: dict[str, tuple[str, ...]] = {
    "angle": ("ry",),  # RY(f)
    "arctan": ("h", "ry", "rz"),  # H, RY(arctan f), RZ(arctan f^2)  (Chen et al. 2020)
}
#: trainable rotation name -> rotation gates applied to every qubit in a variational layer.
ROTATIONS: dict[str, tuple[str, ...]] = {
    "rot": ("rz", "ry", "rz"),  # general 3-angle rotation (Chen et al. 2020)
    "rx": ("rx",),
    "ry": ("ry",),  # (Chen et al. 2024)
    "rz": ("rz",),
}
ENTANGLERS = ("ring", "linear", "none", "strong")
MEASUREMENTS = ("Z", "X", "Y")
MAX_QUBITS = 25

_ROTATION_GATES = ("rx", "ry", "rz")


@dataclass(frozen=True)
class CircuitSpec:
    """The hyperparameters that fix a gate circuit's layout; validated on construction."""

    n_qubits: int = 4
    n_qlayers: int = 1
    depth: int = 1
    encoding: str = "arctan"
    rotation: str = "rot"
    entangling: str = "ring"
    measure: str = "Z"

    def __post_init__(self) -> None:
        self.validate("CircuitSpec")

    def validate(self, owner: str) -> None:
        """Check every field; errors name ``owner`` (the class the user called)."""
        check_int(owner, "n_qubits", self.n_qubits, 1, MAX_QUBITS)
        check_int(owner, "n_qlayers", self.n_qlayers, 1, 5)
        check_int(owner, "depth", self.depth, 1, 30)
        check_choice(owner, "encoding", self.encoding, ENCODINGS)
        check_choice(owner, "rotation", self.rotation, ROTATIONS)
        check_choice(owner, "entangling", self.entangling, ENTANGLERS)
        check_choice(owner, "measure", self.measure, MEASUREMENTS)

    @classmethod
    def checked(cls, owner: str, **fields) -> CircuitSpec:
        """Build a spec whose validation errors name ``owner`` instead of ``CircuitSpec``."""
        spec = object.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(spec, name, value)
        spec.validate(owner)
        return cls(**fields)

    @property
    def inputs_per_qubit(self) -> int:
        """Input angles one qubit receives in one encoding block."""
        return sum(gate in _ROTATION_GATES for gate in ENCODINGS[self.encoding])

    @property
    def n_inputs(self) -> int:
        """Length of the circuit's input ``ParameterVector``:
        ``n_qlayers * n_qubits * inputs_per_qubit``."""
        return self.n_qlayers * self.n_qubits * self.inputs_per_qubit

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """Shape of one gate's trainable weights:
        ``(n_qlayers, depth, n_qubits, rotations per qubit)``."""
        return (self.n_qlayers, self.depth, self.n_qubits, len(ROTATIONS[self.rotation]))

    @property
    def n_weights(self) -> int:
        """Length of the circuit's weight ``ParameterVector`` (the product of ``weight_shape``)."""
        n_qlayers, depth, n_qubits, n_rot = self.weight_shape
        return n_qlayers * depth * n_qubits * n_rot


def entangler_pairs(n_qubits: int, entangling: str, layer: int = 0) -> list[tuple[int, int]]:
    """(control, target) pairs of the CNOTs of one entangling layer, in circuit order.

    ``layer`` counts the variational layers over all blocks (``block * depth + layer``); only
    ``"strong"`` depends on it: CNOTs ``(q, (q + r) mod n)`` for every qubit ``q`` with range
    ``r = (layer mod (n - 1)) + 1`` (the default ranges of PennyLane's
    ``StronglyEntanglingLayers``). ``"ring"`` is ``"strong"`` with ``r = 1`` in every layer.
    """
    if entangling == "none" or n_qubits == 1:
        return []
    if entangling == "linear":
        return [(q, q + 1) for q in range(n_qubits - 1)]
    reach = layer % (n_qubits - 1) + 1 if entangling == "strong" else 1
    return [(q, (q + reach) % n_qubits) for q in range(n_qubits)]  # n=2 gives CX(0,1), CX(1,0)


class GateCircuit:
    """A gate VQC: the Qiskit circuit, its parameter vectors, its observables and its encoding.

    Attributes:
        spec: the layout.
        circuit: the parameterized ``QuantumCircuit`` (``spec.n_qubits`` qubits, no measurements).
        inputs: ``ParameterVector`` "x" of length ``spec.n_inputs``, ordered (block, qubit, angle).
        weights: ``ParameterVector`` "w" of length ``spec.n_weights``, ordered like the flattened
            ``spec.weight_shape`` (block, layer, qubit, rotation).
        observables: one ``SparsePauliOp`` per qubit, ``Z`` on that qubit (the readout basis change
            is part of the circuit), in qubit order.
    """

    def __init__(self, spec: CircuitSpec, name: str = "gate") -> None:
        self.spec = spec
        self.inputs = ParameterVector("x", spec.n_inputs)
        self.weights = ParameterVector("w", spec.n_weights)
        self.circuit = self._build(name)
        n = spec.n_qubits
        self.observables = [
            SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], num_qubits=n) for q in range(n)
        ]

    def _build(self, name: str) -> QuantumCircuit:
        spec = self.spec
        n = spec.n_qubits
        qc = QuantumCircuit(n, name=name)
        inputs = iter(self.inputs)
        weights = iter(self.weights)
        for block in range(spec.n_qlayers):
            for q in range(n):
                for gate in ENCODINGS[spec.encoding]:
                    if gate == "h":
                        qc.h(q)
                    else:
                        getattr(qc, gate)(next(inputs), q)
            for layer in range(spec.depth):
                for q in range(n):
                    for gate in ROTATIONS[spec.rotation]:
                        getattr(qc, gate)(next(weights), q)
                pairs = entangler_pairs(n, spec.entangling, block * spec.depth + layer)
                for control, target in pairs:
                    qc.cx(control, target)
            qc.barrier()
        if spec.measure == "X":
            qc.h(range(n))
        elif spec.measure == "Y":
            qc.sdg(range(n))
            qc.h(range(n))
        return qc

    def named(self, name: str) -> QuantumCircuit:
        """A copy of the circuit under another name (e.g. ``"forget"``)."""
        return self.circuit.copy(name=name)

    def encode(self, features, xp=torch, scale=None):
        """Map features to the values of the circuit's input parameters.

        Args:
            features: ``(..., n_qubits)``, one feature per qubit. The width fed to the circuit must
                equal ``n_qubits`` (the classical projection in front of the circuit guarantees it).
            xp: the array module of ``features``: ``torch`` (differentiable) or ``numpy``.
            scale: ``None``, or a trainable scale per qubit broadcastable to ``features``
                (``input_scaling=True``): every angle of qubit ``q``, in every re-uploading
                block, is multiplied by ``scale[..., q]`` after the encoding nonlinearity,
                ``angle = s_q * enc(f_q)``.

        Returns:
            ``(..., n_inputs)`` angles in the order of :attr:`inputs`: for ``angle``, ``f_q``; for
            ``arctan``, ``arctan f_q`` then ``arctan f_q**2``; repeated for every re-uploading
            block (each times ``s_q`` with ``scale``).
        """
        self._check_features("encode", features)
        if self.spec.encoding == "angle":
            angles = features[..., None]
        else:
            angles = xp.stack((xp.arctan(features), xp.arctan(features * features)), -1)
        if scale is not None:
            angles = angles * scale[..., None]
        return self._blocks(angles, xp)

    def encode_slopes(self, features, xp=torch):
        """The derivative of :meth:`encode`, for hand-written backward passes.

        Returns:
            ``(..., n_inputs)``: entry ``k`` is the derivative of the ``k``-th angle by
            ``features[..., input_features[k]]``, the one feature it depends on.
        """
        self._check_features("encode_slopes", features)
        if self.spec.encoding == "angle":
            return self._blocks(xp.ones_like(features)[..., None], xp)
        square = features * features
        slopes = xp.stack((1 / (1 + square), 2 * features / (1 + square * square)), -1)
        return self._blocks(slopes, xp)

    @cached_property
    def input_features(self) -> np.ndarray:
        """``(n_inputs,)``: the feature (qubit) each circuit input is computed from (read only:
        computed once, read by every fused sequence)."""
        per_qubit = len(ENCODINGS[self.spec.encoding]) - ENCODINGS[self.spec.encoding].count("h")
        features = np.tile(np.repeat(np.arange(self.spec.n_qubits), per_qubit), self.spec.n_qlayers)
        features.flags.writeable = False
        return features

    def _check_features(self, method: str, features: torch.Tensor) -> None:
        n = self.spec.n_qubits
        if features.shape[-1:] != (n,):
            raise ValueError(
                f"GateCircuit.{method}: features must have last dimension n_qubits={n}, "
                f"got shape {tuple(features.shape)}"
            )

    def _blocks(self, per_qubit, xp):
        """``(..., n_qubits, k)`` values per qubit -> ``(..., n_inputs)``: qubit-major, repeated
        for every re-uploading block."""
        flat = per_qubit.reshape(*per_qubit.shape[:-2], -1)
        if self.spec.n_qlayers == 1:
            return flat
        return xp.concatenate([flat] * self.spec.n_qlayers, -1)


@lru_cache(maxsize=64)
def gate_circuit(spec: CircuitSpec) -> GateCircuit:
    """The (shared, cached) gate circuit of a layout: one object per spec, so that backends
    compile it once."""
    return GateCircuit(spec)
