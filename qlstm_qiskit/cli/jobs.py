"""``qlstm-qiskit jobs RUN_DIR|LEDGER``: the jobs of a run's ledgers, listed; with ``--refresh``
re-attached (finished results and billed seconds recorded), with ``--rebuild`` a lost ledger
written again from IBM Quantum's job tags, with ``--cancel`` pending jobs cancelled. Listing asks
no service; the other actions use :func:`~qlstm_qiskit.backends.ibm_runtime.runtime_service`
(the saved account or ``QISKIT_IBM_TOKEN``). The work is done by
:mod:`~qlstm_qiskit.backends.job_admin`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..backends.ibm_runtime import runtime_service
from ..backends.job_admin import (
    JobRow,
    LedgerSummary,
    RebuildReport,
    cancel,
    check_rebuild_target,
    count_of,
    ledger_folders,
    rebuild,
    refresh,
    require_remote,
    submitted_remote,
    summarise,
)
from ..backends.jobs import KEY_TAG
from ..backends.ledger import LEDGER_FILE, Ledger
from ..forecasting.training import CHECKPOINT
from .device_flags import NotConfirmed
from .errors import CommandError
from .tables import format_table

#: the listing's columns (the numbers right-aligned)
COLUMNS = ["key", "status", "job id", "backend", "estimated s", "billed s", "tags"]
KEY_SHOWN = 12  # hex digits of the key in the listing


def add_jobs(commands) -> None:
    """The ``jobs`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "jobs",
        help="list, refresh, rebuild or cancel the device jobs of a run's ledger",
        description="List the jobs of a job ledger (status, job id, backend, estimated and "
        "billed QPU seconds, tags) with totals. RUN_DIR|LEDGER: a ledger folder, its "
        f"{LEDGER_FILE}, or a run directory (every ledger folder directly inside it: train's "
        "RUN_DIR/ledger, evaluate's evaluate-ledger, predict's OUT_STEM-ledger). The actions "
        "ask IBM Quantum (the saved account or QISKIT_IBM_TOKEN); local fake-device jobs "
        "cannot be retrieved after their process ended.",
    )
    p.add_argument("path", metavar="RUN_DIR|LEDGER", help="a run directory or a job ledger")
    action = p.add_mutually_exclusive_group()
    action.add_argument(
        "--refresh",
        action="store_true",
        help="ask IBM Quantum for every job still submitted: save finished results with "
        "their billed seconds, record failed and cancelled jobs, report pending ones",
    )
    action.add_argument(
        "--rebuild",
        action="store_true",
        help="write a lost ledger again from the jobs IBM Quantum lists with the tag "
        "--run-name (into LEDGER; a train run directory: RUN_DIR/ledger)",
    )
    action.add_argument(
        "--cancel",
        action="store_true",
        help="cancel the jobs still submitted that IBM Quantum says are pending (a later run "
        "submits them again)",
    )
    p.add_argument(
        "--run-name",
        metavar="NAME",
        help="with --rebuild: the run's name, its jobs' first tag (train: the run directory's "
        "name; evaluate: OUT's name + '-evaluate'; predict: the output's stem)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --rebuild: add to an existing ledger the jobs it is missing",
    )
    p.add_argument("--yes", action="store_true", help="with --cancel: do not ask for confirmation")
    p.set_defaults(handler=cmd_jobs)


def cmd_jobs(args: argparse.Namespace) -> int:
    """List the ledgers' jobs after the action the flags ask for."""
    _check_flags(args)
    path = Path(args.path)
    if args.rebuild:
        return _rebuild(args, path)
    ledgers = [Ledger(folder) for folder in ledger_folders(path)]
    if args.refresh:
        remote = _remote_ledgers(ledgers, "--refresh")
        service = runtime_service()
        for ledger in remote:
            _print_reports(f"refreshed {ledger.folder}", refresh(ledger, service))
    elif args.cancel:
        _cancel(args, _remote_ledgers(ledgers, "--cancel"))
    for ledger in ledgers:
        _print_ledger(summarise(ledger))
    return 0


def _remote_ledgers(ledgers: list[Ledger], action: str) -> list[Ledger]:
    """The ledgers that hold IBM Quantum jobs (checked before any service is built); the others
    are skipped with a note, or refused when no ledger holds one."""
    remote, refusals = [], []
    for ledger in ledgers:
        try:
            require_remote(ledger, action)
        except ValueError as exc:
            refusals.append(str(exc))
        else:
            remote.append(ledger)
    if not remote:
        raise CommandError("; ".join(refusals))
    for refusal in refusals:
        print(f"skipped: {refusal}")
    return remote


def _check_flags(args: argparse.Namespace) -> None:
    if args.rebuild and not args.run_name:
        raise CommandError(
            "--rebuild needs --run-name NAME: the tag its jobs carry first (train: the run "
            "directory's name; evaluate: OUT's name + '-evaluate'; predict: the output's stem)"
        )
    misplaced = [
        flag
        for flag, given, needs in (
            ("--run-name", args.run_name is not None, args.rebuild),
            ("--merge", args.merge, args.rebuild),
            ("--yes", args.yes, args.cancel),
        )
        if given and not needs
    ]
    if misplaced:
        raise CommandError(
            f"{', '.join(misplaced)} would be ignored: --run-name and --merge go with --rebuild, "
            "--yes with --cancel"
        )


def _rebuild(args: argparse.Namespace, path: Path) -> int:
    if path.name == LEDGER_FILE:
        folder = path.parent
    elif (path / CHECKPOINT).is_file():  # a train run directory: its default ledger
        folder = path / "ledger"
    else:
        folder = path
    check_rebuild_target(folder, args.merge)  # refuse before any service is built
    report = rebuild(folder, runtime_service(), args.run_name, merge=args.merge)
    _print_rebuild(report, args.run_name)
    _print_ledger(summarise(Ledger(folder)))
    return 0


def _cancel(args: argparse.Namespace, ledgers: list[Ledger]) -> None:
    candidates = [(ledger, submitted_remote(ledger)) for ledger in ledgers]
    count = sum(len(rows) for _, rows in candidates)
    if count == 0:
        print("nothing to cancel: no IBM Quantum job is still submitted in the ledger")
        return
    if not args.yes:
        for ledger, rows in candidates:
            if rows:
                print(f"ledger {ledger.folder}")
                print(_table(rows))
        print(
            f"Cancel the pending ones among these {count_of(count, 'job')} at IBM Quantum? [y/N] ",
            end="",
            flush=True,
        )
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise NotConfirmed(
                "not confirmed: nothing was cancelled (pass --yes to skip the question)"
            )
    service = runtime_service()
    for ledger, _ in candidates:
        _print_reports(f"cancel in {ledger.folder}", cancel(ledger, service))


def _print_reports(title: str, reports) -> None:
    print(
        f"{title}: {count_of(len(reports), 'job')} looked up"
        if reports
        else f"{title}: nothing to do"
    )
    for report in reports:
        print(
            f"  {report.job_id or '-'} ({report.key[:KEY_SHOWN]}): {report.outcome}: "
            f"{report.detail}"
        )


def _print_rebuild(report: RebuildReport, run_name: str) -> None:
    print(
        f"rebuilt {report.folder} from {report.found} jobs tagged {run_name!r}: "
        f"{len(report.recovered)} recovered, {len(report.kept)} already in the ledger, "
        f"{len(report.superseded)} superseded attempts, {len(report.untagged)} without a "
        f"ledger key tag (skipped)"
    )
    for item in report.recovered:
        print(f"  {item.job_id} ({item.key[:KEY_SHOWN]}): {item.outcome}: {item.detail}")
    if report.untagged:
        print(f"  skipped, no {KEY_TAG}<key> tag: {', '.join(report.untagged)}")


def _print_ledger(summary: LedgerSummary) -> None:
    print(f"ledger {summary.folder}")
    if summary.rows:
        print(_table(list(summary.rows)))
    print(summary.totals())
    waiting = sum(1 for r in summary.rows if r.status == "submitted" and not r.local)
    if waiting:
        print(
            f"{count_of(waiting, 'IBM Quantum job')} not yet recorded as finished: --refresh asks "
            "for their state and saves the finished ones"
        )


def _table(rows: list[JobRow]) -> str:
    def seconds(value):
        return "-" if value is None else f"{value:.1f}"

    return format_table(
        COLUMNS,
        [
            [
                row.key[:KEY_SHOWN],
                row.status,
                row.job_id or "-",
                row.backend or "-",
                seconds(row.estimated_seconds),
                "local" if row.local else seconds(row.usage_seconds),
                ",".join(t for t in row.tags if not t.startswith(KEY_TAG)) or "-",
            ]
            for row in rows
        ],
        right=(4, 5),
    )
