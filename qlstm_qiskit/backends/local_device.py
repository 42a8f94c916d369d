"""Fake devices simulated on their active qubits only.

A ``fake_<device>`` backend's ISA circuits live on every qubit of the device (127 on
FakeBrisbane) but touch a handful. :class:`ActiveQubitEstimator` never simulates the others,
whatever qiskit-ibm-runtime's local testing mode does (its executor-based primitives ask Aer for
the whole device): for each estimator call it

1. takes the qubits the call's circuits act on or measure (an instruction other than a barrier,
   or a non-identity Pauli of an observable), the union over its PUBs;
2. renumbers each circuit and observable onto those qubits
   (:func:`~qlstm_qiskit.backends.noise_channels.compact`);
3. restricts the device's noise model to those qubits (:func:`restricted_noise_model`: the
   model built from the calibration properties of the kept qubits and of the gates among them,
   relaxation on ``delay`` instructions included);
4. samples ``shots`` per circuit with qiskit's ``BackendEstimatorV2`` on an
   :class:`ActiveQubitSimulator` with that noise model, which refuses any circuit wider than those
   qubits; seeded by the job.

The device's noise model is the one its own simulator uses
(:func:`~qlstm_qiskit.backends.device_noise.device_noise_model`: gate errors, thermal
relaxation and asymmetric readout from the device's calibration properties), and the sampling is
``BackendEstimatorV2``'s, as in the runtime's legacy local mode: with the same seed, the values are
the same as the legacy runtime ``EstimatorV2`` on the whole device (tested).

Not simulated (as in every runtime local mode): resilience (TREX, ZNE), twirling, dynamical
decoupling, ``max_execution_time`` and the execution mode; :func:`unsimulated_options` names those
that are set, so that the backend can say so. The client-side mitigation of ``mitigate=``
(:mod:`~qlstm_qiskit.backends.mitigation`) is made of circuits, and runs here as on hardware.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qiskit.primitives import BackendEstimatorV2, BaseEstimatorV2, PrimitiveJob, PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel

from .device_noise import device_noise_model
from .estimators import shots_precision
from .noise_channels import active_qubits, compact

__all__ = [
    "ActiveQubitEstimator",
    "ActiveQubitSimulator",
    "restricted_noise_model",
    "restricted_properties",
    "unsimulated_options",
]

#: device options that local simulation cannot honour (they still price the cost preview), with
#: the values that ask for nothing
UNSIMULATED = {
    "resilience_level": (None, 0),
    "twirling": (None, False),
    "dynamical_decoupling": (None, False),
    "max_execution_time": (None,),
    "execution": ("job",),
}


def unsimulated_options(opts: dict[str, Any]) -> list[str]:
    """The options set in ``opts`` that a fake device does not simulate (a ``Batch`` or
    ``Session`` groups jobs on hardware; locally every job runs at once)."""
    return [k for k, unset in UNSIMULATED.items() if opts.get(k) not in unset]


def restricted_properties(properties, physical: Sequence[int]):
    """Calibration ``properties`` (a ``BackendProperties``) of the qubits ``physical`` only,
    renumbered ``0..len(physical)-1`` in that order: their qubit entries, and every gate entry
    whose qubits are all kept (renumbered); the same class, rebuilt with ``from_dict``."""
    position = {int(q): i for i, q in enumerate(physical)}
    table = properties.to_dict()
    table["qubits"] = [table["qubits"][q] for q in physical]
    table["gates"] = [
        {**gate, "qubits": [position[q] for q in gate["qubits"]]}
        for gate in table["gates"]
        if set(gate["qubits"]) <= position.keys()
    ]
    return type(properties).from_dict(table)


def restricted_noise_model(device, physical: Sequence[int]) -> NoiseModel:
    """The noise model of ``device`` on the qubits ``physical`` only (renumbered in that order):
    :func:`~qlstm_qiskit.backends.device_noise.device_noise_model` of the device's calibration
    properties restricted to them (:func:`restricted_properties`): the same errors, built by the
    same ``NoiseModel.from_backend_properties``, as the whole device's model has on those qubits."""
    return device_noise_model(device, restricted_properties(device.properties(), physical))


class ActiveQubitSimulator(AerSimulator):
    """An ``AerSimulator`` that refuses any circuit wider than ``width`` qubits (the active
    qubits of the estimator call it serves): a circuit that still carries the device's idle
    qubits is an error here, never a silent simulation of them. ``widths`` records the width of
    every circuit it ran."""

    def __init__(self, width: int, **options: Any) -> None:
        super().__init__(**options)
        self.width = width
        self.widths: list[int] = []

    def run(self, run_input, *args, **kwargs):
        circuits = run_input if isinstance(run_input, (list, tuple)) else [run_input]
        for circuit in circuits:
            if circuit.num_qubits > self.width:
                raise RuntimeError(
                    f"ActiveQubitSimulator: circuit {circuit.name!r} has {circuit.num_qubits} "
                    f"qubits, more than the {self.width} active qubits this simulator runs"
                )
        self.widths.extend(c.num_qubits for c in circuits)
        return super().run(run_input, *args, **kwargs)


class ActiveQubitEstimator(BaseEstimatorV2):
    """The estimator of a ``fake_<device>`` backend (see the module docstring).

    Args:
        device: the fake device (a ``BackendV2`` with calibration properties).
        shots: shots per circuit (every PUB; PUB precisions must be ``None``).

    Attributes:
        seed_simulator: the seed of the next :meth:`run` (``None``: unseeded); the ledger sets one
            per job.
        simulated_qubits: the device qubits the last :meth:`run` simulated (also in each
            ``PubResult.metadata["simulated_qubits"]``).
    """

    def __init__(self, device, shots: int) -> None:
        self.device = device
        self.shots = shots
        self.seed_simulator: int | None = None
        self.simulated_qubits: tuple[int, ...] = ()
        self._simulators: dict[tuple[int, ...], ActiveQubitSimulator] = {}

    def simulator(self, physical: tuple[int, ...]) -> ActiveQubitSimulator:
        """The simulator of the device restricted to the qubits ``physical`` (cached)."""
        if physical not in self._simulators:
            self._simulators[physical] = ActiveQubitSimulator(
                len(physical), noise_model=restricted_noise_model(self.device, physical)
            )
        return self._simulators[physical]

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        if precision is not None:
            raise ValueError(
                f"ActiveQubitEstimator: precision must be None (it samples shots={self.shots} "
                f"per circuit), got {precision}"
            )
        coerced = [EstimatorPub.coerce(pub) for pub in pubs]
        for pub in coerced:
            if pub.precision is not None:
                raise ValueError(
                    "ActiveQubitEstimator: PUB precision must be None (it samples "
                    f"shots={self.shots} per circuit)"
                )
        job = PrimitiveJob(self._run, coerced, self.seed_simulator)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub], seed: int | None) -> PrimitiveResult:
        observables = [_sparse_observables(pub) for pub in pubs]
        physical = tuple(
            sorted(
                set().union(
                    *(active_qubits(p.circuit, o) for p, o in zip(pubs, observables, strict=True))
                )
            )
        )
        small = [
            _restricted_pub(pub, o, physical) for pub, o in zip(pubs, observables, strict=True)
        ]
        options: dict[str, Any] = {"default_precision": shots_precision(self.shots)}
        if seed is not None:
            options["seed_simulator"] = seed
        estimator = BackendEstimatorV2(backend=self.simulator(physical), options=options)
        result = estimator.run(small).result()
        self.simulated_qubits = physical
        for pub_result in result:
            pub_result.metadata["simulated_qubits"] = list(physical)
        return result


def _sparse_observables(pub: EstimatorPub) -> list[SparsePauliOp]:
    """The observables of ``pub``, flattened, as ``SparsePauliOp``."""
    return [SparsePauliOp.from_list(list(o.items())) for o in pub.observables.ravel()]


def _restricted_pub(
    pub: EstimatorPub, observables: list[SparsePauliOp], physical: tuple[int, ...]
) -> EstimatorPub:
    """``pub`` on the qubits ``physical`` (the circuit renumbered, its flattened
    ``observables`` restricted, the same parameter values: the circuit keeps its ``Parameter``
    objects)."""
    small = compact(pub.circuit, observables, keep=physical)
    restricted = ObservablesArray(small.observables).reshape(pub.observables.shape)
    return EstimatorPub(small.circuit, restricted, pub.parameter_values, validate=True)
