"""The command line's device flags (``--execution``, ``--shots``, ``--run-name``, ``--ledger``,
``--dry-run``, ``--max-qpu-seconds``, ``--force``, ``--yes``) and what they do around a run:
defaults for the run's name and ledger, the cost preview, the QPU-time budget, the IBM Quantum
instance's remaining usage, the confirmation for real devices, the job summary, and closing
batches and sessions."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..backends.devices import device_backends
from ..backends.ibm_account import AccountUsage, account_usage
from ..backends.profiles import EXECUTION_MODES
from ..forecasting.backend_specs import is_device

_FLAGS = {
    "shots": "--shots",
    "execution": "--execution",
    "run_name": "--run-name",
    "ledger": "--ledger",
}


class NotConfirmed(ValueError):
    """The user did not confirm a submission to real hardware."""


class OverBudget(ValueError):
    """The estimated QPU time exceeds ``--max-qpu-seconds``."""


class OverUsage(OverBudget):
    """The estimated QPU time exceeds what remains of the IBM Quantum instance's usage."""


def add_device_flags(parser: argparse.ArgumentParser, ledger_default: str) -> None:
    """The device flags, in their own group."""
    group = parser.add_argument_group(
        "devices",
        "for fake_<device> and ibm_<device> backends (more options as backend "
        "options, e.g. fake_manila:resilience_level=1,twirling=true,dynamical_decoupling=XY4,"
        "seed=1,optimization_level=2,job_tags=mytag)",
    )
    group.add_argument(
        "--execution",
        choices=EXECUTION_MODES,
        help="job: each job on its own; batch or session: the jobs in one "
        "runtime Batch / Session (default: job)",
    )
    group.add_argument("--shots", type=int, metavar="N", help="shots per circuit (default: 1024)")
    group.add_argument(
        "--run-name",
        metavar="NAME",
        help="tag of every job (default: the run directory's or output's name)",
    )
    group.add_argument(
        "--ledger",
        metavar="DIR",
        help="job ledger: finished jobs are read back, "
        f"nothing completed is submitted again (default: {ledger_default})",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="print the jobs, circuits, shots, executions and estimated QPU seconds with "
        "their breakdown (IBM's usage model), submit nothing",
    )
    group.add_argument(
        "--max-qpu-seconds",
        type=float,
        metavar="S",
        help="refuse to submit anything when the estimated QPU time (as --dry-run prints it) "
        "exceeds S seconds",
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="on IBM Quantum, submit even when the estimated QPU time exceeds what remains of "
        "the instance's usage (service.usage(); by default such a run is refused)",
    )
    group.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation before submitting to IBM Quantum hardware",
    )


def device_options(
    args: argparse.Namespace,
    name: str | None,
    options: dict[str, Any],
    *,
    run_name: str,
    ledger: Path,
) -> dict[str, Any]:
    """``options`` with the device flags (they win over the spec) and the defaults of
    ``run_name`` and ``ledger`` for a device backend; device flags with another backend are an
    error."""
    given = {key: getattr(args, key) for key in _FLAGS if getattr(args, key) is not None}
    if name is None or not is_device(name):
        flags = [_FLAGS[k] for k in given] + [
            f
            for f in ("--dry-run", "--max-qpu-seconds", "--force", "--yes")
            if getattr(args, f[2:].replace("-", "_"), None) not in (None, False)
        ]
        if flags:
            raise ValueError(
                f"{', '.join(flags)} apply only to device backends (fake_<device>, "
                f"ibm_<device>), got backend {name!r}"
            )
        return options
    return {"run_name": run_name, "ledger": str(ledger), **options, **given}


def check_flags_agree(args: argparse.Namespace, spec: str, options: dict[str, Any]) -> None:
    """A device flag (``--shots``, ``--execution``, ``--run-name``, ``--ledger``) and the same
    option in the backend spec ``spec`` the user typed must not disagree: which one was meant
    cannot be told. Equal values are accepted."""
    for key, flag in _FLAGS.items():
        value = getattr(args, key, None)
        if value is not None and key in options and options[key] != value:
            raise ValueError(
                f"{flag} {value} and {key}={options[key]} in the backend spec {spec!r} "
                "disagree; give the value once (or the same value in both)"
            )


def confirm_or_preview(args: argparse.Namespace, models, cost) -> bool:
    """Before anything is submitted: with ``--dry-run`` print the cost preview ``cost()`` and
    return False (do not run); with ``--max-qpu-seconds S`` refuse (:class:`OverBudget`) when
    its estimate exceeds ``S`` (after printing it on a dry run); on IBM Quantum (real devices)
    show the instance's remaining usage with the preview and refuse (:class:`OverUsage`) when
    the estimate exceeds it, unless ``--force``; for real hardware print it and ask
    ``Proceed? [y/N]`` unless ``--yes``. Returns whether to run."""
    backends = [b for model in models for b in device_backends(model)]
    if not backends:
        return True
    budget = getattr(args, "max_qpu_seconds", None)
    if budget is not None and not budget > 0:  # also refuses NaN
        raise ValueError(f"--max-qpu-seconds: the budget must be > 0 seconds, got {budget}")
    force = getattr(args, "force", False)
    real = [b for b in backends if b.real]
    ask = bool(real) and not args.yes
    show = args.dry_run or ask
    if not (show or budget is not None or (real and not force)):
        return True
    preview = cost()
    usages = _usages(real, force) if show or not force else {}
    if show:
        print(preview.report())
        for line in usages.values():
            print(f"  {line if isinstance(line, str) else line.describe()}")
    if budget is not None and preview.qpu_seconds > budget:
        raise OverBudget(
            f"estimated QPU time {preview.qpu_seconds:.1f} s exceeds --max-qpu-seconds "
            f"{budget:g}; nothing was submitted"
        )
    for usage in usages.values():
        if not force and not usage.covers(preview.qpu_seconds):
            raise OverUsage(
                f"estimated QPU time {preview.qpu_seconds:.1f} s exceeds what remains on this "
                f"IBM Quantum instance ({usage.describe().removeprefix('usage:').strip()}); "
                "nothing was submitted (pass --force to submit anyway)"
            )
    if args.dry_run:
        return False
    if not ask:
        return True
    print("Proceed? [y/N] ", end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise NotConfirmed("not confirmed: nothing was submitted (pass --yes to skip the question)")
    return True


def _usages(real, force: bool) -> dict[int, AccountUsage | str]:
    """The usage of each distinct service of the real-device backends ``real``. A usage that
    cannot be read refuses the run, unless ``force``: then the line says why it is unknown."""
    found: dict[int, AccountUsage | str] = {}
    for backend in real:
        service = backend.service
        if id(service) in found:
            continue
        try:
            found[id(service)] = account_usage(service)
        except ValueError as exc:
            if not force:
                raise OverUsage(
                    f"{backend.name}: {exc}; the estimate cannot be checked against the "
                    "instance's remaining usage, nothing was submitted (pass --force to submit "
                    "without the check)"
                ) from exc
            found[id(service)] = f"usage:     unknown ({exc}); --force: not checked"
    return found


def job_summary(model) -> str:
    """``jobs: N submitted, M read back from the ledger, K re-attached`` over the device backends
    of ``model`` (empty for other backends)."""
    parts = []
    for backend in device_backends(model):
        estimator = backend.estimator
        ledger = estimator.ledger
        where = f"; ledger {ledger.folder}: {ledger.submitted} submitted in all" if ledger else ""
        parts.append(
            f"{backend.name} jobs: {estimator.submitted} submitted, {estimator.reused} "
            f"read back from the ledger, {estimator.reattached} re-attached{where}"
        )
    return "\n".join(parts)


@contextmanager
def closing_devices(models):
    """Close the batches and sessions of the models' device backends at the end."""
    try:
        yield
    finally:
        for model in models:
            for backend in device_backends(model):
                backend.close()
