"""What a computation on a device would submit, and an estimate of its QPU time.

:class:`CostPreview` counts jobs, circuits (parameter rows) and shots; its QPU-time estimate is
``executions × SECONDS_PER_SHOT + jobs × SECONDS_PER_JOB`` (rough: IBM's default repetition delay
of 250 µs per shot dominates short circuits; a few seconds of per-job overhead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: QPU seconds per shot in the cost estimate (about the default repetition delay, 250 µs).
SECONDS_PER_SHOT = 250e-6
#: QPU seconds of overhead per job in the cost estimate.
SECONDS_PER_JOB = 2.0


@dataclass
class CostPreview:
    """What a computation would submit: jobs, circuits (parameter rows) and shots."""

    backend: str
    shots: int
    jobs: int = 0
    circuits: int = 0
    per_job: list[int] = field(default_factory=list)

    @property
    def executions(self) -> int:
        return self.circuits * self.shots

    @property
    def qpu_seconds(self) -> float:
        """``executions × SECONDS_PER_SHOT + jobs × SECONDS_PER_JOB`` (an estimate)."""
        return self.executions * SECONDS_PER_SHOT + self.jobs * SECONDS_PER_JOB

    def add(self, other: CostPreview) -> None:
        self.jobs += other.jobs
        self.circuits += other.circuits
        self.per_job += other.per_job

    def scaled(self, factor: int) -> CostPreview:
        return CostPreview(
            self.backend,
            self.shots,
            self.jobs * factor,
            self.circuits * factor,
            self.per_job * factor,
        )

    def report(self) -> str:
        largest = max(self.per_job, default=0)
        return "\n".join(
            [
                f"cost preview for {self.backend} (dry run: nothing submitted)",
                f"  jobs:      {self.jobs}",
                f"  circuits:  {self.circuits} parameter rows (at most {largest} in one job)",
                f"  shots:     {self.shots} per circuit, {self.executions} in all",
                f"  QPU time:  ~{self.qpu_seconds:.1f} s estimated ({self.executions} shots x "
                f"{SECONDS_PER_SHOT * 1e3:g} ms + {self.jobs} jobs x {SECONDS_PER_JOB:g} s)",
            ]
        )
