"""A STAND-IN for ``qiskit_ibm_runtime.QiskitRuntimeService``, for the parts of IBM Quantum that
have no local mode.

IBM Quantum cannot be reached from these machines, and the runtime's local testing mode has no
service: no account plan, no usage figures, no job listing by tag, no retrieving a job by id after
it ran, no least-busy device. :class:`StandInService` stands in for exactly those calls
(``backend``, ``backends``, ``least_busy``, ``usage``, ``instances``, ``active_instance``,
``job``, ``jobs``), with the signatures and return shapes of qiskit-ibm-runtime 0.51; its jobs
(:class:`StandInJob`) answer ``job_id``, ``status``, ``result``, ``usage``, ``error_message``,
``cancel`` (pending jobs only), ``tags`` and ``backend`` as a ``RuntimeJobV2`` does. Everything
else is real: its devices are real fake devices of ``qiskit_ibm_runtime.fake_provider`` (named
``ibm_<device>``: their ``name`` is set to it and their ``service`` to the stand-in, as on a
device of IBM Quantum), and the jobs are run by the real runtime Estimator in local mode;
:meth:`StandInService.record_submissions` registers each of them with the stand-in as the server
would, with the tags the estimator's options carried.
"""

from __future__ import annotations

import itertools
import warnings
from datetime import UTC, datetime

from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

#: job states of IBM Quantum (``RuntimeJobV2.status()``)
PENDING = ("INITIALIZING", "QUEUED", "RUNNING")


class StandInJob:
    """A job as ``service.job(id)`` returns it: a real local runtime job (``job``), or none for a
    job the test declares pending (``status="QUEUED"``), whose result never arrives, or failed
    (``status="ERROR"``; ``error`` is then its ``error_message()``)."""

    def __init__(self, job_id, tags, backend_name, *, job=None, status=None, usage=None):
        self._id = job_id
        self.tags = list(tags)
        self._backend_name = backend_name
        self._job = job
        self._status = status
        self._usage = usage
        self.creation_date = datetime.now(UTC)
        self.cancelled = False
        self.error = "Error code 1517; the stand-in job failed"

    def job_id(self) -> str:
        return self._id

    def status(self) -> str:
        if self.cancelled:
            return "CANCELLED"
        if self._status is not None:
            return self._status
        return str(self._job.status()).split(".")[-1].upper()

    def result(self):
        if self.cancelled:
            raise RuntimeError(f"job {self._id} was cancelled")
        if self._job is None:
            raise RuntimeError(f"job {self._id} is {self._status}; its result is not there")
        return self._job.result()

    def usage(self) -> float | None:
        return self._usage if self.status() == "DONE" else None

    def error_message(self) -> str | None:
        return self.error if self.status() == "ERROR" else None

    def cancel(self) -> None:
        if self.status() not in PENDING:
            raise RuntimeError(f"job {self._id} is {self.status()} and cannot be cancelled")
        self.cancelled = True

    def backend(self):
        return type("StandInBackendName", (), {"name": self._backend_name})()


class StandInService:
    """Stands in for ``QiskitRuntimeService`` (see the module docstring).

    Args:
        devices: ``ibm_<name>`` -> fake device name (default: ibm_manila -> fake_manila).
        plan: the active instance's plan (``"open"``, ``"pay-as-you-go"``, ``"premium"`` ...).
        usage_limit_seconds, usage_consumed_seconds: what ``usage()`` reports.
        pending: ``ibm_<name>`` -> pending jobs (what ``least_busy`` compares).
        offline: ``ibm_<name>`` of devices that are not operational.
        usage_per_job: the QPU seconds a finished job reports (``job.usage()``).
    """

    def __init__(
        self,
        devices=None,
        *,
        plan="pay-as-you-go",
        usage_limit_seconds=None,
        usage_consumed_seconds=0.0,
        pending=None,
        offline=(),
        usage_per_job=1.5,
    ):
        self.device_names = dict(devices or {"ibm_manila": "fake_manila"})
        self.plan = plan
        self.usage_limit_seconds = usage_limit_seconds
        self.usage_consumed_seconds = usage_consumed_seconds
        self.pending = dict(pending or {})
        self.offline = set(offline)
        self.usage_per_job = usage_per_job
        self.stored: dict[str, StandInJob] = {}
        self.asked: list[str] = []  # job ids asked for with job()
        self._devices = {}
        self._ids = itertools.count(1)

    # -- devices ----------------------------------------------------------------------------
    def backend(self, name, instance=None):
        if name not in self.device_names:
            raise LookupError(f"No backend matches the criteria: name={name!r}")
        if name not in self._devices:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                device = FakeProviderForBackendV2().backend(self.device_names[name])
            device.name = name  # as on IBM Quantum: service.backend(name).name == name
            device.service = self  # as IBMBackend.service
            self._devices[name] = device
        return self._devices[name]

    def backends(self, name=None, min_num_qubits=None, operational=None, simulator=None, **_):
        found = [self.backend(n) for n in self.device_names if name in (None, n)]
        if min_num_qubits is not None:
            found = [b for b in found if b.num_qubits >= min_num_qubits]
        if operational:
            found = [b for b in found if self._name_of(b) not in self.offline]
        return found

    def least_busy(self, min_num_qubits=None, instance=None, filters=None, **kwargs):
        candidates = [
            b
            for b in self.backends(min_num_qubits=min_num_qubits, operational=True)
            if filters is None or filters(b)
        ]
        if not candidates:
            raise LookupError(
                f"No backend matches the criteria: min_num_qubits={min_num_qubits}, operational"
            )
        return min(candidates, key=lambda b: self.pending.get(self._name_of(b), 0))

    def _name_of(self, device) -> str:
        return next(n for n, d in self._devices.items() if d is device)

    # -- account ----------------------------------------------------------------------------
    def usage(self) -> dict:
        found = {
            "instance_id": self.active_instance(),
            "plan_id": f"{self.plan}-plan-id",
            "usage_consumed_seconds": self.usage_consumed_seconds,
            "usage_limit_reached": False,
        }
        if self.usage_limit_seconds is not None:
            remaining = max(self.usage_limit_seconds - self.usage_consumed_seconds, 0)
            found.update(
                usage_limit_seconds=self.usage_limit_seconds,
                usage_remaining_seconds=remaining,
                usage_limit_reached=remaining <= 0,
            )
        return found

    def instances(self) -> list[dict]:
        return [
            {"crn": self.active_instance(), "plan": self.plan, "name": "stand-in", "tags": []},
            {"crn": "crn:v1:other", "plan": "premium", "name": "other", "tags": []},
        ]

    def active_instance(self) -> str:
        return "crn:v1:stand-in"

    def refuse_sessions(self, monkeypatch):
        """Make the runtime's ``Session`` (not ``Batch``) refuse to open, as IBM Quantum does on
        a plan without sessions (the Open Plan): its constructor raises the runtime's
        ``RequestsApiError`` with status 403 (the message is illustrative). A local Session
        never asks a service, so this is the one way to see that answer here."""
        from qiskit_ibm_runtime.api.exceptions import RequestsApiError
        from qiskit_ibm_runtime.session import Session

        original = Session.__init__
        plan = self.plan

        def init(session, backend, *args, **kwargs):
            if type(session) is Session:
                raise RequestsApiError(
                    f"403 Client Error: Forbidden for url: .../sessions. Sessions are not "
                    f"available on the {plan} plan.",
                    403,
                )
            original(session, backend, *args, **kwargs)

        monkeypatch.setattr(Session, "__init__", init)

    # -- jobs -------------------------------------------------------------------------------
    def job(self, job_id):
        self.asked.append(job_id)
        if job_id not in self.stored:
            raise LookupError(f"Job not found: {job_id}")
        return self.stored[job_id]

    def jobs(self, limit=10, skip=0, backend_name=None, pending=None, job_tags=None, **_):
        found = [
            j
            for j in reversed(list(self.stored.values()))  # newest first, as the service
            if all(t in j.tags for t in job_tags or ())
            and backend_name in (None, j._backend_name)
            and (pending is None or (j.status() in PENDING) == pending)
        ]
        found = found[skip:]
        return found if limit is None else found[:limit]

    def add_job(self, tags, backend_name="ibm_manila", *, job=None, status=None) -> StandInJob:
        """Register a job (a real local job, or a declared ``status`` such as ``"QUEUED"``)."""
        job_id = f"standin-{next(self._ids):04d}"
        stored = StandInJob(
            job_id, tags, backend_name, job=job, status=status, usage=self.usage_per_job
        )
        self.stored[job_id] = stored
        return stored

    def record_submissions(self, monkeypatch, estimator_class):
        """Register every job that ``estimator_class`` (a runtime Estimator class) runs with
        this stand-in, as the server would, and hand back the stand-in's job."""
        original = estimator_class.run
        service = self

        def run(estimator, pubs, **kwargs):
            local = original(estimator, pubs, **kwargs)
            name = next(
                (n for n, d in service._devices.items() if d is estimator.backend()),
                "ibm_manila",
            )
            return service.add_job(list(estimator.options.environment.job_tags), name, job=local)

        monkeypatch.setattr(estimator_class, "run", run)
