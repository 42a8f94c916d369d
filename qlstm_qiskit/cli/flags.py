"""Flags that more than one subcommand takes: the gate-circuit layout (train, circuit), the
checkpoint, batch size and weights (evaluate, predict) and the torch threads (all but
backends).

``parser`` arguments are an ``argparse.ArgumentParser`` or one of its argument groups."""

from __future__ import annotations

import argparse

from ..circuits import ENCODINGS, ENTANGLERS, MEASUREMENTS, ROTATIONS, CircuitSpec
from ..forecasting.selection import WEIGHTS
from .errors import CommandError

#: the gate-circuit flags, in CircuitSpec's field order, with their help.
_CIRCUIT_HELP = {
    "n_qubits": "qubits per gate circuit",
    "n_qlayers": "data re-uploading blocks per circuit",
    "depth": "variational layers per block",
    "encoding": "arctan: H, RY(arctan x), RZ(arctan x^2) per qubit; angle: RY(x)",
    "rotation": "trainable rotations per qubit: rot = RZ RY RZ, or one rx, ry or rz",
    "entangling": "CNOTs after each variational layer",
    "measure": "Pauli operator measured on every qubit",
}
CIRCUIT_FIELDS = tuple(_CIRCUIT_HELP)
_CIRCUIT_CHOICES = {
    "encoding": list(ENCODINGS),
    "rotation": list(ROTATIONS),
    "entangling": list(ENTANGLERS),
    "measure": list(MEASUREMENTS),
}


def add_circuit_flags(parser, with_defaults: bool) -> None:
    """The gate-circuit flags; with ``with_defaults=False`` unset flags stay None (train)."""
    for field, text in _CIRCUIT_HELP.items():
        value = getattr(CircuitSpec(), field)
        kind = (
            {"choices": _CIRCUIT_CHOICES[field]}
            if field in _CIRCUIT_CHOICES
            else {"type": int, "metavar": "N"}
        )
        parser.add_argument(
            "--" + field.replace("_", "-"),
            default=value if with_defaults else None,
            help=f"{text} (default: {value})",
            **kind,
        )


def add_threads(parser) -> None:
    """``--threads N``: torch CPU threads (applied by :func:`qlstm_qiskit.cli.main`)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch CPU threads (default: 1; "
        "the models are small, more threads mostly add overhead)",
    )


def add_inference_flags(parser: argparse.ArgumentParser) -> None:
    """What evaluate and predict share: the checkpoint, the batch size, the weights and the
    threads."""
    parser.add_argument("checkpoint", help="checkpoint.pt, or the run directory holding it")
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="windows per forward pass (default: 256; on a device backend all "
        "windows in one batch, so one job per time step)",
    )
    parser.add_argument(
        "--weights",
        choices=WEIGHTS,
        help="the best-on-validation weights or the last epoch's (default: best when the run "
        "has a validation split, else last)",
    )
    add_threads(parser)


def use_weights_flag(args: argparse.Namespace, run) -> tuple[str, dict[str, int]]:
    """Put the weights of ``--weights`` (default: the run's :meth:`~.Run.default_weights`) into
    the models of ``run`` (a :class:`~qlstm_qiskit.forecasting.training.Run`); returns which,
    and the epoch of each model's weights."""
    which = args.weights or run.default_weights()
    if which == "best" and run.default_weights() != "best":
        raise CommandError(
            f"--weights best: {args.checkpoint} has no best-on-validation weights (trained with "
            "--val-fraction 0, or no epoch trained yet); use --weights last"
        )
    run.use_weights(which)
    epochs = {
        name: run.best[name].epoch if which == "best" else len(history["test_mse"])
        for name, history in run.history.items()
    }
    return which, epochs
