"""Jobs on devices: one estimator call as ledger-backed jobs, resumed, split over the per-job
limit, or counted for a cost preview.

:class:`LedgerEstimator` is the ``BaseEstimatorV2`` of every device backend. One ``run`` call (one
time step of the network) is one job, split into several only where ``rows × shots`` would exceed
``max_executions``, a cap the user may set (by default none: IBM Quantum splits a large
Estimator job into sub-jobs itself; its 10M-executions limit applies to Sampler jobs). Each job is

1. looked up in the :class:`~qlstm_qiskit.backends.ledger.Ledger` by its key (a hash of the
   device, the options that change results, the ISA circuit, the observables and the parameter
   values): a finished job's stored result is returned without submitting anything; a pending one
   is re-attached with ``service.job(id)`` where the service can do that (IBM Quantum; local
   fake-device jobs cannot be retrieved after their process ended, so they are submitted again);
2. otherwise submitted, and its id, what it computes, its tags, the primitive, its estimated QPU
   time and the time are appended to the ledger BEFORE its result is waited on; a job sent to
   IBM Quantum carries the tag ``qlstm-key:<key>`` besides the run's tags, so that a lost ledger
   can be rebuilt from ``service.jobs(job_tags=[run name])``;
3. on arrival its expectation values are saved and a ``done`` line is appended (with the file's
   SHA-256, and the QPU seconds IBM Quantum billed, ``job.usage()``, for a remote job).

The ledger is held by this process from the first job until :meth:`LedgerEstimator.close`: a
second process on the same ledger gets an error naming this one (never a job submitted twice);
the ledger is checked writable before anything is submitted. A job whose last state is
   ``failed`` or ``cancelled`` is submitted again.

Running the same computation again with the same ledger therefore reads back every finished step
and submits only what is missing: a resumed run submits, in all, as many jobs as an uninterrupted
one.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from contextlib import ExitStack
from typing import Any

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub

from .cost import CostPreview
from .ledger import Ledger

#: the options that change what a job computes (part of the ledger key).
KEY_OPTIONS = (
    "shots",
    "seed",
    "optimization_level",
    "resilience_level",
    "twirling",
    "dynamical_decoupling",
)
#: the job tag that carries a remote job's ledger key (``KEY_TAG + key``)
KEY_TAG = "qlstm-key:"
#: how seeded local jobs are seeded (part of their ledger keys, so that results sampled under
#: another scheme, e.g. one fixed seed for every job, are never read back as these)
JOB_SEEDING = "per-job-key"


class LedgerEstimator(BaseEstimatorV2):
    """The estimator of a device backend (see the module docstring).

    Args:
        make_estimator: builds ``(runtime estimator, Batch/Session or None)`` on first use.
        backend_name, options: the device's name and options (the ledger key's part).
        shots: shots per circuit; ``max_executions``: a cap on rows × shots per job (``None``:
            one job per call).
        ledger: a :class:`Ledger` or ``None`` (no persistence).
        tags: the job tags (recorded in the ledger).
        service: the ``QiskitRuntimeService`` of remote jobs, which re-attaches pending jobs
            by id (``None``: local jobs, which cannot be re-attached).
        simulator_seed: the ``seed`` of a local (fake-device) simulator: every job then samples
            with a seed of its own, :func:`job_seed` of its key (which holds ``seed``), set as
            the estimator's ``seed_simulator``.
        primitive: what runs the jobs (``"executor"``, ``"legacy"`` or ``"local"``; recorded).
        pricing: a :class:`~qlstm_qiskit.backends.cost_model.DevicePricing` that estimates each
            job's QPU seconds for the ledger (``None``: not estimated).
    """

    def __init__(
        self,
        make_estimator,
        *,
        backend_name: str,
        options: dict[str, Any],
        shots: int,
        max_executions: int | None = None,
        ledger: Ledger | None = None,
        tags: list[str] | None = None,
        service=None,
        simulator_seed: int | None = None,
        primitive: str = "local",
        pricing=None,
    ) -> None:
        self._make_estimator = make_estimator
        self._estimator = None
        self.mode = None
        self.backend_name = backend_name
        self.shots = shots
        self.max_executions = max_executions
        self.ledger = ledger
        self.tags = list(tags or ())
        self.service = service
        self.simulator_seed = simulator_seed
        self.primitive = primitive
        self.pricing = pricing
        seeding = {} if simulator_seed is None else {"seeding": JOB_SEEDING}
        self._key_prefix = json.dumps(
            {"device": backend_name, **seeding, **{k: options.get(k) for k in KEY_OPTIONS}},
            sort_keys=True,
            default=str,
        )
        self._digests: dict[int, tuple[Any, str]] = {}
        self._holding = ExitStack()  # the ledger's lock, from the first job until close()
        # whether the ledger is held: a list, so that the stack's callback resets it without a
        # reference to this estimator (which would keep it from ever being collected)
        self._ledger_held = [False]
        weakref.finalize(self, self._holding.close)  # or until this estimator is collected
        #: set by :meth:`~qlstm_qiskit.backends.devices.DeviceBackend.preview`: answer with
        #: zeros and count instead.
        self.preview: CostPreview | None = None
        self.submitted = 0  #: jobs submitted by this process
        self.reused = 0  #: jobs read back from the ledger
        self.reattached = 0  #: pending jobs re-attached by id

    @property
    def estimator(self):
        if self._estimator is None:
            self._estimator, self.mode = self._make_estimator()
        return self._estimator

    def close(self) -> None:
        """Close the ``Batch``/``Session`` if one was opened, and let go of the ledger."""
        if self.mode is not None:
            self.mode.close()
            self.mode = None
            self._estimator = None
        self._holding.close()

    def _opened_ledger(self) -> Ledger | None:
        """The ledger, held by this process from its first job until :meth:`close` (another
        process using it is an error naming that process), read again once held and checked
        writable before anything is submitted."""
        if self.ledger is not None and not self._ledger_held[0]:
            self._holding.enter_context(self.ledger.holding())
            self._holding.callback(self._ledger_held.__setitem__, 0, False)
            self._ledger_held[0] = True
            self.ledger.check_writable()
        return self.ledger

    # -- one run call ---------------------------------------------------------------------------
    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        if precision is not None:
            raise ValueError(
                f"LedgerEstimator: precision must be None (the device backend "
                f"samples shots={self.shots} per circuit), got {precision}"
            )
        pubs = [EstimatorPub.coerce(pub) for pub in pubs]
        if any(pub.precision is not None for pub in pubs):
            raise ValueError(
                "LedgerEstimator: PUB precision must be None (the device backend "
                f"samples shots={self.shots} per circuit)"
            )
        job = PrimitiveJob(self._execute, pubs)
        job._submit()
        return job

    def _execute(self, pubs: list[EstimatorPub]) -> PrimitiveResult:
        rows = sum(pub.parameter_values.size for pub in pubs)
        if self.max_executions is None or rows * self.shots <= self.max_executions:
            results = self._job(pubs)
        else:
            limit = max(1, self.max_executions // self.shots)  # rows per job
            results = []
            for pub in pubs:
                results += (
                    self._job([pub])
                    if pub.parameter_values.size <= limit
                    else [self._split(pub, limit)]
                )
        # a preview's zeros say so: readout mitigation must not calibrate on them
        metadata = {"shots": self.shots} | ({"preview": True} if self.preview is not None else {})
        return PrimitiveResult(
            [
                PubResult(DataBin(evs=evs, stds=stds, shape=evs.shape), metadata=dict(metadata))
                for evs, stds in results
            ],
            metadata={"version": 2},
        )

    def _split(self, pub: EstimatorPub, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """One PUB over several jobs of at most ``limit`` parameter rows each."""
        shape = pub.parameter_values.shape
        observables = pub.observables
        if observables.ndim != len(shape) + 1 or any(d != 1 for d in observables.shape[1:]):
            raise ValueError(
                f"LedgerEstimator: cannot split a PUB of {pub.parameter_values.size}"
                f" rows with observables of shape {observables.shape} over jobs of "
                f"at most {limit} rows (max_executions={self.max_executions})"
            )
        values = pub.parameter_values.as_array(pub.circuit.parameters).reshape(
            -1, pub.circuit.num_parameters
        )
        flat_observables = observables.reshape(observables.shape[0], 1)
        parts = [
            self._job(
                [
                    EstimatorPub.coerce(
                        (pub.circuit, flat_observables, values[start : start + limit])
                    )
                ]
            )[0]
            for start in range(0, len(values), limit)
        ]
        evs = np.concatenate([p[0] for p in parts], axis=1).reshape(-1, *shape)
        stds = np.concatenate([p[1] for p in parts], axis=1).reshape(-1, *shape)
        return evs, stds

    def _job(self, pubs: list[EstimatorPub]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One job: from the preview, the ledger, a re-attached job or a new submission."""
        if self.preview is not None:
            self.preview.count_job([(pub.circuit, pub.parameter_values.size) for pub in pubs])
            return [(np.zeros(pub.shape), np.zeros(pub.shape)) for pub in pubs]
        key = self.key(pubs)
        ledger = self._opened_ledger()
        if ledger is not None and (entry := ledger.finished(key)):
            saved = ledger.load_result(entry)
            if saved is not None:
                self.reused += 1
                return _unpack(saved, len(pubs))
        job = self._reattach(ledger.entries.get(key)) if ledger is not None else None
        result = None
        if job is not None:
            try:
                result = job.result()
            except Exception as exc:  # failed or cancelled: record it and submit again
                ledger.record(
                    {
                        "key": key,
                        "status": "failed",
                        "job_id": job.job_id(),
                        "error": type(exc).__name__,
                    }
                )
                job = None
        if job is None:
            if self.simulator_seed is not None:
                # one simulator seed per job, hashed from its key (which holds ``seed``): the
                # same job samples the same shots in every process, and different jobs sample
                # independently (one fixed seed would repeat the same shot noise in every job).
                # The library waits for each job before the next run, so no other run reads
                # this shared setting meanwhile (the same holds for the job tags below).
                self.estimator.seed_simulator = job_seed(key)
            tags = self.tags
            if self.service is not None:
                tags = [*self.tags, KEY_TAG + key]
                self.estimator.options.environment.job_tags = tags
            job = self.estimator.run(pubs)
            self.submitted += 1
            if ledger is not None:
                entry = {
                    "key": key,
                    "status": "submitted",
                    "job_id": job.job_id(),
                    "backend": self.backend_name,
                    "tags": tags,
                    "local": self.service is None,
                    "primitive": self.primitive,
                    "computes": self._describe(pubs),
                }
                if self.pricing is not None:
                    circuits = [(pub.circuit, pub.parameter_values.size) for pub in pubs]
                    entry["estimated_seconds"] = self.pricing.job(circuits, self.shots).seconds
                ledger.record(entry)
        if result is None:
            result = job.result()
        arrays = result_arrays(result)
        if ledger is not None:
            done = {"key": key, "status": "done", **ledger.save_result(key, arrays)}
            if self.service is not None:
                done["usage_seconds"] = job_usage(job)
            ledger.record(done)
        return _unpack(arrays, len(pubs))

    def _reattach(self, entry: dict[str, Any] | None):
        if entry is None or entry["status"] != "submitted" or self.service is None:
            return None
        try:
            job = self.service.job(entry["job_id"])
        except Exception:  # gone or not visible: submit again
            return None
        self.reattached += 1
        return job

    # -- keys -----------------------------------------------------------------------------------
    def key(self, pubs: list[EstimatorPub]) -> str:
        """What identifies a job's computation, the same in every process."""
        digest = hashlib.blake2b(self._key_prefix.encode(), digest_size=20)
        for pub in pubs:
            digest.update(self._circuit_digest(pub.circuit).encode())
            digest.update(str(pub.observables.tolist()).encode())
            values = np.ascontiguousarray(
                pub.parameter_values.as_array(pub.circuit.parameters), dtype=np.float64
            )
            digest.update(str(values.shape).encode() + values.tobytes())
        return digest.hexdigest()

    def _circuit_digest(self, circuit) -> str:
        if id(circuit) not in self._digests:
            text = [str(circuit.num_qubits)]
            for instruction in circuit.data:
                qubits = [circuit.find_bit(q).index for q in instruction.qubits]
                text.append(
                    f"{instruction.operation.name}{qubits}"
                    f"{[str(p) for p in instruction.operation.params]}"
                )
            digest = hashlib.blake2b("\n".join(text).encode(), digest_size=20).hexdigest()
            self._digests[id(circuit)] = (circuit, digest)
        return self._digests[id(circuit)][1]

    def _describe(self, pubs: list[EstimatorPub]) -> dict[str, Any]:
        return {
            "pubs": [
                {
                    "circuit": pub.circuit.name,
                    "rows": pub.parameter_values.size,
                    "observables": pub.observables.size,
                    "shape": list(pub.shape),
                }
                for pub in pubs
            ],
            "shots": self.shots,
        }


def result_arrays(result) -> dict[str, np.ndarray]:
    """An estimator job's result as the ledger saves it: ``evs_<k>`` and ``stds_<k>`` (float64)
    of its ``k``-th PUB."""
    arrays = {}
    for k, pub_result in enumerate(result):
        arrays[f"evs_{k}"] = np.asarray(pub_result.data.evs, dtype=np.float64)
        arrays[f"stds_{k}"] = np.asarray(pub_result.data.stds, dtype=np.float64)
    return arrays


def job_usage(job) -> float | None:
    """The QPU seconds IBM Quantum billed for a finished ``job`` (``job.usage()``), or ``None``
    where the job cannot tell (the error is not raised: the result is already saved)."""
    try:
        usage = job.usage()
    except Exception:  # an old runtime without usage(), or a metrics request that failed
        return None
    return None if usage is None else float(usage)


def job_seed(key: str) -> int:
    """The simulator seed of the job with ledger ``key`` (a hex digest), in ``[1, 2**31)``
    (never 0: the runtime's local mode treats a falsy seed as no seed)."""
    return int(key[:8], 16) % (2**31 - 1) + 1


def _unpack(arrays: dict[str, np.ndarray], count: int):
    return [(arrays[f"evs_{k}"], arrays[f"stds_{k}"]) for k in range(count)]
