"""Primitive backends: gate circuits evaluated by a Qiskit ``BaseEstimatorV2``.

A :class:`PrimitiveBackend` holds an estimator, an optional pass manager and a gradient method.
``compile`` transpiles the gate circuit once (cached per circuit), lays the observables out with the
transpiled layout and wraps a :class:`~qlstm_qiskit.backends.network.BatchedGateNetwork` in a
``TorchConnector``; each time step is then one estimator call, its gradient rows included (two
with ``cell="chen"``: its maps VQC5 and VQC6 read ``c_t``, so they are a second call, the same
circuit with two weight sets).

The ``aer`` profiles (:mod:`.aer`), a user's ``BackendV2`` or estimator (:mod:`.user_objects`)
and the devices (:mod:`.devices`) are all primitive backends.
"""

from __future__ import annotations

from typing import Any

import torch
from qiskit.primitives import BaseEstimatorV2
from qiskit_machine_learning.connectors import TorchConnector

from .base import CircuitTemplate, QuantumBackend
from .mitigation import MITIGATION_OPTIONS, Mitigation, MitigationPlan
from .network import BatchedGateNetwork, check_shift_rule


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
        mitigation: error mitigation (:mod:`.mitigation`; ``None``: none), shown among them.
        basis_gates: the gate names the estimator runs (``None``: any); ZNE folds and readout
            calibration prepares with these.
    """

    def __init__(
        self,
        estimator: BaseEstimatorV2,
        *,
        name: str,
        computes: str,
        gradient: str = "param_shift",
        pass_manager=None,
        spsa_samples: int = 4,
        spsa_epsilon: float = 0.1,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
        mitigation: Mitigation | None = None,
        basis_gates=None,
    ) -> None:
        self.estimator = estimator
        self.name = name
        self.computes = computes
        self.gradient = gradient
        self.pass_manager = pass_manager
        self.spsa = {"spsa_samples": spsa_samples, "spsa_epsilon": spsa_epsilon, "seed": seed}
        self.mitigation = mitigation
        self.basis_gates = None if basis_gates is None else frozenset(basis_gates)
        self._options = {k: v for k, v in (options or {}).items() if k not in MITIGATION_OPTIONS}
        self._options |= {"gradient": gradient} | (mitigation.shown() if mitigation else {})
        self._executors: dict[CircuitTemplate, PrimitiveExecutor] = {}

    def compile(self, template: CircuitTemplate) -> PrimitiveExecutor:
        if template not in self._executors:
            self._executors[template] = PrimitiveExecutor(self, template)
        return self._executors[template]

    def options(self) -> dict[str, Any]:
        return dict(self._options)


class PrimitiveExecutor:
    """One gate circuit compiled for a :class:`PrimitiveBackend` (see :mod:`.base` for the
    executor contract): transpiled once, observables laid out, wrapped in ``TorchConnector``."""

    def __init__(self, backend: PrimitiveBackend, template: CircuitTemplate) -> None:
        circuit, observables = template.circuit, template.observables
        if backend.pass_manager is not None:
            circuit = backend.pass_manager.run(circuit)
            if circuit.layout is not None:
                observables = [o.apply_layout(circuit.layout) for o in observables]
        if backend.gradient == "param_shift":
            check_shift_rule(
                f"{backend.name} backend", circuit, [*template.inputs, *template.weights]
            )
        self.n_weights = len(template.weights)
        self._parts = (circuit, template.inputs, template.weights, observables)
        self._mitigation_plan = None
        if backend.mitigation is not None:
            self._mitigation_plan = MitigationPlan(
                backend.mitigation,
                circuit,
                BatchedGateNetwork.observable_array(observables),
                backend.basis_gates,
            )
        self._backend = backend
        self._connectors: dict[int, TorchConnector] = {}
        #: the four LSTM gates' network (:meth:`connector` builds others on demand)
        self.network = self.connector(4).neural_network

    def connector(self, n_gates: int) -> TorchConnector:
        """The ``TorchConnector`` around the :class:`BatchedGateNetwork` of ``n_gates`` weight
        sets (4 for the LSTM gates, 2 for the chen cell's maps), built once."""
        if n_gates not in self._connectors:
            circuit, inputs, weights, observables = self._parts
            network = BatchedGateNetwork(
                circuit,
                inputs,
                weights,
                observables,
                self._backend.estimator,
                n_gates=n_gates,
                gradient=self._backend.gradient,
                mitigation=self._mitigation_plan,
                **self._backend.spsa,
            )
            self._connectors[n_gates] = TorchConnector(network)
        return self._connectors[n_gates]

    def bind(self, weights: torch.Tensor) -> PrimitiveBound:
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(
                f"PrimitiveExecutor.bind: weights must have shape (G, "
                f"{self.n_weights}), got {tuple(weights.shape)}"
            )
        return PrimitiveBound(self, weights)


class PrimitiveBound:
    """Circuit weights bound for one sequence; :meth:`expectation` is one estimator call."""

    def __init__(self, executor: PrimitiveExecutor, weights: torch.Tensor) -> None:
        self.executor = executor
        self.weights = weights

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` circuit inputs -> ``(G, B, n_qubits)``, differentiable in the inputs
        and the bound weights, in the weights' dtype and device; ``G`` is the number of bound
        weight sets (4 gates; 2 for the chen cell's maps)."""
        gates, batch, _ = inputs.shape
        if gates != self.weights.shape[0]:
            raise ValueError(
                f"PrimitiveBound.expectation: inputs must have {self.weights.shape[0]} "
                f"gates in dimension 0 (one per bound weight set), got shape {tuple(inputs.shape)}"
            )
        connector = self.executor.connector(gates)
        weights = self.weights[:, None, :].expand(gates, batch, -1)
        rows = torch.cat((inputs, weights), dim=-1).transpose(0, 1).reshape(batch, -1)
        connector.neural_network.needs_gradients = torch.is_grad_enabled() and rows.requires_grad
        values = connector(rows)  # (B, G * n_qubits), float32 on the CPU
        values = values.to(dtype=self.weights.dtype, device=self.weights.device)
        return values.reshape(batch, gates, -1).transpose(0, 1)
