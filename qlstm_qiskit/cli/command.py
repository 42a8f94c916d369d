"""The ``qlstm-qiskit`` parser, with one subparser per subcommand, and :func:`main`, which runs
a command line and turns user errors into exit statuses."""

from __future__ import annotations

import argparse
import sys

import torch

import qlstm_qiskit

from .errors import PROG, CommandError
from .evaluate import add_evaluate
from .info import add_backends, add_circuit
from .jobs import add_jobs
from .predict import add_predict
from .sweep import add_sweep
from .train import add_train


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; a parsed command line's ``handler(args)`` runs it."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Quantum LSTM (Qiskit circuits in PyTorch): train forecasters, "
        "evaluate them on simulators and noisy backends, predict, run noise sweeps, list "
        "backends, draw circuits, administer device jobs.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {qlstm_qiskit.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train(commands)
    add_evaluate(commands)
    add_predict(commands)
    add_sweep(commands)
    add_backends(commands)
    add_circuit(commands)
    add_jobs(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a bad command line (2)
        return exc.code if isinstance(exc.code, int) else 2
    threads = torch.get_num_threads()
    try:
        if getattr(args, "threads", None) is not None:
            _set_threads(args.threads)
        return args.handler(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (MemoryError, OverflowError) as exc:  # what was asked does not fit this machine
        detail = f" ({exc})" if str(exc) else ""
        print(
            f"{PROG}: error: {args.command} stopped: {type(exc).__name__}{detail}: a size or "
            "number too large for this machine; check the shots, batch size, n_qubits and the "
            "size of the input",
            file=sys.stderr,
        )
        return 1
    finally:  # main() may run inside a larger program (or a test session)
        torch.set_num_threads(threads)


def _set_threads(threads: int) -> None:
    if threads < 1:
        raise CommandError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
