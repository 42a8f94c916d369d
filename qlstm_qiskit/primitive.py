"""Primitive backends: gate circuits evaluated by a Qiskit ``BaseEstimatorV2``.

A :class:`PrimitiveBackend` holds an estimator, an optional pass manager and a gradient method.
``compile`` transpiles the gate circuit once (cached per circuit), lays the observables out with the
transpiled layout and wraps a :class:`~qlstm_qiskit.network.BatchedGateNetwork` in a
``TorchConnector``; each time step is then one estimator call, its gradient rows included.

Built here: the ``aer`` profiles (:func:`aer_backend`), a user's ``BackendV2``
(:func:`from_backend`) and a user's estimator (:func:`from_estimator`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from qiskit.primitives import (BackendEstimatorV2, BaseEstimatorV2, PrimitiveJob,
                               PrimitiveResult, PubResult)
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.providers import BackendV2
from qiskit_machine_learning.connectors import TorchConnector

from .checks import import_optional
from .backends import QuantumBackend
from .circuits import GateCircuit
from .network import BatchedGateNetwork, check_shift_rule
from .profiles import Profile, check_applicable


class PrimitiveBackend(QuantumBackend):
    """Gate circuits on a Qiskit estimator, through ``TorchConnector``.

    Args:
        estimator: a ``BaseEstimatorV2``; gets one ``run`` call per time step.
        name: shown in ``repr``; computes: ``"exact"``, ``"sampled"``, ``"noisy"`` or
            ``"estimator"`` (whatever a user-supplied estimator computes).
        gradient: ``"param_shift"`` (exact for these circuits) or ``"spsa"``.
        pass_manager: transpiles each gate circuit once (``None``: circuits sent as built).
        spsa_samples, spsa_epsilon, seed: SPSA settings (``seed`` also fixes the SPSA directions).
        options: the options to show in ``repr``.
    """

    def __init__(self, estimator: BaseEstimatorV2, *, name: str, computes: str,
                 gradient: str = "param_shift", pass_manager=None, spsa_samples: int = 4,
                 spsa_epsilon: float = 0.1, seed: int | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.estimator = estimator
        self.name = name
        self.computes = computes
        self.gradient = gradient
        self.pass_manager = pass_manager
        self.spsa = {"spsa_samples": spsa_samples, "spsa_epsilon": spsa_epsilon, "seed": seed}
        self._options = dict(options or {}, gradient=gradient)
        self._executors: dict[GateCircuit, PrimitiveExecutor] = {}

    def compile(self, gate_circuit: GateCircuit) -> PrimitiveExecutor:
        if gate_circuit not in self._executors:
            self._executors[gate_circuit] = PrimitiveExecutor(self, gate_circuit)
        return self._executors[gate_circuit]

    def options(self) -> dict[str, Any]:
        return dict(self._options)


class PrimitiveExecutor:
    """One gate circuit compiled for a :class:`PrimitiveBackend` (see ``backends`` for the
    executor contract)."""

    def __init__(self, backend: PrimitiveBackend, gate_circuit: GateCircuit) -> None:
        circuit, observables = gate_circuit.circuit, gate_circuit.observables
        if backend.pass_manager is not None:
            circuit = backend.pass_manager.run(circuit)
            if circuit.layout is not None:
                observables = [o.apply_layout(circuit.layout) for o in observables]
        if backend.gradient == "param_shift":
            check_shift_rule(f"{backend.name} backend", circuit,
                             [*gate_circuit.inputs, *gate_circuit.weights])
        self.n_weights = len(gate_circuit.weights)
        self.network = BatchedGateNetwork(
            circuit, gate_circuit.inputs, gate_circuit.weights, observables, backend.estimator,
            n_gates=4, gradient=backend.gradient, **backend.spsa)
        self.connector = TorchConnector(self.network)

    def bind(self, weights: torch.Tensor) -> PrimitiveBound:
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(f"PrimitiveExecutor.bind: weights must have shape (G, "
                             f"{self.n_weights}), got {tuple(weights.shape)}")
        return PrimitiveBound(self, weights)


class PrimitiveBound:
    """Circuit weights bound for one sequence; :meth:`expectation` is one estimator call."""

    def __init__(self, executor: PrimitiveExecutor, weights: torch.Tensor) -> None:
        self.executor = executor
        self.weights = weights

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` circuit inputs -> ``(G, B, n_qubits)``, differentiable in the inputs
        and the bound weights, in the weights' dtype and device."""
        network = self.executor.network
        gates, batch, _ = inputs.shape
        if gates != network.n_gates:
            raise ValueError(f"PrimitiveBound.expectation: inputs must have {network.n_gates} "
                             f"gates in dimension 0, got shape {tuple(inputs.shape)}")
        weights = self.weights[:, None, :].expand(gates, batch, -1)
        rows = torch.cat((inputs, weights), dim=-1).transpose(0, 1).reshape(batch, -1)
        network.needs_gradients = torch.is_grad_enabled() and rows.requires_grad
        values = self.executor.connector(rows)  # (B, G * n_qubits), float32 on the CPU
        values = values.to(dtype=self.weights.dtype, device=self.weights.device)
        return values.reshape(batch, gates, -1).transpose(0, 1)


class CountingEstimator(BaseEstimatorV2):
    """Any ``BaseEstimatorV2``, counting its ``run`` calls (and the PUBs in them) in ``calls`` and
    ``pubs``: a check of what a workload would cost on hardware."""

    def __init__(self, estimator: BaseEstimatorV2) -> None:
        self.estimator = estimator
        self.calls = 0
        self.pubs = 0

    def run(self, pubs, *, precision: float | None = None):
        pubs = list(pubs)
        self.calls += 1
        self.pubs += len(pubs)
        return self.estimator.run(pubs, precision=precision)


class SamplingEstimator(BaseEstimatorV2):
    """An estimator of diagonal (I/Z) observables from Aer ``SamplerV2`` counts: real shot
    statistics, readout errors included, ``shots`` shots per parameter row. Aer binds the rows
    of a PUB at run time: measured 1.6 ms per row against 4.3 ms for ``BackendEstimatorV2``
    (which builds one circuit per row) at 4 qubits and 1024 shots. ``precision`` must be
    ``None``: the shot count is fixed."""

    def __init__(self, sampler, shots: int, seed: int | None = None) -> None:
        self.sampler = sampler
        self.shots = shots
        # one seed per run, drawn from a stream seeded by ``seed``: reproducible, yet every call
        # samples afresh (one fixed simulator seed would repeat the same shot noise every call)
        self._seeds = None if seed is None else np.random.default_rng(seed)
        self._measured: dict[int, tuple] = {}  # id(circuit) -> (circuit, circuit + measure_all)

    def _with_measurements(self, circuit):
        if id(circuit) not in self._measured:
            self._measured[id(circuit)] = (circuit, circuit.measure_all(inplace=False))
        return self._measured[id(circuit)][1]

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        if precision is not None:
            raise ValueError(f"SamplingEstimator: precision must be None (the shot count, "
                             f"{self.shots}, is fixed), got {precision}")
        pubs = [EstimatorPub.coerce(pub) for pub in pubs]
        for pub in pubs:
            if pub.precision is not None:
                raise ValueError("SamplingEstimator: PUB precision must be None, got "
                                 f"{pub.precision}")
        job = PrimitiveJob(self._run, pubs)
        job._submit()  # as qiskit's own primitives do
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult:
        if self._seeds is not None:
            self.sampler.options.run_options["seed_simulator"] = int(
                self._seeds.integers(2**31))
        sampled = self.sampler.run([(self._with_measurements(pub.circuit), pub.parameter_values)
                                    for pub in pubs], shots=self.shots).result()
        results = []
        for pub, counts in zip(pubs, sampled):
            evs = counts.data.meas.expectation_values(pub.observables)
            stds = np.full(evs.shape, 1 / math.sqrt(self.shots))
            results.append(PubResult(DataBin(evs=evs, stds=stds, shape=evs.shape),
                                     metadata={"shots": self.shots}))
        return PrimitiveResult(results, metadata={"version": 2})


def shots_precision(shots: int) -> float:
    """The precision for which ``BackendEstimatorV2`` samples exactly ``shots`` shots
    (it uses ``ceil(1 / precision**2)``; the factor keeps rounding from adding a shot)."""
    return (1 + 1e-12) / math.sqrt(shots)


class SeededBackendEstimator(BackendEstimatorV2):
    """``BackendEstimatorV2`` whose simulator seed is drawn afresh for every run from a stream
    seeded by ``seed``: reproducible, without repeating the same shot noise on every call."""

    def __init__(self, *, backend: BackendV2, seed: int, options: dict[str, Any]) -> None:
        super().__init__(backend=backend, options=options)
        self._seeds = np.random.default_rng(seed)

    def run(self, pubs, *, precision: float | None = None):
        self.options.seed_simulator = int(self._seeds.integers(2**31))
        return super().run(pubs, precision=precision)


def sampling_estimator(backend: BackendV2, shots: int, seed: int | None) -> BackendEstimatorV2:
    """``BackendEstimatorV2`` sampling ``shots`` shots per parameter row (real shot statistics)."""
    options: dict[str, Any] = {"default_precision": shots_precision(shots)}
    if seed is None:
        return BackendEstimatorV2(backend=backend, options=options)
    return SeededBackendEstimator(backend=backend, seed=seed, options=options)


def check_aer_device(name: str, device: str) -> None:
    """Fail clearly when Aer cannot simulate on ``device`` (never fall back to the CPU)."""
    from qiskit_aer import AerSimulator

    available = AerSimulator().available_devices()
    if device not in available:
        raise ValueError(f"get_backend: backend {name!r} asks for Aer device {device!r}, but this "
                         f"Aer build offers {', '.join(available)}; for GPUs install the GPU build:"
                         " pip install qiskit-aer-gpu")


def aer_backend(profile: Profile) -> PrimitiveBackend:
    """The backend of an ``aer`` profile: Aer ``EstimatorV2`` (precision 0) without shots, else a
    :class:`SamplingEstimator` on Aer ``SamplerV2``; noise and basis gates from the profile."""
    from qiskit.transpiler import generate_preset_pass_manager

    import_optional(f"backend {profile.name!r}", "qiskit_aer", "pip install qiskit-aer")
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    from .noise import noise_model

    opts = profile.options
    model = noise_model(profile.noise, opts["basis_gates"])
    pass_manager = None
    if opts["basis_gates"] is not None:
        pass_manager = generate_preset_pass_manager(
            optimization_level=opts["optimization_level"], basis_gates=list(opts["basis_gates"]))
    # runtime parameter binding: Aer binds the rows of a PUB inside one experiment instead of
    # building one experiment per row (same values, about 2x faster for these circuits)
    backend_options: dict[str, Any] = {"method": opts["method"],
                                       "runtime_parameter_bind_enable": True}
    if opts["device"] != "CPU":
        check_aer_device(profile.name, opts["device"])
        backend_options["device"] = opts["device"]
    if model is not None:
        backend_options["noise_model"] = model
    if opts["shots"] is None:
        estimator = EstimatorV2(options={"default_precision": 0.0,
                                         "backend_options": backend_options})
    else:
        sampler = SamplerV2(options={"backend_options": backend_options, "run_options": {}})
        estimator = SamplingEstimator(sampler, opts["shots"], seed=opts["seed"])
    shown = {k: v for k, v in opts.items()
             if v is not None and (profile.gradient == "spsa" or not k.startswith("spsa"))
             and not (k == "optimization_level" and pass_manager is None)}
    return PrimitiveBackend(estimator, name=profile.name, computes=profile.computes,
                            gradient=profile.gradient, pass_manager=pass_manager,
                            spsa_samples=opts["spsa_samples"], spsa_epsilon=opts["spsa_epsilon"],
                            seed=opts["seed"], options=shown)


#: options accepted with a user's object, with their defaults.
BACKEND_OPTIONS = {"gradient": "param_shift", "shots": 1024, "seed": None,
                   "optimization_level": 1, "spsa_samples": 4, "spsa_epsilon": 0.1}
ESTIMATOR_OPTIONS = {"gradient": "param_shift", "seed": None, "spsa_samples": 4,
                     "spsa_epsilon": 0.1}


def _object_options(owner: str, what: str, options: dict[str, Any], allowed: dict[str, Any]):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{owner}: option(s) {', '.join(map(repr, unknown))} do not apply to a "
                         f"{what}; valid options: {', '.join(allowed)}")
    merged = {**allowed, **options}
    check_applicable(owner, options, merged["gradient"], merged.get("shots"))
    profile = Profile(what, "", "aer", merged["gradient"],
                      {"method": "statevector", "device": "CPU", "shots": merged.get("shots"),
                       "seed": merged["seed"], "basis_gates": None,
                       "optimization_level": merged.get("optimization_level", 1),
                       "spsa_samples": merged["spsa_samples"],
                       "spsa_epsilon": merged["spsa_epsilon"]})
    profile.validate(owner)  # same checks as profile options
    return merged


def backend_computes(backend: BackendV2) -> str:
    """"noisy" for a backend with a noise model or gate/readout error rates in its target,
    else "sampled" (a ``BackendV2`` is sampled with shots)."""
    options = getattr(backend, "options", None)
    if getattr(options, "noise_model", None) is not None:
        return "noisy"
    target = getattr(backend, "target", None)
    if target is not None:
        for name in target.operation_names:
            for properties in (target[name] or {}).values():
                if properties is not None and properties.error:
                    return "noisy"
    return "sampled"


def from_backend(owner: str, backend: BackendV2, options: dict[str, Any]) -> PrimitiveBackend:
    """A user's ``BackendV2``: circuits transpiled to its target once (preset pass manager,
    ``optimization_level``), observables laid out, sampled by ``BackendEstimatorV2`` with
    ``shots`` shots per row (also for an ``AerSimulator``; exact Aer: ``aer_statevector``)."""
    from qiskit.transpiler import generate_preset_pass_manager

    opts = _object_options(owner, "BackendV2", options, BACKEND_OPTIONS)
    pass_manager = generate_preset_pass_manager(optimization_level=opts["optimization_level"],
                                                backend=backend)
    return PrimitiveBackend(sampling_estimator(backend, opts["shots"], opts["seed"]),
                            name=backend.name, computes=backend_computes(backend),
                            gradient=opts["gradient"],
                            pass_manager=pass_manager, spsa_samples=opts["spsa_samples"],
                            spsa_epsilon=opts["spsa_epsilon"], seed=opts["seed"],
                            options={k: v for k, v in opts.items() if v is not None})


def from_estimator(owner: str, estimator: BaseEstimatorV2,
                   options: dict[str, Any]) -> PrimitiveBackend:
    """A user's estimator, used as it is: circuits sent as built (not transpiled), precision left
    to the estimator's default. For an estimator that needs ISA circuits pass its backend."""
    opts = _object_options(owner, "BaseEstimatorV2", options, ESTIMATOR_OPTIONS)
    return PrimitiveBackend(estimator, name=type(estimator).__name__, computes="estimator",
                            gradient=opts["gradient"], spsa_samples=opts["spsa_samples"],
                            spsa_epsilon=opts["spsa_epsilon"], seed=opts["seed"],
                            options={k: v for k, v in opts.items() if v is not None})

