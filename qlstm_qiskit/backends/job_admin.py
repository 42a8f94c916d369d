"""A run's IBM Quantum jobs, administered from its ledger: listed, refreshed, rebuilt, cancelled.

- :func:`summarise`: one :class:`JobRow` per ledger key (its latest submission: status, job id,
  backend, tags, estimated and billed QPU seconds, local or remote) and the totals; no service.
- :func:`refresh`: asks the service for each remote job still ``submitted`` in the ledger and
  records what it learns: a finished job's result and billed seconds (``done``), a failed or
  cancelled job (``failed``/``cancelled``); a pending job's state is only reported.
- :func:`rebuild`: writes a lost ledger again from ``service.jobs(job_tags=[run name])``: every
  job tagged ``qlstm-key:<key>`` (:data:`~qlstm_qiskit.backends.jobs.KEY_TAG`) gets its
  ``submitted`` line and, where it ended, its result and ``done`` line (or ``failed``/
  ``cancelled``); a run with the rebuilt ledger then reads finished jobs back and re-attaches
  pending ones instead of submitting them again.
- :func:`cancel`: cancels the remote jobs still ``submitted`` in the ledger that the service says
  are pending and appends a ``cancelled`` line (a later run submits them again).

The lines are those :class:`~qlstm_qiskit.backends.jobs.LedgerEstimator` writes (results as
``results/<key>.npz`` of ``evs_<k>``/``stds_<k>``). ``service`` is a ``QiskitRuntimeService``
(:func:`~qlstm_qiskit.backends.ibm_runtime.runtime_service`); nothing of it but job ids, tags,
device names, states and usage figures reaches the ledger, and messages quoting the service have
the token redacted. Local fake-device jobs cannot be retrieved after the process that ran them
ended: refresh and cancel report them and leave them as they are.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ibm_runtime import redact
from .jobs import KEY_TAG, job_usage, result_arrays
from .ledger import LEDGER_FILE, Ledger

#: states of a job at IBM Quantum (``RuntimeJobV2.status()``) in which it can still be cancelled
PENDING_STATES = ("INITIALIZING", "QUEUED", "RUNNING")
#: what a ledger line of a job that IBM Quantum reports ended without a result says
ENDED_STATES = {"ERROR": "failed", "CANCELLED": "cancelled"}
LOCAL_JOBS = (
    "local fake-device jobs cannot be retrieved after the process that ran them ended (a later "
    "run of the same computation with this ledger submits the unfinished ones again)"
)
#: a ledger key: the 40 hex digits of LedgerEstimator.key
_KEY = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class JobRow:
    """A ledger key's latest submission: ``status`` (``submitted``, ``done``, ``failed`` or
    ``cancelled``), ``job_id``, ``backend`` (the device's name), ``tags`` (as submitted, the key
    tag of a remote job included), ``local`` (a fake-device job), ``estimated_seconds`` (the
    QPU seconds estimated before it was submitted, ``None`` where unknown) and ``usage_seconds``
    (the QPU seconds IBM Quantum billed, ``None`` until it is known or for a local job)."""

    key: str
    status: str
    job_id: str | None
    backend: str | None
    tags: tuple[str, ...]
    local: bool
    estimated_seconds: float | None
    usage_seconds: float | None


@dataclass(frozen=True)
class LedgerSummary:
    """The jobs of the ledger in ``folder``: ``rows`` (one per key, in the order the keys were
    first submitted) and ``submissions`` (submitted lines over every attempt)."""

    folder: Path
    rows: tuple[JobRow, ...]
    submissions: int

    @property
    def estimated_seconds(self) -> float:
        """The estimated QPU seconds of the rows that have an estimate."""
        return sum(r.estimated_seconds for r in self.rows if r.estimated_seconds is not None)

    @property
    def usage_seconds(self) -> float:
        """The billed QPU seconds of the rows that have a usage figure."""
        return sum(r.usage_seconds for r in self.rows if r.usage_seconds is not None)

    def totals(self) -> str:
        """``N jobs (a done, b submitted ...): r on IBM Quantum, l local; estimated E s,
        billed B s (of k jobs); S submissions in all``."""
        counts = Counter(r.status for r in self.rows)
        states = ", ".join(f"{n} {status}" for status, n in counts.items())
        local = sum(r.local for r in self.rows)
        billed = sum(r.usage_seconds is not None for r in self.rows)
        return (
            f"{count_of(len(self.rows), 'job')} ({states or 'none'}): {len(self.rows) - local} on "
            f"IBM Quantum, {local} local; estimated {self.estimated_seconds:.1f} s, billed "
            f"{self.usage_seconds:.1f} s (of {count_of(billed, 'job')}); "
            f"{count_of(self.submissions, 'submission')} in all"
        )


@dataclass(frozen=True)
class JobReport:
    """What an action did with one job: ``outcome`` (``done``, ``failed``, ``cancelled``, a
    pending or unknown state in lower case, ``local``, ``not found``, ``not pending``, ``not
    cancelled``, ``no result``) and ``detail`` (a sentence)."""

    key: str
    job_id: str | None
    outcome: str
    detail: str


@dataclass
class RebuildReport:
    """What :func:`rebuild` found: ``found`` (jobs with the run's tag), ``recovered`` (one
    :class:`JobReport` per key written), ``kept`` (keys the ledger already held, merge only),
    ``untagged`` (ids of jobs without exactly one valid ledger key tag, skipped) and
    ``superseded`` (ids of other jobs of a recovered key, e.g. a failed attempt before the one
    recovered)."""

    folder: Path
    found: int = 0
    recovered: list[JobReport] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)


def count_of(number: int, noun: str) -> str:
    """``"1 job"``, ``"2 jobs"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def ledger_folders(path: str | Path) -> list[Path]:
    """The ledger folders ``path`` names: a ``ledger.jsonl`` file's folder, a folder holding
    ``ledger.jsonl``, or the folders directly inside ``path`` (a run directory) that hold one
    (train's ``RUN_DIR/ledger``, evaluate's ``OUT/evaluate-ledger``, predict's
    ``OUT_STEM-ledger``...). ``ValueError`` when there is none."""
    path = Path(path)
    expected = (
        "expected a ledger folder (holding ledger.jsonl), a ledger.jsonl file, or a run "
        "directory holding ledger folders (train: RUN_DIR/ledger, evaluate: OUT/evaluate-ledger, "
        "predict: OUT_STEM-ledger, or the --ledger folder of the run)"
    )
    if path.is_file():
        if path.name != LEDGER_FILE:
            raise ValueError(f"{path} is a file but not a {LEDGER_FILE}; {expected}")
        return [path.parent]
    if not path.is_dir():
        raise ValueError(f"no job ledger at {path}: it does not exist; {expected}")
    if (path / LEDGER_FILE).is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and (p / LEDGER_FILE).is_file())
    if not found:
        raise ValueError(f"no job ledger in {path}; {expected}")
    return found


def latest_entries(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """Each key's latest submission: its last ``submitted`` line merged with the lines after it
    (so that a resubmitted job never shows the usage or error of an earlier attempt)."""
    latest: dict[str, dict[str, Any]] = {}
    for line in ledger.lines:
        key = line["key"]
        if line["status"] == "submitted" or key not in latest:
            latest[key] = dict(line)
        else:
            latest[key].update(line)
    return latest


def summarise(ledger: Ledger) -> LedgerSummary:
    """The ledger's jobs (see :class:`LedgerSummary`); asks no service."""
    rows = tuple(
        JobRow(
            key=key,
            status=entry["status"],
            job_id=entry.get("job_id"),
            backend=entry.get("backend"),
            tags=tuple(entry.get("tags") or ()),
            local=bool(entry.get("local", False)),
            estimated_seconds=entry.get("estimated_seconds"),
            usage_seconds=entry.get("usage_seconds"),
        )
        for key, entry in latest_entries(ledger).items()
    )
    return LedgerSummary(ledger.folder, rows, ledger.submitted)


def submitted_remote(ledger: Ledger) -> list[JobRow]:
    """The remote jobs whose latest state in the ledger is ``submitted`` (what :func:`refresh`
    asks about and :func:`cancel` may cancel)."""
    return [r for r in summarise(ledger).rows if r.status == "submitted" and not r.local]


def require_remote(ledger: Ledger, action: str) -> None:
    """``ValueError`` unless the ledger holds a job of IBM Quantum (``action`` names what needs
    one, e.g. ``"--refresh"``)."""
    rows = summarise(ledger).rows
    if not rows:
        raise ValueError(f"{action}: the job ledger {ledger.path} holds no jobs")
    if all(r.local for r in rows):
        raise ValueError(
            f"{action}: the job ledger {ledger.folder} holds only local fake-device jobs; "
            f"{LOCAL_JOBS}"
        )


def job_state(job) -> str:
    """A runtime job's state in upper case (``"QUEUED"``, ``"DONE"``...), whether the runtime
    returns a string or a ``JobStatus`` enum member."""
    return str(job.status()).rsplit(".", 1)[-1].upper()


def refresh(ledger: Ledger, service) -> list[JobReport]:
    """Ask ``service`` for every remote job still ``submitted`` in ``ledger`` and record what it
    learns (see the module docstring); returns one report per job asked about, and one per local
    job still ``submitted`` (which cannot be asked about). Holds the ledger meanwhile
    (:meth:`Ledger.holding`: a run using it is an error naming that process)."""
    with ledger.holding():
        require_remote(ledger, "refresh")
        reports = _local_reports(ledger)
        for row in submitted_remote(ledger):
            job, report = _retrieve(service, row)
            reports.append(report if job is None else _record_outcome(ledger, row.key, job))
        return reports


def cancel(ledger: Ledger, service) -> list[JobReport]:
    """Cancel every remote job still ``submitted`` in ``ledger`` that ``service`` says is pending
    (:data:`PENDING_STATES`) and append its ``cancelled`` line; jobs that are no longer pending
    are reported (:func:`refresh` records them). Returns one report per job asked about, and one
    per local job still ``submitted`` (which cannot be cancelled). Holds the ledger meanwhile."""
    with ledger.holding():
        return _cancel(ledger, service)


def _cancel(ledger: Ledger, service) -> list[JobReport]:
    require_remote(ledger, "cancel")
    reports = _local_reports(ledger)
    for row in submitted_remote(ledger):
        job, report = _retrieve(service, row)
        if job is None:
            reports.append(report)
            continue
        state = job_state(job)
        if state not in PENDING_STATES:
            reports.append(
                JobReport(
                    row.key,
                    row.job_id,
                    "not pending",
                    f"IBM Quantum says {state}: not cancelled (--refresh records it)",
                )
            )
            continue
        try:
            job.cancel()
        except Exception as exc:  # the service refused (e.g. it ended meanwhile): say why
            reports.append(
                JobReport(row.key, row.job_id, "not cancelled", _quote(exc, "the cancel failed"))
            )
            continue
        ledger.record(
            {"key": row.key, "status": "cancelled", "job_id": row.job_id, "cancelled_while": state}
        )
        reports.append(JobReport(row.key, row.job_id, "cancelled", f"cancelled while {state}"))
    return reports


def check_rebuild_target(folder: str | Path, merge: bool) -> Ledger:
    """The ledger :func:`rebuild` writes to; ``ValueError`` when it already holds jobs and
    ``merge`` is false, or holds only local jobs."""
    ledger = Ledger(folder)
    if ledger.lines:
        if not merge:
            raise ValueError(
                f"rebuild: the job ledger {ledger.path} already holds "
                f"{count_of(len(latest_entries(ledger)), 'job')}; pass merge=True (--merge) to "
                "add only the jobs it is missing"
            )
        require_remote(ledger, "rebuild")
    return ledger


def rebuild(folder: str | Path, service, run_name: str, *, merge: bool = False) -> RebuildReport:
    """Write the ledger in ``folder`` from the jobs ``service.jobs(job_tags=[run_name],
    limit=None)`` lists (see the module docstring). A key with several jobs (a failed attempt,
    then another) is recovered from the one that finished, else the newest pending one, else the
    newest. Refuses an existing non-empty ledger unless ``merge`` (then only missing keys are
    added). ``ValueError`` when no job carries the tag ``run_name``."""
    if not isinstance(run_name, str) or not run_name:
        raise ValueError(f"rebuild: run_name must be a non-empty string, got {run_name!r}")
    with Ledger(folder).holding():
        return _rebuild(folder, service, run_name, merge)


def _rebuild(folder: str | Path, service, run_name: str, merge: bool) -> RebuildReport:
    ledger = check_rebuild_target(folder, merge)
    report = RebuildReport(ledger.folder)
    jobs = list(service.jobs(job_tags=[run_name], limit=None))
    report.found = len(jobs)
    if not jobs:
        raise ValueError(
            f"rebuild: IBM Quantum lists no job tagged {run_name!r} for this account (the run's "
            "name is its jobs' first tag: train's run directory name, evaluate's OUT name "
            "+ '-evaluate', predict's output stem, or the run_name option)"
        )
    by_key: dict[str, list] = {}
    for job in reversed(jobs):  # the service lists the newest first: oldest first here
        keys = {t[len(KEY_TAG) :] for t in _tags(job) if t.startswith(KEY_TAG)}
        if len(keys) != 1 or not _KEY.fullmatch(next(iter(keys))):
            report.untagged.append(job.job_id())
            continue
        by_key.setdefault(keys.pop(), []).append(job)
    for key, candidates in by_key.items():
        if key in ledger.entries:
            report.kept.append(key)
            continue
        states = [job_state(j) for j in candidates]
        chosen = max(
            range(len(candidates)),
            key=lambda i: (states[i] == "DONE", states[i] in PENDING_STATES, i),
        )
        job = candidates[chosen]
        report.superseded += [j.job_id() for j in candidates if j is not job]
        ledger.record(
            {
                "key": key,
                "status": "submitted",
                "job_id": job.job_id(),
                "backend": _backend_name(job),
                "tags": _tags(job),
                "local": False,
                "rebuilt": True,
            }
        )
        report.recovered.append(_record_outcome(ledger, key, job, states[chosen]))
    return report


def _local_reports(ledger: Ledger) -> list[JobReport]:
    return [
        JobReport(r.key, r.job_id, "local", LOCAL_JOBS)
        for r in summarise(ledger).rows
        if r.status == "submitted" and r.local
    ]


def _retrieve(service, row: JobRow):
    """``(service.job(id), None)``, or ``(None, report)`` when the service cannot find it."""
    try:
        return service.job(row.job_id), None
    except Exception as exc:  # gone, not visible to this account, or the request failed
        detail = _quote(exc, "IBM Quantum did not return it") + (
            "; a later run with this ledger submits it again"
        )
        return None, JobReport(row.key, row.job_id, "not found", detail)


def _record_outcome(ledger: Ledger, key: str, job, state: str | None = None) -> JobReport:
    """Record what ``job`` (the latest submission of ``key``) has come to: its result and a
    ``done`` line, a ``failed``/``cancelled`` line, or nothing while it is pending."""
    job_id = job.job_id()
    state = job_state(job) if state is None else state
    if state == "DONE":
        try:
            arrays = result_arrays(job.result())
        except Exception as exc:  # expired or unreadable: a later run re-attaches and decides
            return JobReport(key, job_id, "no result", _quote(exc, "DONE, but its result failed"))
        saved = ledger.save_result(key, arrays)
        usage = job_usage(job)
        ledger.record(
            {"key": key, "status": "done", "job_id": job_id, **saved, "usage_seconds": usage}
        )
        billed = "unknown" if usage is None else f"{usage:g} s"
        return JobReport(key, job_id, "done", f"result saved to {saved['result']}; billed {billed}")
    if state in ENDED_STATES:
        entry = {"key": key, "status": ENDED_STATES[state], "job_id": job_id, "job_status": state}
        message = _error_message(job)
        if message:
            entry["error"] = message
        usage = job_usage(job)
        if usage is not None:
            entry["usage_seconds"] = usage
        ledger.record(entry)
        detail = f"IBM Quantum says {state}" + (f" ({message})" if message else "")
        detail += "; a later run submits it again"
        return JobReport(key, job_id, ENDED_STATES[state], detail)
    if state in PENDING_STATES:
        return JobReport(key, job_id, state.lower(), f"still {state} at IBM Quantum")
    return JobReport(key, job_id, state.lower(), f"IBM Quantum says {state}: nothing recorded")


def _tags(job) -> list[str]:
    tags = job.tags
    return list(tags() if callable(tags) else tags or ())


def _backend_name(job) -> str | None:
    try:
        return job.backend().name
    except Exception:  # an old job whose device is retired: its name is not essential
        return None


def _error_message(job) -> str | None:
    read = getattr(job, "error_message", None)
    if read is None:
        return None
    try:
        message = read()
    except Exception:  # the message is a detail; the job's state is recorded either way
        return None
    return None if not message else redact(str(message))[:200]


def _quote(exc: Exception, what: str) -> str:
    return f"{what} ({type(exc).__name__}: {redact(str(exc))[:200]})"
