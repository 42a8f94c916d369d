"""``qlstm-qiskit sweep EXPERIMENT.toml``: a noise sweep (backends × noise scale × shots ×
mitigation × seeds × training backend) from an experiment file, one folder per point, resumable,
in this process, local worker processes or on a Ray cluster; a results table and plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..forecasting.backend_specs import is_device
from ..forecasting.sweep_cost import device_work, sweep_cost
from ..forecasting.sweep_executors import import_ray
from ..forecasting.sweep_plan import SweepPlan, plan_sweep
from ..forecasting.sweep_run import pending, run_sweep
from ..forecasting.sweep_tasks import point_finished, training_finished
from .device_flags import NotConfirmed, OverBudget
from .errors import PROG, CommandError
from .flags import add_threads
from .guards import check_output_dir
from .tables import format_table

_DEVICE_FLAGS = {"--max-qpu-seconds": "max_qpu_seconds", "--yes": "yes"}
_RAY_HELP = (
    "run the tasks on Ray: 'local' starts a Ray instance here (with --workers CPUs, default "
    "all), 'auto' joins the cluster of this machine (`ray start`), or the head's ADDRESS "
    '(HOST:PORT, ray://HOST:10001); needs Ray: pip install "qlstm-qiskit[ray]"'
)


def add_sweep(commands) -> None:
    """The ``sweep`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "sweep",
        help="run a noise sweep from an experiment file (TOML)",
        description="Train once per (training backend, seed), evaluate the trained weights on "
        "every point of the experiment's axes (backends, noise_scale, shots, mitigate, seeds), "
        "one folder per point; run the same command again to resume after an interruption. "
        "Writes OUT/results.csv, OUT/results.json and plots. See README, 'Noise sweeps'.",
    )
    p.add_argument("experiment", metavar="EXPERIMENT.toml", help="the experiment file")
    p.add_argument(
        "--out", metavar="DIR", help="the sweep folder (default: sweeps/<experiment file name>)"
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local worker processes (default: 1, this process); with --ray local, the CPUs "
        "of the local Ray instance",
    )
    p.add_argument("--ray", metavar="ADDRESS", help=_RAY_HELP)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the points (finished or not) and the cost preview of the unfinished device "
        "work; run and write nothing",
    )
    p.add_argument(
        "--max-qpu-seconds",
        type=float,
        metavar="S",
        help="refuse to start when the estimated QPU time of the unfinished device work exceeds S",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation before submitting to IBM Quantum hardware",
    )
    add_threads(p)
    p.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan the experiment, then list it (``--dry-run``) or run its unfinished part."""
    out = Path(args.out) if args.out else Path("sweeps") / Path(args.experiment).stem
    check_output_dir(out, "--out" if args.out else "the sweep folder")
    if args.workers is not None and args.workers < 1:
        raise CommandError(f"--workers must be >= 1, got {args.workers}")
    if args.ray is not None:
        import_ray()  # missing: an error with the install command, before anything runs
        if args.ray != "local" and args.workers is not None:
            raise CommandError(
                f"--workers applies to local processes or --ray local; the Ray cluster "
                f"{args.ray!r} schedules the tasks on its own CPUs"
            )
    if args.max_qpu_seconds is not None and not args.max_qpu_seconds > 0:
        raise CommandError(f"--max-qpu-seconds must be > 0, got {args.max_qpu_seconds}")
    plan = plan_sweep(args.experiment)
    devices = [p for p in plan.points if p.device] + [
        t for t in plan.trainings.values() if t.backend and is_device(t.backend.partition(":")[0])
    ]
    given = [
        flag for flag, value in _DEVICE_FLAGS.items() if getattr(args, value) not in (None, False)
    ]
    if given and not devices:
        raise CommandError(
            f"{', '.join(given)} apply only to sweeps with device backends (fake_<device>, "
            f"ibm_<device>); {args.experiment} has none"
        )
    trainings, points = pending(plan, out)
    print(
        f"sweep {args.experiment}: {len(plan.points)} points ({len(points)} to run), "
        f"{len(plan.trainings)} trainings ({len(trainings)} to run); folder {out}"
    )
    if args.dry_run:
        print(_listing(plan, out))
    if not _confirmed(args, plan, out):
        return 0
    try:
        outcome = run_sweep(
            plan,
            out,
            workers=args.workers,
            ray=args.ray,
            threads=args.threads,
            log=lambda line: print(line, flush=True),
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; the finished points are kept: continue with the same command "
            f"({PROG} sweep {args.experiment} --out {out})",
            file=sys.stderr,
        )
        return 130
    print(
        f"{outcome.computed} points computed, {outcome.skipped} finished before, "
        f"{outcome.trained} trainings run"
    )
    print("wrote " + ", ".join(str(path) for path in outcome.files))
    return 0


def _listing(plan: SweepPlan, out: Path) -> str:
    """The trainings and points with their status, as text tables."""
    trainings = [
        [
            "done" if training_finished(out, training) else "to run",
            key,
            training.backend or training.run,
            "" if training.seed is None else training.seed,
        ]
        for key, training in plan.trainings.items()
    ]
    points = [
        [
            "done" if point_finished(out, point) else "to run",
            point.id,
            point.backend,
            *("" if v is None else v for v in (point.noise_scale, point.shots, point.mitigate)),
            "" if point.seed is None else point.seed,
        ]
        for point in plan.points
    ]
    return "\n".join(
        [
            "trainings:",
            format_table(["status", "training", "backend or run", "seed"], trainings),
            "points:",
            format_table(
                ["status", "point", "backend", "noise_scale", "shots", "mitigate", "seed"], points
            ),
        ]
    )


def _confirmed(args: argparse.Namespace, plan: SweepPlan, out: Path) -> bool:
    """Before anything runs: with ``--dry-run`` print the cost of the unfinished device work and
    return False; refuse (:class:`OverBudget`) an estimate over ``--max-qpu-seconds``; for IBM
    Quantum hardware print it and ask unless ``--yes``."""
    trainings, points = device_work(plan, out)
    if not trainings and not points:
        if args.dry_run:
            print("no device work: nothing to price")
        return not args.dry_run
    real = any(p.name.startswith("ibm_") for p in points) or any(
        plan.trainings[t].backend.startswith("ibm_") for t in trainings
    )
    ask = real and not args.yes
    if not (args.dry_run or ask or args.max_qpu_seconds is not None):
        return True
    previews = sweep_cost(plan, out)
    seconds = sum(preview.qpu_seconds for preview in previews)
    if args.dry_run or ask:
        for preview in previews:
            print(preview.report())
        jobs = sum(preview.jobs for preview in previews)
        print(
            f"sweep total: {jobs} jobs, ~{seconds:.1f} s of QPU time estimated for "
            f"{len(trainings)} training(s) and {len(points)} point(s) on devices"
        )
    if args.max_qpu_seconds is not None and seconds > args.max_qpu_seconds:
        raise OverBudget(
            f"estimated QPU time {seconds:.1f} s exceeds --max-qpu-seconds "
            f"{args.max_qpu_seconds:g}; nothing was submitted"
        )
    if args.dry_run:
        return False
    if ask:
        print("Proceed? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise NotConfirmed(
                f"not confirmed: nothing was submitted (pass --yes to skip the question; "
                f"{PROG} sweep ... --dry-run prints the cost)"
            )
    return True
