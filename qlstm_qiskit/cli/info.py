"""``qlstm-qiskit backends`` (the backend names) and ``qlstm-qiskit circuit`` (draw a gate
circuit)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..backends import list_backends
from ..qlstm import QLSTM
from ..recurrence import GATES
from .flags import add_circuit_flags


def add_backends(commands) -> None:
    """The ``backends`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "backends",
        help="list the backend names with a description",
        description="List the backend names with a description.",
    )
    p.set_defaults(handler=cmd_backends)


def add_circuit(commands) -> None:
    """The ``circuit`` subcommand on the subparsers ``commands``."""
    p = commands.add_parser(
        "circuit",
        help="draw a gate circuit as text and PNG",
        description="Draw one of the four gate circuits of a QLSTM layout: print it and write "
        "circuit_<gate>.txt and circuit_<gate>.png.",
    )
    p.add_argument(
        "--gate",
        choices=GATES,
        default="input",
        help="which of the four LSTM gates (default: input)",
    )
    add_circuit_flags(p, with_defaults=True)
    p.add_argument("--out", metavar="DIR", default=".", help="where to write (default: .)")
    p.set_defaults(handler=cmd_circuit)


def cmd_backends(_args: argparse.Namespace) -> int:
    """Print ``name  description`` for every backend."""
    backends = list_backends()
    width = max(map(len, backends))
    for name, description in backends.items():
        print(f"{name:{width}s}  {description}")
    return 0


def cmd_circuit(args: argparse.Namespace) -> int:
    """Print the gate circuit and write it as ``circuit_<gate>.txt`` and ``.png``."""
    from ..forecasting.plots import save_drawing

    model = QLSTM(
        1,
        1,
        n_qubits=args.n_qubits,
        n_qlayers=args.n_qlayers,
        depth=args.depth,
        encoding=args.encoding,
        rotation=args.rotation,
        entangling=args.entangling,
        measure=args.measure,
    )
    text = str(model.draw(args.gate, fold=-1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    txt, png = out / f"circuit_{args.gate}.txt", out / f"circuit_{args.gate}.png"
    txt.write_text(text + "\n")
    save_drawing(model.draw(args.gate, output="mpl"), png)
    print(text)
    print(f"wrote {txt}, {png}")
    return 0
