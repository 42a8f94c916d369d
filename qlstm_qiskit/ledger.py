"""Jobs on devices: the job ledger, resuming, splitting over the per-job limit and cost previews.

:class:`LedgerEstimator` is the ``BaseEstimatorV2`` of every device backend. One ``run`` call (one
time step of the network) is one job, split into several only where ``rows × shots`` would exceed
``max_executions`` (:data:`MAX_EXECUTIONS_PER_JOB`, the service's per-job limit). Each job is

1. looked up in the ledger by its key (a hash of the device, the options that change results,
   the ISA circuit, the observables and the parameter values): a finished job's stored result is
   returned without submitting anything; a pending one is re-attached with ``service.job(id)``
   where the service can do that (IBM Quantum; local fake-device jobs cannot be retrieved after
   their process ended, so they are submitted again);
2. otherwise submitted, and its id, what it computes, its tags and the time are appended to the
   ledger (``ledger.jsonl``) BEFORE its result is waited on;
3. on arrival its expectation values are saved to ``results/<key>.npz`` and a ``done`` line is
   appended.

Running the same computation again with the same ledger therefore reads back every finished step
and submits only what is missing: a resumed run submits, in all, as many jobs as an uninterrupted
one. The ledger holds no credentials.

:class:`CostPreview` (``backend.preview()``): the same calls answered with zeros, nothing
submitted, counting jobs, circuits (parameter rows) and shots, with an estimate of QPU time
``executions × SECONDS_PER_SHOT + jobs × SECONDS_PER_JOB`` (rough: IBM's default repetition delay
of 250 µs per shot dominates short circuits; a few seconds of per-job overhead).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub

from .primitive import PrimitiveBackend
from .profiles import MAX_EXECUTIONS_PER_JOB

#: QPU seconds per shot in the cost estimate (about the default repetition delay, 250 µs).
SECONDS_PER_SHOT = 250e-6
#: QPU seconds of overhead per job in the cost estimate.
SECONDS_PER_JOB = 2.0
LEDGER_FILE = "ledger.jsonl"
#: test hook: exit the process (status 75) right after this many results were saved.
EXIT_AFTER_ENV = "QLSTM_QISKIT_EXIT_AFTER_RESULTS"
#: the options that change what a job computes (part of the ledger key).
_KEY_OPTIONS = ("shots", "seed", "optimization_level", "resilience_level", "twirling",
                "dynamical_decoupling")
#: how seeded local jobs are seeded (part of their ledger keys, so that results sampled under
#: another scheme, e.g. one fixed seed for every job, are never read back as these)
JOB_SEEDING = "per-job-key"


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
        return CostPreview(self.backend, self.shots, self.jobs * factor, self.circuits * factor,
                           self.per_job * factor)

    def report(self) -> str:
        largest = max(self.per_job, default=0)
        return "\n".join([
            f"cost preview for {self.backend} (dry run: nothing submitted)",
            f"  jobs:      {self.jobs}",
            f"  circuits:  {self.circuits} parameter rows (at most {largest} in one job)",
            f"  shots:     {self.shots} per circuit, {self.executions} in all",
            f"  QPU time:  ~{self.qpu_seconds:.1f} s estimated ({self.executions} shots x "
            f"{SECONDS_PER_SHOT * 1e3:g} ms + {self.jobs} jobs x {SECONDS_PER_JOB:g} s)"])


class Ledger:
    """A run's job ledger: ``ledger.jsonl`` (one JSON object a line, appended and fsynced) and
    ``results/<key>.npz`` in ``folder``. The last line of a key says its state."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)  # created with the first entry
        self.path = self.folder / LEDGER_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.lines: list[dict[str, Any]] = []
        if self.path.exists():
            text = self.path.read_text().splitlines()
            for number, line in enumerate(text, start=1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as exc:
                    if number == len(text):  # a line cut short by a crash: ignore it
                        break
                    raise ValueError(f"job ledger {self.path}: line {number} is not JSON "
                                     f"({exc})") from exc
                self.lines.append(entry)
                self.entries[entry["key"]] = {**self.entries.get(entry["key"], {}), **entry}

    def record(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` (it must hold ``key`` and ``status``) durably."""
        entry = {**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (self.folder / "results").mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.lines.append(entry)
        self.entries[entry["key"]] = {**self.entries.get(entry["key"], {}), **entry}

    def save_result(self, key: str, arrays: dict[str, np.ndarray]) -> str:
        """Write a result atomically; returns its file name relative to the ledger folder."""
        name = f"results/{key}.npz"
        temporary = self.folder / f"results/{key}.tmp.npz"
        with temporary.open("wb") as handle:  # on disk before the "done" line that names it
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.folder / name)
        return name

    def load_result(self, entry: dict[str, Any]) -> dict[str, np.ndarray] | None:
        """The saved arrays, or ``None`` when the file is missing or unreadable (e.g. cut short
        by a crash): the job is then computed again."""
        try:
            with np.load(self.folder / entry["result"]) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None

    def finished(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        if entry and entry["status"] == "done" and (self.folder / entry["result"]).exists():
            return entry
        return None

    @property
    def submitted(self) -> int:
        """Jobs submitted over every process that used this ledger."""
        return sum(1 for line in self.lines if line["status"] == "submitted")


class LedgerEstimator(BaseEstimatorV2):
    """The estimator of a device backend (see the module docstring).

    Args:
        make_estimator: builds ``(runtime estimator, Batch/Session or None)`` on first use.
        backend_name, options: the device's name and options (the ledger key's part).
        shots: shots per circuit; ``max_executions``: per-job limit on rows × shots.
        ledger: a :class:`Ledger` or ``None`` (no persistence).
        tags: the job tags (recorded in the ledger).
        service: what re-attaches pending jobs by id (``None``: they cannot be).
        simulator_seed: the ``seed`` of a local (fake-device) simulator: every job then samples
            with a seed of its own, :func:`job_seed` of its key (which holds ``seed``).
    """

    def __init__(self, make_estimator, *, backend_name: str, options: dict[str, Any], shots: int,
                 max_executions: int = MAX_EXECUTIONS_PER_JOB, ledger: Ledger | None = None,
                 tags: list[str] | None = None, service=None,
                 simulator_seed: int | None = None) -> None:
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
        seeding = {} if simulator_seed is None else {"seeding": JOB_SEEDING}
        self._key_prefix = json.dumps({"device": backend_name, **seeding,
                                       **{k: options.get(k) for k in _KEY_OPTIONS}},
                                      sort_keys=True, default=str)
        self._digests: dict[int, tuple[Any, str]] = {}
        #: set by :meth:`DeviceBackend.preview`: answer with zeros and count instead.
        self.preview: CostPreview | None = None
        self.submitted = 0  #: jobs submitted by this process
        self.reused = 0  #: jobs read back from the ledger
        self.reattached = 0  #: pending jobs re-attached by id
        self.results_saved = 0

    @property
    def estimator(self):
        if self._estimator is None:
            self._estimator, self.mode = self._make_estimator()
        return self._estimator

    def close(self) -> None:
        """Close the ``Batch``/``Session`` if one was opened."""
        if self.mode is not None:
            self.mode.close()
            self.mode = None
            self._estimator = None

    # -- one run call ---------------------------------------------------------------------------
    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        if precision is not None:
            raise ValueError(f"LedgerEstimator: precision must be None (the device backend "
                             f"samples shots={self.shots} per circuit), got {precision}")
        pubs = [EstimatorPub.coerce(pub) for pub in pubs]
        if any(pub.precision is not None for pub in pubs):
            raise ValueError("LedgerEstimator: PUB precision must be None (the device backend "
                             f"samples shots={self.shots} per circuit)")
        job = PrimitiveJob(self._execute, pubs)
        job._submit()
        return job

    def _execute(self, pubs: list[EstimatorPub]) -> PrimitiveResult:
        limit = max(1, self.max_executions // self.shots)  # rows per job
        if sum(pub.parameter_values.size for pub in pubs) <= limit:
            results = self._job(pubs)
        else:
            results = []
            for pub in pubs:
                results += (self._job([pub]) if pub.parameter_values.size <= limit
                            else [self._split(pub, limit)])
        return PrimitiveResult([PubResult(DataBin(evs=evs, stds=stds, shape=evs.shape),
                                          metadata={"shots": self.shots})
                                for evs, stds in results], metadata={"version": 2})

    def _split(self, pub: EstimatorPub, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """One PUB over several jobs of at most ``limit`` parameter rows each."""
        shape = pub.parameter_values.shape
        observables = pub.observables
        if observables.ndim != len(shape) + 1 or any(d != 1 for d in observables.shape[1:]):
            raise ValueError(f"LedgerEstimator: cannot split a PUB of {pub.parameter_values.size}"
                             f" rows with observables of shape {observables.shape} over jobs of "
                             f"at most {limit} rows (max_executions={self.max_executions})")
        values = pub.parameter_values.as_array(pub.circuit.parameters).reshape(
            -1, pub.circuit.num_parameters)
        flat_observables = observables.reshape(observables.shape[0], 1)
        parts = [self._job([EstimatorPub.coerce((pub.circuit, flat_observables,
                                                 values[start:start + limit]))])[0]
                 for start in range(0, len(values), limit)]
        evs = np.concatenate([p[0] for p in parts], axis=1).reshape(-1, *shape)
        stds = np.concatenate([p[1] for p in parts], axis=1).reshape(-1, *shape)
        return evs, stds

    def _job(self, pubs: list[EstimatorPub]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One job: from the preview, the ledger, a re-attached job or a new submission."""
        rows = sum(pub.parameter_values.size for pub in pubs)
        if self.preview is not None:
            self.preview.jobs += 1
            self.preview.circuits += rows
            self.preview.per_job.append(rows)
            return [(np.zeros(pub.shape), np.zeros(pub.shape)) for pub in pubs]
        key = self.key(pubs)
        ledger = self.ledger
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
                ledger.record({"key": key, "status": "failed", "job_id": job.job_id(),
                               "error": type(exc).__name__})
                job = None
        if job is None:
            if self.simulator_seed is not None:
                # one simulator seed per job, hashed from its key (which holds ``seed``): the
                # same job samples the same shots in every process, and different jobs sample
                # independently (one fixed seed would repeat the same shot noise in every job).
                # The library waits for each job before the next run, so no other run reads
                # these shared options meanwhile.
                self.estimator.options.simulator.seed_simulator = job_seed(key)
            job = self.estimator.run(pubs)
            self.submitted += 1
            if ledger is not None:
                ledger.record({"key": key, "status": "submitted", "job_id": job.job_id(),
                               "backend": self.backend_name, "tags": self.tags,
                               "local": self.service is None,
                               "computes": self._describe(pubs)})
        if result is None:
            result = job.result()
        arrays = {}
        for k, pub_result in enumerate(result):
            arrays[f"evs_{k}"] = np.asarray(pub_result.data.evs, dtype=np.float64)
            arrays[f"stds_{k}"] = np.asarray(pub_result.data.stds, dtype=np.float64)
        if ledger is not None:
            name = ledger.save_result(key, arrays)
            ledger.record({"key": key, "status": "done", "result": name})
            self.results_saved += 1
            exit_after = os.environ.get(EXIT_AFTER_ENV)
            if exit_after and self.results_saved >= int(exit_after):
                os._exit(75)
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
                pub.parameter_values.as_array(pub.circuit.parameters), dtype=np.float64)
            digest.update(str(values.shape).encode() + values.tobytes())
        return digest.hexdigest()

    def _circuit_digest(self, circuit) -> str:
        if id(circuit) not in self._digests:
            text = [str(circuit.num_qubits)]
            for instruction in circuit.data:
                qubits = [circuit.find_bit(q).index for q in instruction.qubits]
                text.append(f"{instruction.operation.name}{qubits}"
                            f"{[str(p) for p in instruction.operation.params]}")
            digest = hashlib.blake2b("\n".join(text).encode(), digest_size=20).hexdigest()
            self._digests[id(circuit)] = (circuit, digest)
        return self._digests[id(circuit)][1]

    def _describe(self, pubs: list[EstimatorPub]) -> dict[str, Any]:
        return {"pubs": [{"circuit": pub.circuit.name, "rows": pub.parameter_values.size,
                          "observables": pub.observables.size, "shape": list(pub.shape)}
                         for pub in pubs], "shots": self.shots}


def job_seed(key: str) -> int:
    """The simulator seed of the job with ledger ``key`` (a hex digest), in ``[1, 2**31)``
    (never 0: the runtime's local mode treats a falsy seed as no seed)."""
    return int(key[:8], 16) % (2**31 - 1) + 1


def _unpack(arrays: dict[str, np.ndarray], count: int):
    return [(arrays[f"evs_{k}"], arrays[f"stds_{k}"]) for k in range(count)]


class DeviceBackend(PrimitiveBackend):
    """A ``fake_<device>`` or ``ibm_<device>`` backend (built by
    :func:`qlstm_qiskit.devices.device_backend`): a :class:`PrimitiveBackend` whose estimator is
    a :class:`LedgerEstimator` around the runtime estimator.

    ``computes`` is ``"noisy"``: sampled shots on the device's noise model (fake devices) or on
    the hardware. See :mod:`qlstm_qiskit.devices` for what local testing mode does."""

    def __init__(self, device, opts: dict[str, Any], *, name: str, computes: str, local: bool,
                 gradient: str, pass_manager) -> None:
        from .devices import job_tags, make_estimator

        self.device = device
        self.local = local
        ledger = Ledger(opts["ledger"]) if opts["ledger"] is not None else None
        service = None if local else getattr(device, "service", None)
        estimator = LedgerEstimator(lambda: make_estimator(device, opts, local),
                                    backend_name=name, options=opts, shots=opts["shots"],
                                    max_executions=opts["max_executions"], ledger=ledger,
                                    tags=job_tags(opts), service=service,
                                    simulator_seed=opts["seed"] if local else None)
        shown = {k: v for k, v in opts.items()
                 if v is not None and (gradient == "spsa" or not k.startswith("spsa"))
                 and not (k == "max_executions" and v == MAX_EXECUTIONS_PER_JOB)}
        super().__init__(estimator, name=name, computes=computes, gradient=gradient,
                         pass_manager=pass_manager, spsa_samples=opts["spsa_samples"],
                         spsa_epsilon=opts["spsa_epsilon"], seed=opts["seed"], options=shown)

    @property
    def real(self) -> bool:
        """Whether jobs go to IBM Quantum hardware (not a local fake device)."""
        return not self.local

    @contextmanager
    def preview(self):
        """Within the block, estimator calls are counted (and answered with zeros), nothing is
        submitted; yields the :class:`CostPreview`."""
        preview = CostPreview(self.name, self.estimator.shots)
        self.estimator.preview = preview
        try:
            yield preview
        finally:
            self.estimator.preview = None

    def close(self) -> None:
        """Close the ``Batch``/``Session`` of ``execution="batch"``/``"session"``."""
        self.estimator.close()


def device_backends(model) -> list[DeviceBackend]:
    """The distinct :class:`DeviceBackend` objects a model's QLSTM layers run on."""
    found: dict[int, DeviceBackend] = {}
    for module in model.modules():
        backend = getattr(module, "backend", None)
        if isinstance(backend, DeviceBackend):
            found[id(backend)] = backend
    return list(found.values())


@contextmanager
def preview(model):
    """Count what ``model`` would submit within the block (see :meth:`DeviceBackend.preview`);
    yields one :class:`CostPreview` (summed over the model's device backends once it ends)."""
    backends = device_backends(model)
    if not backends:
        raise ValueError("preview: the model runs on no device backend (fake_<device> or "
                         "ibm_<device>); a dry run needs one")
    total = CostPreview(" + ".join(b.name for b in backends), backends[0].estimator.shots)
    with _all_previews(backends) as previews:
        yield total
        for item in previews:
            total.add(item)


@contextmanager
def _all_previews(backends):
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield [stack.enter_context(b.preview()) for b in backends]
