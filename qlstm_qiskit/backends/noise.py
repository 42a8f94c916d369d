"""Aer noise models from a profile's ``[noise]`` table (keys: ``profiles.NOISE_KEYS``).

Gate errors attach to basis-gate names, so circuits must be transpiled to the same ``basis_gates``
(the primitive backend does it); a gate name missing from the basis would silently stay noiseless,
hence the check below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error, thermal_relaxation_error

#: basis gates that are 1-qubit / 2-qubit gates Aer can attach errors to; virtual rz is noiseless.
ONE_QUBIT = (
    "sx",
    "x",
    "h",
    "rx",
    "ry",
    "u",
    "u1",
    "u2",
    "u3",
    "p",
    "s",
    "sdg",
    "t",
    "tdg",
    "y",
    "z",
)
TWO_QUBIT = ("cx", "cz", "ecr", "swap", "iswap", "rzz")
VIRTUAL = ("rz", "delay", "id", "reset", "measure")
#: noise keys that are probabilities (multiplied by a noise scale, capped at 1) and times that
#: shrink (divided by it); the gate times stay.
PROBABILITY_KEYS = ("depolarizing_1q", "depolarizing_2q", "readout_p01", "readout_p10")
COHERENCE_KEYS = ("t1_ns", "t2_ns")


def noise_model(noise: Mapping[str, float], basis_gates: Sequence[str] | None) -> NoiseModel | None:
    """The Aer noise model of a ``[noise]`` table; ``None`` if the table declares no error."""
    if not any(noise.values()):
        return None
    basis = list(basis_gates or [])
    known = ONE_QUBIT + TWO_QUBIT + VIRTUAL
    unknown = [g for g in basis if g not in known]
    if unknown:
        raise ValueError(
            f"noise_model: basis_gates must be among {', '.join(known)}, got {', '.join(unknown)}"
        )
    model = NoiseModel(basis_gates=basis or None)
    for gates, arity, dep_key, time_key in (
        ([g for g in basis if g in ONE_QUBIT], 1, "depolarizing_1q", "time_1q_ns"),
        ([g for g in basis if g in TWO_QUBIT], 2, "depolarizing_2q", "time_2q_ns"),
    ):
        error = None
        if noise.get(dep_key):
            error = depolarizing_error(noise[dep_key], arity)
        if noise.get("t1_ns") and noise.get(time_key):
            relax = thermal_relaxation_error(noise["t1_ns"], noise["t2_ns"], noise[time_key])
            if arity == 2:
                relax = relax.expand(relax)
            error = relax if error is None else error.compose(relax)
        if error is not None and gates:
            model.add_all_qubit_quantum_error(error, gates)
    p01, p10 = noise.get("readout_p01", 0.0), noise.get("readout_p10", 0.0)
    if p01 or p10:
        model.add_all_qubit_readout_error(ReadoutError([[1 - p01, p01], [p10, 1 - p10]]))
    return model


def scaled_noise(noise: Mapping[str, float], scale: float) -> dict[str, float]:
    """A ``[noise]`` table with every error rate scaled by ``scale`` (> 0): probabilities × scale,
    capped at 1 (the profiles' valid range), T1 and T2 (ns) ÷ scale; gate times unchanged."""
    if not scale > 0:
        raise ValueError(f"scaled_noise: scale must be > 0, got {scale}")
    scaled = {}
    for key, value in noise.items():
        if key in PROBABILITY_KEYS:
            scaled[key] = min(1.0, value * scale)
        elif key in COHERENCE_KEYS:
            scaled[key] = value / scale
        else:
            scaled[key] = value
    return scaled
