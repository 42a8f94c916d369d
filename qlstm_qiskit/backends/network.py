"""A batched quantum network for ``TorchConnector``: all gates, the whole batch and every gradient
row of one time step in ONE estimator call.

:class:`BatchedGateNetwork` is a ``qiskit_machine_learning`` ``NeuralNetwork`` with no weights of
its own (``num_weights=0``). One input row holds, for each of the ``G`` gates, that gate's circuit
inputs followed by its circuit weights (``G * (n_inputs + n_weights)`` values), so the model's
quantum weights stay the model's parameters and ``TorchConnector`` returns their gradients through
the input path. One output row holds ``G * n_observables`` expectation values.

Gradients:

* ``"param_shift"``: every circuit parameter sits in exactly one Pauli rotation (checked by
  :func:`check_shift_rule`), so ``d<O>/dθ = (<O>(θ + π/2) - <O>(θ - π/2)) / 2`` is exact.
  Parameters whose shifts give the same circuit (:func:`shift_classes`, e.g. ``x`` and ``w`` of
  ``RZ(x) RZ(w)``) share one pair of shifted rows: 2K rows for K classes instead of 2P.
* ``"spsa"``: ``spsa_samples`` random ±1 directions Δ per row (seeded), ``g ≈ mean over Δ of
  (<O>(θ + εΔ) - <O>(θ - εΔ)) / (2ε) · Δ``: a cheap, biased-by-ε, noisy estimate.

When :attr:`BatchedGateNetwork.needs_gradients` is set before ``forward``, the shifted rows go into
the forward call itself (one PUB of shape ``(1 + S, G·B, P)`` against observables
``(O, 1, 1)``) and
the resulting Jacobian is cached for ``backward``: zero extra calls. A ``backward`` without such a
forward makes one call of its own.

With error mitigation (:mod:`.mitigation`), that one call carries the circuit at every ZNE scale
and the readout calibration circuits as further PUBs; the mitigated values of all rows, shifted
ones included, make the outputs and the Jacobian.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterExpression
from qiskit.primitives import BaseEstimatorV2
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.neural_networks import NeuralNetwork

GRADIENTS = ("param_shift", "spsa")
#: gates ``exp(-i θ/2 P)`` (up to a global phase) in each of their angles: the shift rule holds.
_PAULI_ROTATIONS = ("rx", "ry", "rz", "p", "u1", "u", "u3", "rxx", "ryy", "rzz", "rzx")


def shift_classes(circuit: QuantumCircuit, parameters: Sequence[Parameter]) -> list[list[int]]:
    """Groups of parameter indices whose ±π/2 shifts give the same circuit, so that one pair of
    shifted rows serves the whole group: parameters in one run of consecutive same-axis
    rotations on one qubit (e.g. ``RZ(x) RZ(w)``), with the same sign."""
    z_axis = ("rz", "p", "u1")
    run_of: dict[int, tuple[str, int]] = {}  # qubit -> (axis, run id) of its open rotation run
    key_of: dict[Parameter, tuple] = {}
    run_ids = itertools.count()
    for instruction in circuit.data:
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        name = instruction.operation.name
        if name not in ("rx", "ry", *z_axis) or len(qubits) != 1:
            for qubit in qubits:
                run_of.pop(qubit, None)
            continue
        axis = "rz" if name in z_axis else name
        if run_of.get(qubits[0], ("",))[0] != axis:
            run_of[qubits[0]] = (axis, next(run_ids))
        angle = instruction.operation.params[0]
        if isinstance(angle, ParameterExpression):
            for param in angle.parameters:
                key_of[param] = (run_of[qubits[0]], complex(angle.gradient(param)).real > 0)
    groups: dict[tuple, list[int]] = {}
    for k, param in enumerate(parameters):
        groups.setdefault(key_of.get(param, ("alone", k)), []).append(k)
    return list(groups.values())


def check_shift_rule(owner: str, circuit: QuantumCircuit, parameters: Sequence[Parameter]) -> None:
    """Require every parameter in exactly one Pauli-rotation angle, with coefficient ±1."""
    uses = {p: 0 for p in parameters}
    for instruction in circuit.data:
        for angle in instruction.operation.params:
            if not isinstance(angle, ParameterExpression):
                continue
            for param in angle.parameters:
                coefficient = angle.gradient(param)
                exact = (
                    instruction.operation.name in _PAULI_ROTATIONS
                    and not isinstance(coefficient, ParameterExpression)
                    and abs(abs(complex(coefficient)) - 1) < 1e-12
                )
                if not exact:
                    raise ValueError(
                        f"{owner}: the parameter-shift rule needs every parameter in "
                        f"a Pauli rotation with coefficient ±1, got {param} in "
                        f"{instruction.operation.name}({angle})"
                    )
                uses[param] = uses.get(param, 0) + 1
    wrong = {str(p): n for p, n in uses.items() if n != 1}
    if wrong:
        raise ValueError(
            f"{owner}: the parameter-shift rule needs every parameter in exactly one "
            f"gate, got these counts: {wrong}"
        )


class BatchedGateNetwork(NeuralNetwork):
    """``G`` copies of one circuit (one per LSTM gate) evaluated together, see the module docstring.

    Args:
        circuit: the (possibly transpiled) circuit; its parameters must be ``inputs`` + ``weights``.
        inputs, weights: the circuit's input and weight parameters, in the order of the row layout.
        observables: one observable per output (laid out for ``circuit`` already).
        estimator: any ``BaseEstimatorV2``; receives exactly one ``run`` call per forward.
        n_gates: ``G``.
        gradient: ``"param_shift"`` or ``"spsa"``.
        spsa_samples, spsa_epsilon: SPSA directions per row and perturbation size.
        seed: seeds the SPSA directions (``None``: fresh entropy).
        mitigation: a :class:`~qlstm_qiskit.backends.mitigation.MitigationPlan` of this circuit
            (``None``: none): its PUBs go into the same one call, values and gradient rows alike.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        inputs: Sequence[Parameter],
        weights: Sequence[Parameter],
        observables: Sequence[SparsePauliOp],
        estimator: BaseEstimatorV2,
        *,
        n_gates: int,
        gradient: str = "param_shift",
        spsa_samples: int = 4,
        spsa_epsilon: float = 0.1,
        seed: int | None = None,
        cache_bytes: int = 2**28,
        mitigation=None,
    ) -> None:
        order = [*inputs, *weights]
        if set(circuit.parameters) != set(order):
            raise ValueError(
                "BatchedGateNetwork: circuit parameters must be exactly inputs + "
                f"weights, got {len(circuit.parameters)} parameters for "
                f"{len(order)}"
            )
        if gradient not in GRADIENTS:
            raise ValueError(
                f"BatchedGateNetwork: gradient must be one of "
                f"{', '.join(map(repr, GRADIENTS))}, got {gradient!r}"
            )
        self.n_params = len(order)
        self.n_gates = n_gates
        self.n_outputs = len(observables)
        super().__init__(
            num_inputs=n_gates * self.n_params,
            num_weights=0,
            sparse=False,
            output_shape=(n_gates * self.n_outputs,),
            input_gradients=True,
        )
        self.circuit = circuit
        position = {param: k for k, param in enumerate(order)}
        self._columns = np.array([position[p] for p in circuit.parameters])
        classes = shift_classes(circuit, order)
        self._representatives = np.array([group[0] for group in classes])  # shifted, one a class
        self._class_of = np.empty(self.n_params, dtype=int)  # parameter -> its class
        for c, group in enumerate(classes):
            self._class_of[group] = c
        self.observables = self.observable_array(observables)
        self.estimator = estimator
        self.mitigation = mitigation
        self.gradient = gradient
        self.spsa_samples = spsa_samples
        self.spsa_epsilon = spsa_epsilon
        self._rng = np.random.default_rng(seed)
        #: set by the caller before ``forward``: put the gradient rows into the forward call.
        self.needs_gradients = False
        #: estimator calls made so far.
        self.calls = 0
        # Jacobians of forward calls awaiting their backward, a list per input (equal inputs in
        # one graph each get their own), oldest first, at most cache_bytes (forward passes never
        # followed by a backward must not grow it without bound).
        self._jacobians: OrderedDict[bytes, list[np.ndarray]] = OrderedDict()
        self._cache_bytes = cache_bytes

    @staticmethod
    def observable_array(observables: Sequence[SparsePauliOp]) -> np.ndarray:
        """The observables as an object array ``(O, 1, 1)``, broadcast against parameter values
        ``(S, R, P)`` (``np.array`` would expand the operators)."""
        array = np.empty((len(observables), 1, 1), dtype=object)
        for k, observable in enumerate(observables):
            array[k, 0, 0] = observable
        return array

    @property
    def pending_jacobians(self) -> int:
        """Jacobians of forward calls still waiting for their backward."""
        return sum(len(jacobians) for jacobians in self._jacobians.values())

    # -- rows and the one call ------------------------------------------------------------------
    def _rows(self, input_data: np.ndarray) -> np.ndarray:
        """``(N, G * P) -> (G * N, P)``, gate-major, float64."""
        n = input_data.shape[0]
        rows = input_data.reshape(n, self.n_gates, self.n_params).transpose(1, 0, 2)
        return np.ascontiguousarray(rows.reshape(self.n_gates * n, self.n_params), dtype=np.float64)

    def _gradient_rows(self, rows: np.ndarray):
        """Shifted copies ``(S, R, P)`` of ``rows (R, P)`` and the map from their values to the
        Jacobian ``(O, P, R)``."""
        n_params = self.n_params
        if self.gradient == "param_shift":
            unit = np.eye(n_params)[self._representatives]  # (K, P): one shift per class
            shifts = np.concatenate((unit, -unit)) * (math.pi / 2)
            shifted = rows[None] + shifts[:, None, :]
            n_classes = len(unit)

            def jacobian(values):  # values (O, 2K, R)
                per_class = (values[:, :n_classes] - values[:, n_classes:]) / 2
                return per_class[:, self._class_of]

            return shifted, jacobian
        k, eps = self.spsa_samples, self.spsa_epsilon
        deltas = self._rng.choice((-1.0, 1.0), size=(k, *rows.shape))  # (k, R, P)
        shifted = np.concatenate((rows[None] + eps * deltas, rows[None] - eps * deltas))

        def jacobian(values):  # values (O, 2k, R)
            slopes = (values[:, :k] - values[:, k:]) / (2 * eps)  # (O, k, R)
            return np.einsum("okr,krp->opr", slopes, deltas) / k

        return shifted, jacobian

    def _run(self, values: np.ndarray) -> np.ndarray:
        """One estimator call: ``values (S, R, P)`` -> expectation values ``(O, S, R)``."""
        self.calls += 1
        values_pub = values[..., self._columns]
        if self.mitigation is None:
            result = self.estimator.run([(self.circuit, self.observables, values_pub)]).result()
            evs = result[0].data.evs
        else:  # the circuit at each ZNE scale, the readout calibration: PUBs of the same call
            evs = self.mitigation.combine(
                self.estimator.run(self.mitigation.pubs(values_pub)).result()
            )
        return np.asarray(evs, dtype=np.float64).reshape(self.n_outputs, *values.shape[:2])

    @staticmethod
    def _key(input_data: np.ndarray) -> bytes:
        data = np.ascontiguousarray(input_data, dtype=np.float64)
        return hashlib.blake2b(data.tobytes() + str(data.shape).encode(), digest_size=16).digest()

    # -- NeuralNetwork --------------------------------------------------------------------------
    def _forward(self, input_data: np.ndarray | None, weights: np.ndarray | None) -> np.ndarray:
        rows = self._rows(input_data)
        if self.needs_gradients:
            shifted, jacobian = self._gradient_rows(rows)
            values = self._run(np.concatenate((rows[None], shifted)))
            self._remember(input_data, jacobian(values[:, 1:]))
            values = values[:, 0]
        else:
            values = self._run(rows[None])[:, 0]
        n = input_data.shape[0]
        # (O, G * N) -> (N, G * O)
        return values.reshape(self.n_outputs, self.n_gates, n).transpose(2, 1, 0).reshape(n, -1)

    def _remember(self, input_data: np.ndarray, jacobian: np.ndarray) -> None:
        self._jacobians.setdefault(self._key(input_data), []).append(jacobian)
        while sum(j.nbytes for js in self._jacobians.values() for j in js) > self._cache_bytes:
            self._jacobians.popitem(last=False)

    def _backward(self, input_data: np.ndarray | None, weights: np.ndarray | None):
        key = self._key(input_data)
        cached = self._jacobians.get(key)
        jacobian = cached.pop() if cached else None  # the latest forward is differentiated first
        if cached is not None and not cached:
            del self._jacobians[key]
        if jacobian is None:
            shifted, to_jacobian = self._gradient_rows(self._rows(input_data))
            jacobian = to_jacobian(self._run(shifted))
        n, gates, outputs, params = input_data.shape[0], self.n_gates, self.n_outputs, self.n_params
        jacobian = jacobian.reshape(outputs, params, gates, n)
        grad = np.zeros((n, gates, outputs, gates, params))
        for g in range(gates):  # block diagonal: gate g's outputs depend on gate g's row only
            grad[:, g, :, g, :] = jacobian[:, :, g, :].transpose(2, 0, 1)
        return grad.reshape(n, gates * outputs, gates * params), None
