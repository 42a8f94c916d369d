"""The ``density_matrix`` backend: exact noisy values in torch, differentiable by autograd.

It executes the circuit that the noisy backend would execute and applies the errors that backend's
Aer ``NoiseModel`` attaches, with :mod:`qlstm_qiskit.sim.density`. Where the noise comes from
(option ``noise_from``):

- ``None``: the profile's own ``[noise]`` table (the keys of the ``aer`` profiles), on its
  ``basis_gates``;
- a profile name (``"aer_noisy"``): that profile's ``[noise]`` table, ``basis_gates`` and
  ``optimization_level``;
- a fake device name (``"fake_manila"``): the noise model the ``fake_<device>`` backend samples
  (:func:`~qlstm_qiskit.backends.device_noise.device_noise_model`, from the device's
  calibration properties, asymmetric readout included), on the same seeded ISA circuit as that
  backend (:mod:`.transpile`), simulating only the qubits the circuit touches;
- a ``qiskit_aer.noise.NoiseModel``: its errors, on its basis gates.

``noise_scale=k`` scales every error rate: a ``[noise]`` table is scaled as a table
(probabilities × k, T1 and T2 ÷ k); a device's or a user's model channel by channel,
``E -> I + k (E - I)`` (exact for Pauli and depolarizing errors, first order in the rates for
relaxation), readout assignment matrices likewise. ``noise_scale=0`` is noiseless.

With ``shots``, forward values are sampled (``shots`` outcomes per row, jointly over the qubits,
readout errors included) from the exact noisy outcome distribution, reproducibly from ``seed``;
gradients are those of the exact noisy expectation: an unbiased sampled value with an
exact-expectation gradient.

Mitigation (``mitigate``, :mod:`.mitigation`), exact and differentiable by autograd:

- ``"readout"`` inverts the backend's own assignment matrices (no calibration: they are known
  exactly), per observable ``c Z_q`` as the primitive backends do with calibrated ones; exact
  values then equal those of the same noise without readout errors;
- ``"zne"`` runs the ISA circuit with its two-qubit gates folded at each scale, the same folded
  circuits the primitive backends send (:func:`~.mitigation.fold_two_qubit_gates`), each with
  its noise (one program per scale), and extrapolates; so its values are the exact expectation
  of what ``aer_noisy``, ``aer_noisy_exact`` or ``fake_<device>`` estimate with ZNE. Scaling the
  noise with ``noise_scale`` instead would amplify every error (one-qubit gates, relaxation,
  readout), which is not what folding on a device does.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import torch
from qiskit.transpiler import generate_preset_pass_manager

from ..sim.density import DensityBound, DensityProgram
from ..sim.program import parse_program
from .base import CircuitTemplate, QuantumBackend
from .device_noise import device_noise_model
from .mitigation import (
    MITIGATION_OPTIONS,
    ReadoutCorrection,
    fold_two_qubit_gates,
    mitigation_of,
    readout_terms,
)
from .noise import noise_model, scaled_noise
from .noise_channels import (
    CompactCircuit,
    compact,
    instruction_channels,
    readout_assignments,
)
from .profile_files import load_profiles
from .profiles import Profile
from .transpile import cached_device, cached_pass_manager


class DensityMatrixBackend(QuantumBackend):
    """Batched density matrices in torch with a Qiskit Aer noise model (see the module docstring).

    Args:
        profile: a validated ``density`` profile (its options and ``[noise]`` table).
        profile_dir: where user profiles named by ``noise_from`` are searched (as
            :func:`qlstm_qiskit.get_backend`'s ``profile_dir``).
    """

    def __init__(self, profile: Profile, profile_dir=None) -> None:
        self.name = profile.name
        self.computes = profile.computes
        opts = profile.options
        own_table = opts["noise_from"] is None  # basis_gates are the own table's
        self.mitigation = mitigation_of(opts)
        self._options = {
            k: v
            for k, v in opts.items()
            if v is not None and (own_table or k != "basis_gates") and k not in MITIGATION_OPTIONS
        }
        self._options |= self.mitigation.shown() if self.mitigation else {}
        self.shots, self.scale = opts["shots"], float(opts["noise_scale"])
        self.model, self.pass_manager, self._channel_scale = _noise_source(
            f"backend {profile.name!r}", profile, profile_dir
        )
        # one seed per call, drawn from a stream seeded by ``seed`` (a fixed seed would repeat
        # the same shot noise on every call)
        self._rng = np.random.default_rng(opts["seed"])
        self._executors: dict[CircuitTemplate, DensityExecutor] = {}

    def compile(self, template: CircuitTemplate) -> DensityExecutor:
        if template not in self._executors:
            self._executors[template] = DensityExecutor(self, template)
        return self._executors[template]

    def options(self) -> dict[str, Any]:
        shown = dict(self._options)
        if not isinstance(shown.get("noise_from", ""), str):
            shown["noise_from"] = type(shown["noise_from"]).__name__
        return shown

    def sample(self, probabilities: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        """Expectation values from ``shots`` outcomes per row drawn from ``probabilities``
        ``(..., D)``: ``(..., n_obs)``, not differentiable."""
        p = probabilities.detach().double().clamp_min(0).cpu().numpy()
        p = p / p.sum(-1, keepdims=True)
        counts = self._rng.multinomial(self.shots, p.reshape(-1, p.shape[-1]))
        frequencies = torch.as_tensor(counts.reshape(p.shape) / self.shots)
        return frequencies.to(signs) @ signs


class DensityExecutor:
    """One gate circuit compiled for a :class:`DensityMatrixBackend`: transpiled once (to the
    noise model's basis gates, or the device's ISA), compacted to the qubits it touches, its
    noise converted once into superoperators; with ZNE, one such program per scale factor
    (``programs``; ``program`` is the first)."""

    def __init__(self, backend: DensityMatrixBackend, template: CircuitTemplate) -> None:
        self.backend = backend
        circuit, observables = template.circuit, list(template.observables)
        if backend.pass_manager is not None:
            circuit = backend.pass_manager.run(circuit)
            if circuit.layout is not None:
                observables = [o.apply_layout(circuit.layout) for o in observables]
        mitigation = backend.mitigation
        scales = mitigation.scales if mitigation is not None and mitigation.scales else (1,)
        basis = None if backend.model is None else backend.model.basis_gates
        compiled = [
            self._program(fold_two_qubit_gates(circuit, s, basis), observables, template)
            for s in scales
        ]
        self.compact = compiled[0][0]
        self.programs = [program for _, program in compiled]
        self.program = self.programs[0]
        self.n_weights = self.program.program.n_weights
        self.correction = None
        if mitigation is not None and mitigation.readout:
            self.correction = _readout_correction(self.program, self.compact.observables)

    def _program(self, circuit, observables, template) -> tuple[CompactCircuit, DensityProgram]:
        small = compact(circuit, observables)
        scale = self.backend._channel_scale
        if self.backend.model is None:
            channels = [None] * len(small.circuit.data)
            readout = [None] * small.circuit.num_qubits
        else:
            channels = instruction_channels(self.backend.model, small, scale)
            readout = readout_assignments(self.backend.model, small, scale)
        program = parse_program(
            small.circuit, template.inputs, template.weights, small.observables, affine=True
        )
        return small, DensityProgram(program, channels, readout)

    def bind(self, weights: torch.Tensor) -> DensityBound | SampledBound | MitigatedBound:
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(
                f"DensityExecutor.bind: weights must have shape (G, {self.n_weights}), got "
                f"{tuple(weights.shape)}"
            )
        bounds = [program.bind(weights) for program in self.programs]
        if self.backend.shots is not None:
            bounds = [SampledBound(bound, self.backend) for bound in bounds]
        if self.backend.mitigation is None:
            return bounds[0]
        return MitigatedBound(bounds, self.backend.mitigation.coefficients, self.correction)


class MitigatedBound:
    """The bound programs of every ZNE scale (one without ZNE): each one's values, readout
    corrected with ``correction`` (if any), extrapolated with ``coefficients``."""

    def __init__(self, bounds: list, coefficients: np.ndarray, correction) -> None:
        self.bounds, self.coefficients, self.correction = bounds, coefficients, correction

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(G, B, n_inputs)`` -> mitigated values ``(G, B, n_obs)``, differentiable."""
        total = 0
        for weight, bound in zip(self.coefficients, self.bounds, strict=True):
            values = bound.expectation(inputs)
            if self.correction is not None:
                values = self.correction.apply(values, axis=-1)
            total = total + float(weight) * values
        return total


def _readout_correction(program: DensityProgram, observables) -> ReadoutCorrection:
    """The exact :class:`ReadoutCorrection` of the program's assignment matrices."""
    coefficients, qubits = readout_terms(observables, "density_matrix backend")
    identity = np.eye(2)
    matrices = [identity if program.readout[q] is None else program.readout[q] for q in qubits]
    zero = coefficients * np.array([a[0, 0] - a[1, 0] for a in matrices])  # <Z> of |0>
    one = coefficients * np.array([a[0, 1] - a[1, 1] for a in matrices])  # <Z> of |1>
    return ReadoutCorrection(zero, one, coefficients)


class SampledBound:
    """A :class:`~qlstm_qiskit.sim.density.DensityBound` whose values are sampled with
    ``shots`` shots and whose gradients are those of the exact values."""

    def __init__(self, bound: DensityBound, backend: DensityMatrixBackend) -> None:
        self.bound, self.backend = bound, backend

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        probabilities, exact = self.bound.probabilities_and_values(inputs)
        sampled = self.backend.sample(probabilities, self.bound.signs)
        return exact + (sampled - exact).detach()


def density_backend(profile: Profile, profile_dir=None) -> DensityMatrixBackend:
    """The backend of a ``density`` profile (options already validated)."""
    return DensityMatrixBackend(profile, profile_dir)


# -- where the noise comes from ---------------------------------------------------------------
def _noise_source(owner: str, profile: Profile, profile_dir):
    """``(NoiseModel or None, pass manager or None, channel scale)`` of a density profile."""
    opts = profile.options
    source, scale = opts["noise_from"], float(opts["noise_scale"])
    level = opts["optimization_level"]
    if isinstance(source, str) and source.startswith("fake_"):
        device = cached_device("fake", source)
        return _device_noise_model(source), cached_pass_manager(device, level), scale
    if source is None or isinstance(source, str):
        if isinstance(source, str):
            profile = _noise_profile(owner, source, profile_dir)
            level = profile.options["optimization_level"]
        basis = profile.options["basis_gates"]
        table = scaled_noise(profile.noise, scale) if scale > 0 else {}
        return noise_model(table, basis), _basis_pass_manager(basis, level), 1.0
    basis = [g for g in source.basis_gates if g not in ("delay", "reset", "measure")]
    return source, _basis_pass_manager(basis, level), scale


def _noise_profile(owner: str, name: str, profile_dir) -> Profile:
    """The profile named by ``noise_from``: an ``aer`` or ``density`` profile with noise."""
    profiles, broken = load_profiles(profile_dir)
    if name in broken:
        raise ValueError(f"{owner}: noise_from={name!r} names a broken profile: {broken[name]}")
    noisy = {
        n: p for n, p in profiles.items() if p.kind in ("aer", "density") and any(p.noise.values())
    }
    if name not in noisy:
        raise ValueError(
            f"{owner}: noise_from must be a profile with a [noise] table (one of "
            f"{', '.join(sorted(noisy))}), a fake device name (fake_<device>) or a qiskit_aer "
            f"NoiseModel, got {name!r}"
        )
    return noisy[name]


def _basis_pass_manager(basis, level: int):
    """Transpiles to ``basis`` (the noise model attaches errors to these names); ``None``
    without basis gates (the circuit runs as built)."""
    if not basis:
        return None
    return generate_preset_pass_manager(optimization_level=level, basis_gates=list(basis))


@cache
def _device_noise_model(name: str):
    return device_noise_model(cached_device("fake", name))
