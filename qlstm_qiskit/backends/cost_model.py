"""IBM's QPU-time model of one job, and what the runtime estimator's options add to it.

IBM's guide "Workload usage", section "Estimate usage before submitting a job"
(https://quantum.cloud.ibm.com/docs/en/guides/estimate-job-run-time) gives, per (sub-)job::

    2 s + executions × (rep_delay + circuit duration)        (the model)
    2 s + 0.00035 s × executions                             (the quick form)

where ``executions`` are circuits (after PUB broadcasting) × shots, plus the extra circuits of
error mitigation; ``rep_delay`` is ``backend.default_rep_delay`` (250 µs on most devices); the
circuit duration is the ISA circuit's length from ``backend.target`` instruction durations
(``QuantumCircuit.estimate_duration(target)``), plus the qubits' initialisation (reset) when
``init_qubits`` (default ``True``). The estimator inserts the measurements, so their duration is
added too. Our observables are one Pauli-Z per qubit: they commute qubit-wise and the estimator
measures them in one basis, so one parameter row is one circuit.

What the runtime ``EstimatorV2`` options (qiskit-ibm-runtime 0.51,
``qiskit_ibm_runtime/options/``) do to the executions of a job with ``R`` rows of ``S`` shots:

=========================  ===================================================================
resilience_level unset     the runtime's default, 1 (``EstimatorOptions.resilience_level``,
                           "Default: 1")
twirling (any enabled)     ``S`` becomes ``num_randomizations × shots_per_randomization``
                           (``TwirlingOptions``: the product "takes precedence over
                           default_shots"); both "auto": ``spr = max(64, ceil(S / 32))``,
                           ``n = ceil(S / spr)``; one "auto": ``ceil(S / other)``
level 0                    no twirling, no mitigation: ``R × S``
level 1                    measurement twirling on (``TwirlingOptions.enable_measure``: True
                           for levels 1 and 2) and readout-error mitigation (TREX,
                           ``ResilienceOptionsV2.measure_mitigation``): its calibration is
                           ``MeasureNoiseLearningOptions.num_randomizations`` (32) random
                           circuits of ``shots_per_randomization`` "auto" shots, which the
                           runtime chooses "based on the input PUBs" without saying how; we
                           assume twirling's auto value, ``max(64, ceil(S / 32))``, once a job
level 2                    level 1, gate twirling too (``enable_gates``: True at level 2), and
                           ZNE (``zne_mitigation``): every circuit runs at each noise factor of
                           ``ZneOptions.noise_factors`` (default ``(1, 3, 5)``): executions ×3;
                           gate folding lengthens the circuit at factor λ by at most λ, so the
                           circuit duration is scaled by the mean factor (an upper bound)
dynamical decoupling       fills idle time with pulses: no extra executions or duration
=========================  ===================================================================

Client-side mitigation (``mitigate=``, :mod:`.mitigation`) is made of circuits in the jobs
themselves (ZNE's folded circuits as PUBs, two readout-calibration circuits per estimator call),
so they are counted as the job's circuits, each row priced at its own circuit's duration (the
circuit duration of the model is the jobs' row-weighted mean); the runtime's resilience is then
level 0.

Billing by execution mode (same guide, "Workload usage"): a job, and each job of a batch, bills
the time the QPU is locked for it (what this model estimates); a session bills its wall-clock
active time, classical waiting included, so there the estimate is a lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qiskit.exceptions import QiskitError

from .mitigation import Mitigation, mitigation_of

#: IBM's guide: "an overhead of approximately 2s per sub-job" (loading the control electronics).
SECONDS_PER_JOB = 2.0
#: IBM's guide: "you can use ``2+0.00035*<num executions>`` as a quick formula".
QUICK_SECONDS_PER_EXECUTION = 0.00035
#: IBM's guide: ``backend.default_rep_delay`` "is 250 microseconds on most IBM Quantum backends";
#: used only for a device that does not state its own.
DEFAULT_REP_DELAY = 250e-6
#: ``EstimatorOptions.resilience_level``: "Default: 1" (the server applies it when unset).
RUNTIME_DEFAULT_RESILIENCE_LEVEL = 1
#: ``TwirlingOptions.shots_per_randomization`` "auto": ``max(64, ceil(shots / 32))``.
TWIRLING_MIN_SHOTS_PER_RANDOMIZATION = 64
TWIRLING_SHOTS_DIVISOR = 32
#: ``MeasureNoiseLearningOptions.num_randomizations``: "Default: 32".
MEASURE_LEARNING_RANDOMIZATIONS = 32
#: ``ZneOptions.noise_factors``: "Default: ``(1, 3, 5)``".
ZNE_NOISE_FACTORS = (1, 3, 5)
#: what each execution mode bills (IBM's guide, "Workload usage").
BILLING = {
    "job": "job mode bills the time the QPU is locked for each job: this estimate",
    "batch": "a batch bills the time the QPU is locked for its jobs, summed: this estimate",
    "session": "a session bills its wall-clock active time (waits between jobs included): "
    "this estimate is a lower bound",
}


def auto_shots_per_randomization(shots: int) -> int:
    """``TwirlingOptions.shots_per_randomization`` "auto" for ``shots``."""
    return max(TWIRLING_MIN_SHOTS_PER_RANDOMIZATION, math.ceil(shots / TWIRLING_SHOTS_DIVISOR))


@dataclass(frozen=True)
class Overhead:
    """What a device backend's runtime options do to the executions of its jobs."""

    level: int
    level_set: bool  #: whether ``resilience_level`` was given (else the runtime default)
    twirl_gates: bool
    twirl_measure: bool
    num_randomizations: int | None  #: ``None``: "auto"
    shots_per_randomization: int | None  #: ``None``: "auto"
    measure_mitigation: bool
    zne_factors: tuple[float, ...]  #: empty: no ZNE
    #: the client-side mitigation of ``mitigate=`` (its circuits are PUBs of the jobs, counted
    #: and priced as such; see :mod:`.mitigation`)
    client: Mitigation | None = None

    @property
    def twirling(self) -> bool:
        return self.twirl_gates or self.twirl_measure

    def randomizations(self, shots: int) -> tuple[int, int]:
        """``(num_randomizations, shots_per_randomization)`` of twirled circuits of ``shots``."""
        count, per = self.num_randomizations, self.shots_per_randomization
        if count is None and per is None:
            per = auto_shots_per_randomization(shots)
        if count is None:
            count = math.ceil(shots / per)
        if per is None:
            per = math.ceil(shots / count)
        return count, per

    def shots_per_circuit(self, shots: int) -> int:
        """The shots a circuit of ``shots`` really runs (twirling rounds them)."""
        if not self.twirling:
            return shots
        count, per = self.randomizations(shots)
        return count * per

    @property
    def noise_factor_count(self) -> int:
        return len(self.zne_factors) or 1

    @property
    def duration_scale(self) -> float:
        """The circuit duration's factor: the mean ZNE noise factor (1 without ZNE)."""
        return sum(self.zne_factors) / len(self.zne_factors) if self.zne_factors else 1.0

    def circuit_executions(self, rows: int, shots: int) -> int:
        return rows * self.shots_per_circuit(shots) * self.noise_factor_count

    def calibration_executions(self, shots: int) -> int:
        """Readout-calibration executions of one job (TREX; see the module docstring)."""
        if not self.measure_mitigation:
            return 0
        return MEASURE_LEARNING_RANDOMIZATIONS * auto_shots_per_randomization(shots)

    def describe(self, shots: int) -> list[str]:
        """Why the executions are what they are, one line a technique."""
        where = "set" if self.level_set else "the runtime's default"
        if self.client is not None and self.level == 0:
            where = "set: mitigate= mitigates client side instead"
        lines = [f"resilience_level {self.level} ({where})"]
        if self.twirling:
            kinds = " and ".join(
                k
                for k, on in (("gate", self.twirl_gates), ("measurement", self.twirl_measure))
                if on
            )
            count, per = self.randomizations(shots)
            lines.append(
                f"{kinds} twirling: {count} randomizations x {per} shots = "
                f"{count * per} shots per circuit (x{count * per / shots:.4g})"
            )
        else:
            lines.append("no twirling: shots as requested")
        if self.measure_mitigation:
            lines.append(
                f"readout mitigation (TREX): {MEASURE_LEARNING_RANDOMIZATIONS} calibration "
                f"circuits x {auto_shots_per_randomization(shots)} shots = "
                f"{self.calibration_executions(shots)} executions per job"
            )
        if self.zne_factors:
            factors = ", ".join(f"{f:g}" for f in self.zne_factors)
            lines.append(
                f"ZNE at noise factors ({factors}): executions x{len(self.zne_factors)}, "
                f"circuit duration x{self.duration_scale:.3g} (upper bound)"
            )
        if self.client is not None and self.client.scales:
            scales = ", ".join(map(str, self.client.scales))
            lines.append(
                f"mitigate (client side): ZNE, every circuit at 2-qubit gate folding scales "
                f"({scales}): x{len(self.client.scales)} circuits, each priced at its own "
                "duration (counted above)"
            )
        if self.client is not None and self.client.readout:
            lines.append(
                "mitigate (client side): readout calibration, 2 circuits (|0...0>, |1...1>) "
                "per estimator call (counted above)"
            )
        return lines


def overhead_of(options: dict[str, Any]) -> Overhead:
    """The :class:`Overhead` of a device backend's options (``resilience_level``, ``twirling``:
    ``None``, a bool or a table of ``TwirlingOptions``)."""
    given = options.get("resilience_level")
    level = RUNTIME_DEFAULT_RESILIENCE_LEVEL if given is None else int(given)
    gates, measure = level >= 2, level >= 1
    count = per = None
    twirling = options.get("twirling")
    if isinstance(twirling, bool):
        gates = measure = twirling
    elif isinstance(twirling, dict):
        gates = bool(twirling.get("enable_gates", gates))
        measure = bool(twirling.get("enable_measure", measure))
        count = _count_or_auto(twirling, "num_randomizations")
        per = _count_or_auto(twirling, "shots_per_randomization")
    elif twirling is not None:
        raise TypeError(
            f"overhead_of: twirling must be None, a bool or a table, got {type(twirling).__name__}"
        )
    return Overhead(
        level=level,
        level_set=given is not None,
        twirl_gates=gates,
        twirl_measure=measure,
        num_randomizations=count,
        shots_per_randomization=per,
        measure_mitigation=level >= 1,
        zne_factors=ZNE_NOISE_FACTORS if level >= 2 else (),
        client=mitigation_of(options),
    )


def _count_or_auto(table: dict[str, Any], key: str) -> int | None:
    value = table.get(key, "auto")
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"overhead_of: twirling {key} must be an int >= 1 or 'auto', got {value!r}"
        )
    return value


@dataclass(frozen=True)
class CircuitDuration:
    """One execution of an ISA circuit, in seconds: its gates (longest path through the target's
    instruction durations), the initialisation (reset) and the measurement of its qubits."""

    gates: float
    init: float
    measure: float
    missing: str | None = None  #: why the target gave no duration (then all are 0)

    @property
    def seconds(self) -> float:
        return self.gates + self.init + self.measure


@dataclass(frozen=True)
class JobCost:
    """One job's estimate (see the module docstring)."""

    device: str
    rows: int
    shots: int  #: requested shots per circuit
    circuit_executions: int
    calibration_executions: int
    rep_delay: float
    duration: float  #: the longest ISA circuit of the job, one execution, seconds
    duration_scale: float
    #: the job's circuits' mean duration, weighted by their rows (``None``: ``duration``)
    mean_duration: float | None = None

    @property
    def executions(self) -> int:
        return self.circuit_executions + self.calibration_executions

    @property
    def model_seconds(self) -> float:
        """``2 s + executions × (rep_delay + duration)`` (ZNE scaling the circuits' duration)."""
        return (
            SECONDS_PER_JOB
            + self.circuit_executions
            * (self.rep_delay + (self.mean_duration or self.duration) * self.duration_scale)
            + self.calibration_executions * (self.rep_delay + self.duration)
        )

    @property
    def quick_seconds(self) -> float:
        """IBM's quick form, ``2 s + 0.00035 s × executions``."""
        return SECONDS_PER_JOB + QUICK_SECONDS_PER_EXECUTION * self.executions

    @property
    def seconds(self) -> float:
        """The estimate used: the model, never below the quick form."""
        return max(self.model_seconds, self.quick_seconds)


@dataclass
class DevicePricing:
    """What prices the jobs of one device backend: the device's ``rep_delay`` and target, the
    options' :class:`Overhead` and the execution mode."""

    device: str
    rep_delay: float
    rep_delay_source: str
    target: Any
    overhead: Overhead
    execution: str
    _durations: dict[int, tuple[Any, CircuitDuration]] = field(default_factory=dict, repr=False)

    def duration(self, circuit) -> CircuitDuration:
        """One execution of the ISA ``circuit`` on this device (cached per circuit)."""
        if id(circuit) not in self._durations:
            self._durations[id(circuit)] = (circuit, circuit_duration(circuit, self.target))
        return self._durations[id(circuit)][1]

    def job(self, circuits: list[tuple[Any, int]], shots: int) -> JobCost:
        """The :class:`JobCost` of one job of ``(ISA circuit, parameter rows)`` pairs."""
        rows = sum(r for _, r in circuits)
        longest = max((self.duration(c).seconds for c, _ in circuits), default=0.0)
        # ZNE's folded circuits are longer than the others: each row at its own circuit's length
        total = sum(self.duration(c).seconds * r for c, r in circuits)
        return JobCost(
            device=self.device,
            rows=rows,
            shots=shots,
            circuit_executions=self.overhead.circuit_executions(rows, shots),
            calibration_executions=self.overhead.calibration_executions(shots),
            rep_delay=self.rep_delay,
            duration=longest,
            duration_scale=self.overhead.duration_scale,
            mean_duration=total / rows if rows else longest,
        )

    def longest(self) -> CircuitDuration | None:
        """The longest circuit priced so far."""
        found = [d for _, d in self._durations.values()]
        return max(found, key=lambda d: d.seconds, default=None)


def device_pricing(device, options: dict[str, Any]) -> DevicePricing:
    """The :class:`DevicePricing` of a ``BackendV2`` device under a device backend's options:
    ``rep_delay`` is ``device.default_rep_delay`` (:data:`DEFAULT_REP_DELAY` if it has none)."""
    rep_delay = getattr(device, "default_rep_delay", None)
    if rep_delay is None:
        rep_delay, source = DEFAULT_REP_DELAY, f"IBM's usual default; {device.name} states none"
    else:
        source = f"{device.name}'s default_rep_delay"
    execution = options.get("execution") or "job"
    if execution not in BILLING:
        raise ValueError(
            f"device_pricing: execution must be one of {', '.join(BILLING)}, got {execution!r}"
        )
    return DevicePricing(
        device=device.name,
        rep_delay=float(rep_delay),
        rep_delay_source=source,
        target=device.target,
        overhead=overhead_of(options),
        execution=execution,
    )


def circuit_duration(circuit, target) -> CircuitDuration:
    """One execution of the ISA ``circuit`` on ``target``: ``circuit.estimate_duration(target)``
    plus the longest ``reset`` (IBM's guide adds the init time when ``init_qubits``) and the
    longest ``measure`` duration over the qubits the circuit uses. A target without the needed
    durations gives zeros and says so in ``missing`` (the quick form then sets the estimate)."""
    used = sorted({circuit.find_bit(q).index for item in circuit.data for q in item.qubits})
    try:
        gates = float(circuit.estimate_duration(target, unit="s"))
        init = max((_duration(target, "reset", q) for q in used), default=0.0)
        measure = max((_duration(target, "measure", q) for q in used), default=0.0)
    except (QiskitError, KeyError, TypeError) as exc:
        return CircuitDuration(0.0, 0.0, 0.0, missing=f"{type(exc).__name__}: {exc}")
    return CircuitDuration(gates, init, measure)


def _duration(target, name: str, qubit: int) -> float:
    duration = target[name][(qubit,)].duration
    if duration is None:
        raise TypeError(f"the target has no {name} duration on qubit {qubit}")
    return float(duration)
