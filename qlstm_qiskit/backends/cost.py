"""What a computation on a device would submit, and an estimate of its QPU time.

:class:`CostPreview` counts jobs, circuits (parameter rows) and shots as the model's estimator calls
are made (one job per call: one per time step, two with ``cell="chen"``, whose maps VQC5 and VQC6
read ``c_t`` and are a second call), and prices every job with
IBM's model (:mod:`.cost_model`): ``2 s + executions × (rep_delay + circuit duration)``, the
executions including what twirling and the resilience level add, never below IBM's quick form
``2 s + 0.00035 s × executions``. Its :meth:`~CostPreview.report` prints the breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cost_model import (
    BILLING,
    QUICK_SECONDS_PER_EXECUTION,
    SECONDS_PER_JOB,
    DevicePricing,
    JobCost,
)

__all__ = ["QUICK_SECONDS_PER_EXECUTION", "SECONDS_PER_JOB", "CostPreview"]


@dataclass
class CostPreview:
    """What a computation would submit: jobs, circuits (parameter rows) and shots, and each
    job's :class:`~qlstm_qiskit.backends.cost_model.JobCost` once priced by a device
    (``pricing``, set by :meth:`~qlstm_qiskit.backends.devices.DeviceBackend.preview`)."""

    backend: str
    shots: int
    jobs: int = 0
    circuits: int = 0
    per_job: list[int] = field(default_factory=list)
    pricing: DevicePricing | None = None
    job_costs: list[JobCost] = field(default_factory=list)
    pricings: list[DevicePricing] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pricing is not None and not self.pricings:
            self.pricings = [self.pricing]

    def count_job(self, circuits: list[tuple[Any, int]]) -> None:
        """Count one job of ``(ISA circuit, parameter rows)`` pairs (priced if ``pricing``)."""
        rows = sum(r for _, r in circuits)
        self.jobs += 1
        self.circuits += rows
        self.per_job.append(rows)
        if self.pricing is not None:
            self.job_costs.append(self.pricing.job(circuits, self.shots))

    @property
    def requested_executions(self) -> int:
        """Circuits × shots, as requested (before twirling and mitigation)."""
        return self.circuits * self.shots

    @property
    def executions(self) -> int:
        """The executions IBM counts: requested, plus what twirling and mitigation add (the
        requested ones where no job was priced)."""
        if not self.job_costs:
            return self.requested_executions
        return sum(job.executions for job in self.job_costs)

    @property
    def model_seconds(self) -> float:
        """IBM's model summed over the jobs (the quick form for jobs not priced)."""
        if not self.job_costs:
            return self.quick_seconds
        return sum(job.model_seconds for job in self.job_costs)

    @property
    def quick_seconds(self) -> float:
        """IBM's quick form, ``jobs × 2 s + 0.00035 s × executions``."""
        return self.jobs * SECONDS_PER_JOB + QUICK_SECONDS_PER_EXECUTION * self.executions

    @property
    def qpu_seconds(self) -> float:
        """The estimate: per job the larger of IBM's model and its quick form, summed."""
        if not self.job_costs:
            return self.quick_seconds
        return sum(job.seconds for job in self.job_costs)

    def add(self, other: CostPreview) -> None:
        self.jobs += other.jobs
        self.circuits += other.circuits
        self.per_job += other.per_job
        self.job_costs += other.job_costs
        self.pricings += [p for p in other.pricings if all(p is not q for q in self.pricings)]

    def scaled(self, factor: int) -> CostPreview:
        return CostPreview(
            self.backend,
            self.shots,
            self.jobs * factor,
            self.circuits * factor,
            self.per_job * factor,
            job_costs=self.job_costs * factor,
            pricings=list(self.pricings),
        )

    def report(self) -> str:
        """The breakdown: counts, overheads and why, rep_delay, circuit duration, the model, the
        quick form, the estimate used, and what the execution mode bills."""
        largest = max(self.per_job, default=0)
        lines = [
            f"cost preview for {self.backend} (dry run: nothing submitted)",
            f"  jobs:      {self.jobs}",
            f"  circuits:  {self.circuits} parameter rows (at most {largest} in one job)",
            f"  shots:     {self.shots} per circuit, "
            f"{self.requested_executions} executions requested",
        ]
        for pricing in self.pricings:
            lines += _device_lines(pricing, self.shots, len(self.pricings) > 1)
        lines.append(f"  shots run: {self.executions} executions in all{_overhead_factor(self)}")
        lines.append(f"  per job:   {SECONDS_PER_JOB:g} s overhead (IBM's guide)")
        if self.job_costs:
            lines.append(
                f"  model:     {self.model_seconds:.1f} s = {self.jobs} jobs x "
                f"{SECONDS_PER_JOB:g} s + executions x (rep_delay + circuit duration)"
            )
        lines.append(
            f"  quick:     {self.quick_seconds:.1f} s = {self.jobs} jobs x {SECONDS_PER_JOB:g} s"
            f" + {self.executions} executions x {QUICK_SECONDS_PER_EXECUTION * 1e3:g} ms"
        )
        lines.append(
            f"  QPU time:  ~{self.qpu_seconds:.1f} s estimated (per job the larger of the model "
            "and the quick form, IBM's floor)"
        )
        for pricing in self.pricings:
            lines.append(
                f"  billing:   execution={pricing.execution}: {BILLING[pricing.execution]}"
            )
        return "\n".join(lines)


def _device_lines(pricing: DevicePricing, shots: int, named: bool) -> list[str]:
    prefix = f"{pricing.device}: " if named else ""
    lines = [f"  overhead:  {prefix}{line}" for line in pricing.overhead.describe(shots)]
    lines.append(
        f"  rep_delay: {prefix}{pricing.rep_delay * 1e6:g} us ({pricing.rep_delay_source})"
    )
    longest = pricing.longest()
    if longest is None:
        lines.append(f"  circuit:   {prefix}no circuit priced")
    elif longest.missing:
        lines.append(
            f"  circuit:   {prefix}duration unknown ({longest.missing}); counted as 0 s, the "
            "quick form sets the estimate"
        )
    else:
        lines.append(
            f"  circuit:   {prefix}{longest.seconds * 1e6:.3g} us per execution, the longest ISA "
            f"circuit (gates {longest.gates * 1e6:.3g} us + init {longest.init * 1e6:.3g} us + "
            f"measure {longest.measure * 1e6:.3g} us, from the target's durations)"
        )
    return lines


def _overhead_factor(preview: CostPreview) -> str:
    requested = preview.requested_executions
    if not preview.job_costs or requested == 0:
        return ""
    return f" (x{preview.executions / requested:.4g} the requested {requested})"
