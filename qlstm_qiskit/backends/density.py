"""The ``density_matrix`` backend: exact noisy values in torch, differentiable by autograd.

It executes the circuit that the noisy backend would execute and applies the errors that backend's
Aer ``NoiseModel`` attaches, with :mod:`qlstm_qiskit.sim.density`. Where the noise comes from
(option ``noise_from``):

- ``None``: the profile's own ``[noise]`` table (the keys of the ``aer`` profiles), on its
  ``basis_gates``;
- a profile name (``"aer_noisy"``): that profile's ``[noise]`` table, ``basis_gates`` and
  ``optimization_level``;
- a fake device name (``"fake_manila"``): the noise model the ``fake_<device>`` backend samples
  (:func:`~qlstm_qiskit.backends.noise_channels.device_noise_model`, from the device's
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
from .noise import noise_model, scaled_noise
from .noise_channels import (
    compact,
    device_noise_model,
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
        self._options = {
            k: v for k, v in opts.items() if v is not None and (own_table or k != "basis_gates")
        }
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
    noise converted once into superoperators."""

    def __init__(self, backend: DensityMatrixBackend, template: CircuitTemplate) -> None:
        self.backend = backend
        circuit, observables = template.circuit, list(template.observables)
        if backend.pass_manager is not None:
            circuit = backend.pass_manager.run(circuit)
            if circuit.layout is not None:
                observables = [o.apply_layout(circuit.layout) for o in observables]
        self.compact = compact(circuit, observables)
        scale = backend._channel_scale
        if backend.model is None:
            channels = [None] * len(self.compact.circuit.data)
            readout = [None] * self.compact.circuit.num_qubits
        else:
            channels = instruction_channels(backend.model, self.compact, scale)
            readout = readout_assignments(backend.model, self.compact, scale)
        program = parse_program(
            self.compact.circuit,
            template.inputs,
            template.weights,
            self.compact.observables,
            affine=True,
        )
        self.n_weights = program.n_weights
        self.program = DensityProgram(program, channels, readout)

    def bind(self, weights: torch.Tensor) -> DensityBound | SampledBound:
        if weights.dim() != 2 or weights.shape[1] != self.n_weights:
            raise ValueError(
                f"DensityExecutor.bind: weights must have shape (G, {self.n_weights}), got "
                f"{tuple(weights.shape)}"
            )
        bound = self.program.bind(weights)
        return bound if self.backend.shots is None else SampledBound(bound, self.backend)


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
