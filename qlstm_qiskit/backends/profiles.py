"""Backend profiles: one TOML file per named backend; find, parse and validate them.

A profile (``<name>.toml``; the name is the file stem)::

    description = "one line shown by list_backends()"
    kind = "aer"                 # "statevector", "aer", "density" or "device"
    computes = "exact"           # "exact", "sampled" or "noisy" (checked against the options)
    gradient = "param_shift"     # "autograd" (statevector, density), "param_shift" or "spsa"
    family = "fake"              # device only: the template of every "<family>_<device>" name
    [options]                    # per kind, see OPTIONS; omitted keys take their defaults
    [noise]                      # aer and density, see NOISE_KEYS; omitted keys are 0

A ``device`` profile is a template, not a name: ``fake_device.toml`` (family ``"fake"``) serves
every fake device ``fake_<device>`` of qiskit-ibm-runtime, ``ibm_device.toml`` (family ``"ibm"``)
every ``ibm_<device>`` of IBM Quantum (see :mod:`qlstm_qiskit.backends.devices`).

Finding and reading the files is :mod:`.profile_files`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..checks import MAX_SEED, check_choice, check_int, check_optional_int, check_real
from ..sim import METHODS
from .ibm_account import check_account_options
from .mitigation import MITIGATION_OPTIONS, check_mitigation

KINDS = ("statevector", "aer", "density", "device")
FAMILIES = ("fake", "ibm")
#: how a device backend's jobs are grouped: alone, in a runtime ``Batch`` or in a ``Session``.
EXECUTION_MODES = ("job", "batch", "session")
COMPUTES = ("exact", "sampled", "noisy")
GRADIENTS = {
    "statevector": ("autograd",),
    "aer": ("param_shift", "spsa"),
    "density": ("autograd",),
    "device": ("param_shift", "spsa"),
}
PROFILE_KEYS = ("description", "kind", "computes", "gradient", "options", "noise", "family")

_SPSA = {"spsa_samples": 4, "spsa_epsilon": 0.1}
#: kind -> option -> default (``None``: unset).
OPTIONS: dict[str, dict[str, Any]] = {
    "statevector": {"method": "auto"},
    "aer": {
        "method": "statevector",
        "device": "CPU",
        "shots": None,
        "seed": None,
        "basis_gates": None,
        "optimization_level": 1,
        **_SPSA,
        **MITIGATION_OPTIONS,  # see qlstm_qiskit.backends.mitigation
    },
    # see qlstm_qiskit.backends.density: noise_from is a profile name, a fake device name or a
    # qiskit_aer NoiseModel (an override), replacing the profile's own [noise] table
    "density": {
        "noise_from": None,
        "noise_scale": 1.0,
        "shots": None,
        "seed": None,
        "basis_gates": None,
        "optimization_level": 1,
        **MITIGATION_OPTIONS,
    },
    # see qlstm_qiskit.backends.devices and qlstm_qiskit.backends.jobs
    "device": {
        "shots": 1024,
        "seed": None,
        "optimization_level": 1,
        "resilience_level": None,
        "twirling": None,
        "dynamical_decoupling": None,
        "job_tags": None,
        "execution": "job",
        "run_name": None,
        "ledger": None,
        # None: one job per estimator call (the service splits large Estimator jobs itself;
        # IBM's 10M-executions limit applies to Sampler jobs)
        "max_executions": None,
        "max_execution_time": None,
        # ibm only: a QiskitRuntimeService (an override; default: the saved account/environment)
        "service": None,
        # ibm_least_busy only: the fewest qubits the device may have (see backends.ibm_account)
        "min_qubits": None,
        **_SPSA,
        **MITIGATION_OPTIONS,
    },
}
#: the most shots per circuit a local simulator (Aer, density matrix) samples: its samples are held
#: in memory (fake devices are bounded by their own max_shots)
MAX_SIMULATOR_SHOTS = 10**7
DD_SEQUENCES = ("XX", "XpXm", "XY4")
AER_METHODS = ("statevector", "density_matrix", "automatic")
#: Aer's simulation devices; "GPU" needs the qiskit-aer-gpu build of Aer.
AER_DEVICES = ("CPU", "GPU")
#: noise key -> meaning; all default to 0 (no such error).
NOISE_KEYS = {
    "depolarizing_1q": "depolarizing probability after every 1-qubit basis gate",
    "depolarizing_2q": "depolarizing probability after every 2-qubit basis gate",
    "t1_ns": "T1 relaxation time (ns); with t2_ns and the gate times: thermal relaxation",
    "t2_ns": "T2 dephasing time (ns), at most 2 * t1_ns",
    "time_1q_ns": "duration of a 1-qubit basis gate (ns)",
    "time_2q_ns": "duration of a 2-qubit basis gate (ns)",
    "readout_p01": "probability of reading 1 when the qubit is 0",
    "readout_p10": "probability of reading 0 when the qubit is 1",
}
_GATE_NOISE = ("depolarizing_1q", "depolarizing_2q", "t1_ns", "t2_ns")
_READOUT = ("readout_p01", "readout_p10")


@dataclass
class Profile:
    """A validated backend profile; ``options`` holds every option of its kind (defaults filled)."""

    name: str
    description: str
    kind: str
    gradient: str
    options: dict[str, Any]
    noise: dict[str, float] = field(default_factory=dict)
    source: str = ""
    family: str | None = None

    @property
    def computes(self) -> str:
        """What the configuration computes: "noisy" with a noise table (unless scaled to 0) or on
        a device, "sampled" with shots, else "exact"."""
        noise_from = self.options.get("noise_from") is not None
        noiseless = self.kind == "density" and self.options["noise_scale"] == 0
        if not noiseless and (self.kind == "device" or any(self.noise.values()) or noise_from):
            return "noisy"
        return "sampled" if self.options.get("shots") is not None else "exact"

    def digest(self) -> str:
        """SHA-256 of what the profile computes with: kind, family, gradient, options and noise
        (not its description or file layout), so that two files that run the same are equal."""
        # mitigation options added later leave the digests of profiles without them unchanged
        options = {
            k: v for k, v in self.options.items() if v is not None or k not in MITIGATION_OPTIONS
        }
        content = {
            "kind": self.kind,
            "family": self.family,
            "gradient": self.gradient,
            "options": options,
            "noise": self.noise,
        }
        text = json.dumps(content, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def with_overrides(self, owner: str, overrides: dict[str, Any]) -> Profile:
        """A copy with ``gradient`` and options replaced by ``overrides`` (validated)."""
        allowed = ("gradient", *OPTIONS[self.kind])
        if "mitigate" in overrides and "mitigate" not in allowed:
            if overrides["mitigate"] is not None:
                raise ValueError(
                    f"{owner}: mitigate applies to sampled or noisy backends; backend "
                    f"{self.name!r} computes exact values (nothing to mitigate)"
                )
            # mitigate=None asks for no mitigation, which an exact backend does anyway
            overrides = {k: v for k, v in overrides.items() if k != "mitigate"}
        unknown = sorted(set(overrides) - set(allowed))
        if unknown:
            raise ValueError(
                f"{owner}: unknown option(s) {', '.join(map(repr, unknown))} for "
                f"backend {self.name!r}; valid options: {', '.join(allowed)}"
            )
        if "shots" in overrides and overrides["shots"] is None and self.computes == "sampled":
            raise ValueError(
                f"{owner}: backend {self.name!r} samples shots (computes 'sampled'); shots must "
                "be an int >= 1, got None (for exact values use an exact backend such as "
                "aer_statevector)"
            )
        options = dict(self.options)
        options.update({k: v for k, v in overrides.items() if k != "gradient"})
        profile = Profile(
            self.name,
            self.description,
            self.kind,
            overrides.get("gradient", self.gradient),
            options,
            dict(self.noise),
            self.source,
            self.family,
        )
        profile.validate(owner)
        check_applicable(owner, overrides, profile.gradient, profile.options.get("shots"))
        if profile.kind == "density" and profile.options["noise_from"] is not None:
            given = sorted(set(overrides) & {"basis_gates"})
            if given:
                raise ValueError(
                    f"{owner}: {', '.join(given)} applies only to the profile's own [noise] "
                    f"table; noise_from={profile.options['noise_from']!r} brings its own"
                )
        return profile

    def validate(self, owner: str) -> None:
        """Check gradient, options and noise against the kind; errors name ``owner``."""
        check_choice(
            owner,
            "gradient",
            self.gradient,
            GRADIENTS[self.kind],
            context=f" for a {self.kind!r} backend",
        )
        opts = self.options
        if self.kind == "statevector":
            check_choice(owner, "method", opts["method"], METHODS)
            return
        check_mitigation(owner, self.name, self.kind, self.computes, opts)
        if self.kind == "device":
            _validate_device(owner, opts, self.family, self.gradient)
            check_account_options(owner, self.name, self.family, opts)
            return
        check_optional_int(owner, "shots", opts["shots"], 1, MAX_SIMULATOR_SHOTS)
        check_optional_int(owner, "seed", opts["seed"], 0, MAX_SEED)
        check_int(owner, "optimization_level", opts["optimization_level"], 0, 3)
        _check_basis_gates(owner, opts["basis_gates"])
        _check_noise_table(owner, self.noise, opts["basis_gates"])
        if self.kind == "density":
            _validate_density(owner, opts)
            return
        check_choice(owner, "method", opts["method"], AER_METHODS)
        check_choice(owner, "device", opts["device"], AER_DEVICES)
        check_int(owner, "spsa_samples", opts["spsa_samples"], 1)
        check_real(owner, "spsa_epsilon", opts["spsa_epsilon"], 0.0, math.pi, open_low=True)
        noise = self.noise
        if any(noise.get(k) for k in _READOUT) and opts["shots"] is None:
            raise ValueError(
                f"{owner}: readout errors need shots (exact Aer EstimatorV2 values "
                "ignore readout errors); set shots in [options] or as an override"
            )
        if (
            any(noise.get(k) for k in _GATE_NOISE)
            and opts["shots"] is None
            and opts["method"] not in ("density_matrix", "automatic")
        ):
            raise ValueError(
                f"{owner}: exact values with gate noise need method "
                f"'density_matrix' (or 'automatic'), got {opts['method']!r}: a "
                "statevector averages random noise trajectories"
            )


def _check_basis_gates(owner: str, gates: Any) -> None:
    if gates is not None and (
        not isinstance(gates, (list, tuple))
        or not gates
        or not all(isinstance(g, str) for g in gates)
    ):
        raise TypeError(
            f"{owner}: basis_gates must be a non-empty list of gate names, got {gates!r}"
        )


def _check_noise_table(owner: str, noise: dict[str, float], gates: Any) -> None:
    """The ``[noise]`` table of an ``aer`` or ``density`` profile."""
    for key, value in noise.items():
        check_real(owner, f"noise.{key}", value, 0.0, None if key.endswith("_ns") else 1.0)
    if any(noise.get(k) for k in _GATE_NOISE) and gates is None:
        raise ValueError(
            f"{owner}: gate noise ({', '.join(_GATE_NOISE)}) needs basis_gates "
            "in [options]: Aer attaches errors to basis-gate names"
        )
    times = [k for k in ("time_1q_ns", "time_2q_ns") if noise.get(k)]
    if bool(noise.get("t1_ns")) != bool(times):  # one without the other attaches nothing
        raise ValueError(
            f"{owner}: thermal relaxation needs noise.t1_ns and t2_ns together "
            "with at least one gate time (time_1q_ns, time_2q_ns), got "
            f"t1_ns={noise.get('t1_ns')}, gate times {times or 'none'}"
        )
    if bool(noise.get("t1_ns")) != bool(noise.get("t2_ns")):
        raise ValueError(
            f"{owner}: noise.t1_ns and noise.t2_ns must be given together, got "
            f"t1_ns={noise.get('t1_ns')}, t2_ns={noise.get('t2_ns')}"
        )
    if noise.get("t2_ns", 0) > 2 * noise.get("t1_ns", 0):
        raise ValueError(
            f"{owner}: noise.t2_ns must be at most 2 * t1_ns, got "
            f"t1_ns={noise['t1_ns']}, t2_ns={noise['t2_ns']}"
        )


def _validate_density(owner: str, opts: dict[str, Any]) -> None:
    check_real(owner, "noise_scale", opts["noise_scale"], 0.0)
    source = opts["noise_from"]
    if source is not None and not isinstance(source, str):
        from qiskit_aer.noise import NoiseModel  # only a user's object gets here

        if not isinstance(source, NoiseModel):
            raise TypeError(
                f"{owner}: noise_from must be a profile name, a fake device name "
                f"(fake_<device>) or a qiskit_aer NoiseModel, got {type(source).__name__}"
            )


def _validate_device(owner: str, opts: dict[str, Any], family: str | None, gradient: str) -> None:
    check_int(owner, "shots", opts["shots"], 1)
    check_optional_int(owner, "seed", opts["seed"], 0, MAX_SEED)
    check_int(owner, "optimization_level", opts["optimization_level"], 0, 3)
    check_optional_int(owner, "resilience_level", opts["resilience_level"], 0, 2)
    check_optional_int(owner, "max_executions", opts["max_executions"], 1)
    if opts["max_executions"] is not None and opts["shots"] > opts["max_executions"]:
        raise ValueError(
            f"{owner}: max_executions {opts['max_executions']:,} is below shots "
            f"{opts['shots']:,}: one circuit alone would exceed it (a job holds at least one)"
        )
    check_int(owner, "spsa_samples", opts["spsa_samples"], 1)
    check_real(owner, "spsa_epsilon", opts["spsa_epsilon"], 0.0, math.pi, open_low=True)
    check_choice(owner, "execution", opts["execution"], EXECUTION_MODES)
    if opts["twirling"] is not None and not isinstance(opts["twirling"], (bool, dict)):
        raise TypeError(
            f"{owner}: twirling must be a bool or a table of runtime twirling "
            f"options, got {type(opts['twirling']).__name__} {opts['twirling']!r}"
        )
    dd = opts["dynamical_decoupling"]
    if isinstance(dd, str):
        check_choice(owner, "dynamical_decoupling", dd, DD_SEQUENCES)
    elif dd is not None and not isinstance(dd, (bool, dict)):
        raise TypeError(
            f"{owner}: dynamical_decoupling must be a bool, a sequence name "
            f"({', '.join(DD_SEQUENCES)}) or a table of runtime options, got "
            f"{type(dd).__name__} {dd!r}"
        )
    tags = opts["job_tags"]
    if (
        tags is not None
        and not isinstance(tags, str)
        and (not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags))
    ):
        raise TypeError(f"{owner}: job_tags must be a string or a list of strings, got {tags!r}")
    for name in ("run_name", "ledger"):
        if opts[name] is not None and not isinstance(opts[name], str):
            raise TypeError(
                f"{owner}: {name} must be a string, got {type(opts[name]).__name__} {opts[name]!r}"
            )
    check_optional_int(owner, "max_execution_time", opts["max_execution_time"], 1)
    if opts["seed"] is not None and family == "ibm" and gradient != "spsa":
        raise ValueError(
            f"{owner}: seed applies only to fake devices (it seeds the local "
            "simulator) or gradient='spsa'; hardware shots cannot be seeded"
        )


def check_applicable(owner: str, given: dict[str, Any], gradient: str, shots: int | None) -> None:
    """Reject options that would have no effect: SPSA settings without ``gradient="spsa"``, a
    ``seed`` with neither shots nor SPSA."""
    spsa = sorted(k for k in given if k.startswith("spsa_"))
    if spsa and gradient != "spsa":
        raise ValueError(
            f"{owner}: {', '.join(spsa)} apply only with gradient='spsa', got gradient={gradient!r}"
        )
    if given.get("seed") is not None and gradient != "spsa" and shots is None:
        raise ValueError(
            f"{owner}: seed applies only to sampled backends (shots) or "
            "gradient='spsa'; this backend computes exact values"
        )
