"""Training-step time of ``QLSTM`` against its peers on the same workload, circuit, batch and data.

Run (from the repository root)::

    pip install -e ".[bench]"                       # PennyLane peers (optional)
    python benchmarks/bench_peers.py                # REF: hidden 17, 4 qubits, B 32, T 8
    python benchmarks/bench_peers.py --peers qlstm lstm pl-default --steps 5
    python benchmarks/bench_peers.py --stock-batch 4

``benchmarks/report.py`` runs this with its defaults (the stock peer at batch 32 too) and writes
the Speed section of ``docs/BENCHMARKS.md`` with :func:`render`.

Peers (``--peers``; ``qlstm`` is always measured, every ratio is "peer step / qlstm step"):

- ``qlstm``: ``QLSTM(1, 17, n_qubits=4)`` on ``statevector`` (ours);
- ``lstm``: ``torch.nn.LSTM(1, 17)``;
- ``pl-default`` / ``pl-lightning``: a PennyLane QLSTM of the common community design: four
  ``qml.qnn.TorchLayer`` VQCs (input, forget, cell, output) registered as submodules, each on
  ``n_qubits`` wires with the same circuit as ours (H, RY(arctan z), RZ(arctan z^2) encoding,
  RZ RY RZ rotations, CNOT ring, <Z> per qubit) and the same projections; on ``default.qubit``
  with ``diff_method="backprop"`` and on ``lightning.qubit`` with ``diff_method="adjoint"``;
- ``aer``: ``QLSTM(..., backend="aer_statevector")`` (our batched primitive path, one estimator
  call per time step);
- ``stock``: stock ``TorchConnector(EstimatorQNN)`` per gate on the same Aer estimator (the
  executor of ``bench_primitives.py``), default ``ParamShiftEstimatorGradient``. It takes minutes
  per step at REF, so it runs on ``--stock-batch`` rows (default: ``--batch``) for
  ``--stock-steps`` cold steps, and its ratio is scaled to our step at that batch.

One training step is zero_grad + forward + MSE loss on the output + backward + Adam step (float32,
input_size 1). ``qlstm``, ``lstm`` and ``aer`` are measured in this process, alternating every
repetition; each PennyLane peer runs in a fresh process of its own (the hidden option
``--pl-peer``, with the same weights, data, steps and threads), and this process never imports
PennyLane: a PennyLane training step slows every later step of the other models in its process,
persistently (measured on the 2-core machine, 2026-12-01; see ``bench_configs.py``). Medians over
``--steps`` repetitions after ``--warmup`` are reported in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import torch
from torch import nn

from qlstm_qiskit import QLSTM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import pyplot, save  # noqa: E402
from fresh_process import run_in_fresh_process  # noqa: E402

PEERS = ("qlstm", "lstm", "pl-default", "pl-lightning", "aer", "stock")
LABELS = {
    "qlstm": "`QLSTM` on `statevector` (ours)",
    "lstm": "`torch.nn.LSTM(1, hidden)`",
    "pl-default": "PennyLane 4×TorchLayer QLSTM, `default.qubit` / backprop",
    "pl-lightning": "PennyLane 4×TorchLayer QLSTM, `lightning.qubit` / adjoint",
    "aer": "`QLSTM` on `aer_statevector` (ours, primitive path)",
    "stock": "stock `TorchConnector(EstimatorQNN)` per gate, Aer",
}
PL_DEVICES = {
    "pl-default": ("default.qubit", "backprop"),
    "pl-lightning": ("lightning.qubit", "adjoint"),
}
QUICK_ARGS = ["--batch", "2", "--seq", "2", "--hidden", "3", "--steps", "1", "--warmup", "0"]


# -- the PennyLane peer -------------------------------------------------------------------------
def make_vqc(n_qubits: int, n_qlayers: int, depth: int, device_name: str, diff_method: str):
    """One gate VQC as a ``qml.qnn.TorchLayer``: our default circuit, written in PennyLane."""
    import pennylane as qml  # the library never imports PennyLane; only this benchmark does

    dev = qml.device(device_name, wires=n_qubits)

    @qml.qnode(dev, interface="torch", diff_method=diff_method)
    def circuit(inputs, weights):
        # inputs (..., n_qubits): the projected features z; weights (n_qlayers, depth, n, 3)
        for block in range(n_qlayers):
            for q in range(n_qubits):
                z = inputs[..., q]
                qml.Hadamard(wires=q)
                qml.RY(torch.arctan(z), wires=q)
                qml.RZ(torch.arctan(z * z), wires=q)
            for layer in range(depth):
                for q in range(n_qubits):
                    qml.RZ(weights[block, layer, q, 0], wires=q)
                    qml.RY(weights[block, layer, q, 1], wires=q)
                    qml.RZ(weights[block, layer, q, 2], wires=q)
                if n_qubits > 1:
                    for q in range(n_qubits):
                        qml.CNOT(wires=[q, (q + 1) % n_qubits])
        return [qml.expval(qml.PauliZ(q)) for q in range(n_qubits)]

    return qml.qnn.TorchLayer(circuit, {"weights": (n_qlayers, depth, n_qubits, 3)})


class PennyLaneQLSTM(nn.Module):
    """The community QLSTM: projections into four TorchLayer VQCs, projections out, LSTM update.
    Same parameters as our ``QLSTMCell`` (``copy_from`` copies them in); input ``(T, B, input)``,
    returns ``(output (T, B, hidden), (h, c))`` like ``nn.LSTM``."""

    GATES = ("input", "forget", "cell", "output")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        n_qubits: int = 4,
        n_qlayers: int = 1,
        depth: int = 1,
        device_name: str = "default.qubit",
        diff_method: str = "backprop",
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.n_qubits = n_qubits
        self.clayer_in = nn.ModuleDict(
            {gate: nn.Linear(input_size + hidden_size, n_qubits) for gate in self.GATES}
        )
        self.vqc = nn.ModuleDict(
            {
                gate: make_vqc(n_qubits, n_qlayers, depth, device_name, diff_method)
                for gate in self.GATES
            }
        )
        self.clayer_out = nn.ModuleDict(
            {gate: nn.Linear(n_qubits, hidden_size) for gate in self.GATES}
        )

    @torch.no_grad()
    def copy_from(self, model: QLSTM) -> PennyLaneQLSTM:
        """Take the weights of a one-layer ``QLSTM`` with the same sizes."""
        cell = model.cell_l0
        n = self.n_qubits
        for g, gate in enumerate(self.GATES):
            rows = slice(g * n, (g + 1) * n)
            self.clayer_in[gate].weight.copy_(
                torch.cat([cell.weight_ih[rows], cell.weight_hh[rows]], 1)
            )
            self.clayer_in[gate].bias.copy_(cell.bias_in[rows])
            self.vqc[gate].weights.copy_(cell.weight_q[g])
            self.clayer_out[gate].weight.copy_(cell.weight_out[g])
            self.clayer_out[gate].bias.copy_(cell.bias_out[g])
        return self

    def forward(self, x: torch.Tensor, hx=None):
        batch = x.shape[1]
        h = x.new_zeros(batch, self.hidden_size) if hx is None else hx[0]
        c = x.new_zeros(batch, self.hidden_size) if hx is None else hx[1]
        outputs = []
        for x_t in x:
            v = torch.cat([x_t, h], 1)
            i, f, g, o = (
                self.clayer_out[gate](self.vqc[gate](self.clayer_in[gate](v)))
                for gate in self.GATES
            )
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h, c)


def pennylane_available() -> bool:
    """Whether PennyLane is installed: found, not imported (see the module docstring)."""
    return find_spec("pennylane") is not None


# -- timing -------------------------------------------------------------------------------------
def make_step(model: nn.Module, x: torch.Tensor, target: torch.Tensor):
    """A function that runs one training step and returns its duration in seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad()
        output, _ = model(x)
        nn.functional.mse_loss(output, target).backward()
        optimizer.step()
        return time.perf_counter() - start

    return train_step


def build(peer: str, args) -> nn.Module:
    ours = QLSTM(1, args.hidden, n_qubits=args.n_qubits, seed=0)
    if peer == "qlstm":
        return ours
    if peer == "lstm":
        return nn.LSTM(1, args.hidden)
    if peer in PL_DEVICES:
        device_name, diff_method = PL_DEVICES[peer]
        return PennyLaneQLSTM(
            1, args.hidden, args.n_qubits, device_name=device_name, diff_method=diff_method
        ).copy_from(ours)
    if peer == "aer":
        return QLSTM(1, args.hidden, n_qubits=args.n_qubits, seed=0, backend="aer_statevector")
    raise ValueError(peer)


def build_stock(args) -> nn.Module:
    from bench_primitives import StockBackend

    from qlstm_qiskit import get_backend

    return QLSTM(
        1,
        args.hidden,
        n_qubits=args.n_qubits,
        seed=0,
        backend=StockBackend(get_backend("aer_statevector").estimator),
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=17)
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument(
        "--peers",
        nargs="+",
        choices=PEERS,
        default=list(PEERS),
        help="peers to measure (qlstm is always measured); PennyLane peers are "
        "skipped with a note when PennyLane is not installed",
    )
    parser.add_argument(
        "--stock-batch",
        type=int,
        default=None,
        help="batch for the stock peer (default: --batch; REF takes minutes)",
    )
    parser.add_argument("--stock-steps", type=int, default=1, help="measured steps, stock (cold)")
    parser.add_argument("--pl-peer", choices=list(PL_DEVICES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def workload(args, batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded input ``(seq, batch, 1)`` and target ``(seq, batch, hidden)``."""
    torch.manual_seed(0)
    batch = batch or args.batch
    return torch.randn(args.seq, batch, 1), torch.randn(args.seq, batch, args.hidden)


def measure_pennylane(peer: str, args) -> float:
    """The median step (ms) of a PennyLane peer with our weights copied in. Runs in the child
    process (``--pl-peer``) only."""
    x, target = workload(args)
    train_step = make_step(build(peer, args), x, target)
    times = [train_step() for _ in range(args.warmup + args.steps)][args.warmup :]
    return 1e3 * statistics.median(times)


def pennylane_in_fresh_process(peer: str, args) -> float:
    """:func:`measure_pennylane` in a fresh process with the same workload and steps."""
    command = ["--pl-peer", peer]
    for option in ("steps", "warmup", "batch", "seq", "hidden", "n_qubits"):
        command += ["--" + option.replace("_", "-"), getattr(args, option)]
    return run_in_fresh_process(__file__, command)["step_ms"]


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.pl_peer is not None:  # the child of pennylane_in_fresh_process
        result = {"step_ms": measure_pennylane(args.pl_peer, args)}
        print(json.dumps(result))
        return result
    peers = ["qlstm"] + [p for p in args.peers if p != "qlstm"]
    skipped = {}
    if not pennylane_available():
        for peer in PL_DEVICES:
            if peer in peers:
                peers.remove(peer)
                skipped[peer] = "PennyLane not installed (pip install -e '.[bench]')"
    x, target = workload(args)
    alternated = [p for p in peers if p != "stock" and p not in PL_DEVICES]
    steps = {peer: make_step(build(peer, args), x, target) for peer in alternated}
    times = {peer: [] for peer in alternated}
    for repetition in range(args.warmup + args.steps):
        for peer, train_step in steps.items():  # alternate the peers
            seconds = train_step()
            if repetition >= args.warmup:
                times[peer].append(seconds)
    results = {
        peer: {
            "step_ms": 1e3 * statistics.median(values),
            "batch": args.batch,
            "steps": args.steps,
            "warmup": args.warmup,
        }
        for peer, values in times.items()
    }
    for peer in PL_DEVICES:
        if peer in peers:
            results[peer] = {
                "step_ms": pennylane_in_fresh_process(peer, args),
                "batch": args.batch,
                "steps": args.steps,
                "warmup": args.warmup,
            }
    ours_ms = results["qlstm"]["step_ms"]
    for result in results.values():
        result["ratio"] = result["step_ms"] / ours_ms

    if "stock" in peers:
        stock_batch = args.stock_batch or args.batch
        xs, ts = workload(args, stock_batch)
        stock_step = make_step(build_stock(args), xs, ts)
        stock_times = [stock_step() for _ in range(args.stock_steps)]
        if stock_batch == args.batch:
            ours_at_batch = ours_ms
        else:  # our step at the stock batch, same alternation-free median
            ours_step = make_step(build("qlstm", args), xs, ts)
            ours_times = [ours_step() for _ in range(args.warmup + args.steps)][args.warmup :]
            ours_at_batch = 1e3 * statistics.median(ours_times)
        stock_ms = 1e3 * statistics.median(stock_times)
        results["stock"] = {
            "step_ms": stock_ms,
            "batch": stock_batch,
            "steps": args.stock_steps,
            "warmup": 0,
            "ratio": stock_ms / ours_at_batch,
            "qlstm_ms_at_batch": ours_at_batch,
        }

    header = (
        f"workload: input 1, hidden {args.hidden}, {args.n_qubits} qubits, batch "
        f"{args.batch}, seq {args.seq}, float32, {torch.get_num_threads()} threads; "
        f"median of {args.steps} after {args.warmup} warm-up, peers alternated (each PennyLane "
        "peer in a fresh process)"
    )
    print(header)
    print(f"{'peer':<14}{'batch':>6}{'step ms':>13}{'x ours':>11}")
    for peer in PEERS:
        if peer in results:
            r = results[peer]
            print(f"{peer:<14}{r['batch']:>6}{r['step_ms']:>13.3f}{r['ratio']:>11.1f}")
        elif peer in skipped:
            print(f"{peer:<14} skipped: {skipped[peer]}")
    if "stock" in results and results["stock"]["batch"] != args.batch:
        print(
            f"stock: {results['stock']['steps']} cold step(s) at batch "
            f"{results['stock']['batch']}; its ratio is against ours at that batch "
            f"({results['stock']['qlstm_ms_at_batch']:.3f} ms)"
        )
    print(f"ratio: peer step / qlstm step (qlstm {ours_ms:.3f} ms)")
    return {"results": results, "skipped": skipped, "qlstm_step_ms": ours_ms, "workload": header}


def render(results: dict, figures: Path) -> str:
    """The Speed section of docs/BENCHMARKS.md; writes ``figures/speed_peers.png``."""
    measured = results["results"]
    lines = [
        "## Speed",
        "",
        "Reference workload REF (input 1, hidden 17, 4 qubits, 1 block of depth 1, batch 32, "
        "sequence 8) and peers as described in `benchmarks/bench_peers.py`: "
        "one training step = zero_grad + forward + MSE loss + backward + Adam step, same "
        "circuit, batch and data for every peer.",
        "",
        f"{results['workload']}.",
        "",
        "| peer | batch | training step | × ours |",
        "|---|---|---|---|",
    ]
    for peer in PEERS:
        if peer in measured:
            r = measured[peer]
            lines.append(
                f"| {LABELS[peer]} | {r['batch']} | {_duration(r['step_ms'])} | {r['ratio']:,.1f} |"
            )
        elif peer in results["skipped"]:
            lines.append(f"| {LABELS[peer]} | – | skipped: {results['skipped'][peer]} | – |")
    if "stock" in measured:
        r = measured["stock"]
        lines += [
            "",
            f"The stock peer ran {r['steps']} cold step(s) at batch {r['batch']} "
            f"(alone, not alternated); its ratio is against our step at that batch "
            f"({_duration(r['qlstm_ms_at_batch'])}).",
        ]
    png = plot_steps(measured, Path(figures) / "speed_peers.png")
    lines += ["", f"![training step per peer]({png})"]
    return "\n".join(lines) + "\n"


def _duration(ms: float) -> str:
    return f"{ms / 1e3:,.2f} s" if ms >= 1e3 else f"{ms:.2f} ms"


def plot_steps(measured: dict, path: Path) -> str:
    """Bar chart of the training-step times (log scale); returns the markdown link target."""
    peers = [peer for peer in PEERS if peer in measured]
    fig, ax = pyplot().subplots(figsize=(7, 0.5 + 0.45 * len(peers)))
    seconds = [measured[peer]["step_ms"] / 1e3 for peer in peers]
    ax.barh(range(len(peers)), seconds, color=["C0" if p == "qlstm" else "C7" for p in peers])
    ax.set_yticks(range(len(peers)), [f"{p} (batch {measured[p]['batch']})" for p in peers])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("training step (s, log scale)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    return save(fig, path)


if __name__ == "__main__":
    main()
