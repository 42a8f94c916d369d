"""Training-step time of ``QLSTM`` across circuit configurations, against nn.LSTM and PennyLane,
with the estimated floating-point work of each step and the rate achieved.

Run (from the repository root)::

    pip install -e ".[bench]"                       # PennyLane (optional)
    python benchmarks/bench_configs.py              # the rows below, batch 32, sequence 8
    python benchmarks/bench_configs.py --rows 4,1,1 8,2,2 --steps 5
    python benchmarks/bench_configs.py --quick      # tiny sizes: a smoke run

Rows are ``qubits,n_qlayers,depth`` (``--rows``); the defaults are the table of issue 19 (4,1,1
4,2,2 6,1,1 8,1,2 8,2,2 10,1,1 12,1,1) plus 2, 14 and 16 qubits (one block of depth 1). After the
rows, ``--ladder`` times ours alone at every qubit count from 2 to 16 (one block of depth 1) for the
check that the step time has no jump of more than 3x between neighbouring qubit counts. Per row:
``QLSTM(1, hidden, n_qubits, n_qlayers, depth)`` on ``statevector`` (method ``auto``) and
``torch.nn.LSTM(1, hidden)`` in this process, alternating every repetition, then the PennyLane
4-TorchLayer QLSTM of ``bench_peers.py`` with the same circuit and weights (``QLSTM`` with seed 0,
then ``PennyLaneQLSTM(...).copy_from``) on ``default.qubit``/backprop, on the same input and
target, in a fresh child process (:func:`fresh_process.run_in_fresh_process`: this script with the
hidden option ``--pl-row``, which prints its median last as one JSON object). The PennyLane peer
runs only up to ``--pl-max-qubits`` (default 12: at 14 qubits one of its steps takes minutes);
above, its cells say "not run". One training step is zero_grad + forward + MSE loss + backward +
Adam step, float32, ``--threads`` torch threads (default 1); medians of ``--steps`` repetitions
after ``--warmup``, for each model.

Why a child process: a PennyLane training step slows every later step of the other models in the
process it runs in, persistently. Measured on the 2-core machine, 2026-12-01, row 6,1,1: our step
alone 7.30 ms, alternated with an nn.LSTM step 7.44 ms, alternated with a PennyLane step 12.18 ms,
and 9.17 ms after a single PennyLane step run beforehand and never again; nn.LSTM's step 0.82 ms
alone against 1.14 ms in the alternated run. Not the garbage collector (unchanged with
``gc.disable``), nor glibc's malloc trimming (``MALLOC_*`` settings) or OpenBLAS threads
(``OPENBLAS_NUM_THREADS=1``); a profile shows everything 15-20% slower. So no PennyLane code runs
in this process: whether PennyLane is installed is asked of ``importlib.util.find_spec``, without
importing it (``bench_peers.pennylane_available``).

"est. MFLOP" is the cost model's count (:func:`qlstm_qiskit.sim.estimate`) of the circuit work of
one step (forward and backward, all four gates, every time step) for the method ``auto`` chose;
"GFLOP/s" divides it by our measured step time (which also holds the classical LSTM work, small
beside the circuits), so the distance to the machine's peak rate is visible. The targets printed
last: every row at least 40x faster than PennyLane, the reference row (4,1,1) within 3x of
nn.LSTM, no step-time jump above 3x between neighbouring qubit counts of the ladder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from qlstm_qiskit import QLSTM
from qlstm_qiskit.sim import Workload, estimate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers import PennyLaneQLSTM, make_step, pennylane_available  # noqa: E402
from figures import pyplot, save  # noqa: E402
from fresh_process import run_in_fresh_process  # noqa: E402

ROWS = (
    "2,1,1",
    "4,1,1",
    "4,2,2",
    "6,1,1",
    "8,1,2",
    "8,2,2",
    "10,1,1",
    "12,1,1",
    "14,1,1",
    "16,1,1",
)
QUICK_ARGS = ["--rows", "2,1,1", "4,2,1", "--batch", "2", "--seq", "2", "--hidden", "3"]
QUICK_ARGS += ["--steps", "1", "--warmup", "0", "--ladder", "2", "3"]
#: the qubit counts of the jump check: every count, one block of depth 1, ours only
LADDER = tuple(range(2, 17))
PEERS = ("qlstm", "lstm", "pennylane")


def parse_row(text: str) -> tuple[int, int, int]:
    try:
        qubits, n_qlayers, depth = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"a row is qubits,n_qlayers,depth (three integers), got {text!r}"
        ) from exc
    return qubits, n_qlayers, depth


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=parse_row, default=[parse_row(r) for r in ROWS])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=17)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--pl-max-qubits", type=int, default=12)
    parser.add_argument(
        "--ladder",
        nargs="*",
        type=int,
        default=list(LADDER),
        help="qubit counts (one block of depth 1, ours only) for the check that the step time "
        "has no jump above 3x between neighbouring counts (default: 2 to 16; none: skip)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="the smoke run: " + " ".join(QUICK_ARGS)
    )
    # the child process of one row's PennyLane peer: prints {"pennylane_ms": median} last
    parser.add_argument("--pl-row", type=parse_row, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args = parser.parse_args(QUICK_ARGS)
    for option in ("steps", "batch", "seq", "hidden", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    return args


def workload_tensors(args) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded input ``(seq, batch, 1)`` and target ``(seq, batch, hidden)`` of every row."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.seq, args.batch, 1, generator=generator)
    return x, torch.randn(args.seq, args.batch, args.hidden, generator=generator)


def our_model(row: tuple[int, int, int], args) -> QLSTM:
    """The row's ``QLSTM`` (seed 0): timed in the parent, and the weights of the PennyLane peer."""
    qubits, n_qlayers, depth = row
    return QLSTM(1, args.hidden, n_qubits=qubits, n_qlayers=n_qlayers, depth=depth, seed=0)


def median_ms(steps: dict, args) -> dict[str, float]:
    """Run the training steps ``{name: step}`` in turn, ``args.warmup + args.steps`` times; the
    median of each after the warm-up, ms."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for repetition in range(args.warmup + args.steps):
        for name, train_step in steps.items():
            seconds = train_step()
            if repetition >= args.warmup:
                times[name].append(seconds)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def measure_pennylane(row: tuple[int, int, int], args) -> float:
    """The median step (ms) of the row's PennyLane peer, with our weights copied in. Runs in the
    child process (``--pl-row``) only."""
    qubits, n_qlayers, depth = row
    x, target = workload_tensors(args)
    ours = our_model(row, args)  # built first, as in the parent
    peer = PennyLaneQLSTM(1, args.hidden, qubits, n_qlayers, depth).copy_from(ours)
    return median_ms({"pennylane": make_step(peer, x, target)}, args)["pennylane"]


def pennylane_in_fresh_process(row: tuple[int, int, int], args) -> float:
    """:func:`measure_pennylane` in a fresh process with the same workload, steps and threads."""
    options = [f"--{name}" for name in ("batch", "seq", "hidden", "steps", "warmup", "threads")]
    values = [args.batch, args.seq, args.hidden, args.steps, args.warmup, args.threads]
    command = ["--pl-row", ",".join(map(str, row))]
    for option, value in zip(options, values, strict=True):
        command += [option, value]
    return run_in_fresh_process(__file__, command)["pennylane_ms"]


def measure_row(row: tuple[int, int, int], args, pennylane: bool) -> dict:
    """One configuration: ours and nn.LSTM alternated here, then the PennyLane peer (if
    ``pennylane`` and within ``--pl-max-qubits``) in a fresh process; medians in ms, the method
    and the estimated circuit work of one step."""
    qubits, n_qlayers, depth = row
    x, target = workload_tensors(args)
    ours = our_model(row, args)
    models = {"qlstm": ours, "lstm": nn.LSTM(1, args.hidden)}
    ms = median_ms({name: make_step(model, x, target) for name, model in models.items()}, args)
    run_pennylane = pennylane and qubits <= args.pl_max_qubits
    if run_pennylane:
        ms["pennylane"] = pennylane_in_fresh_process(row, args)
    executor = ours.cell_l0.executor
    method = executor.choose(args.batch, args.seq)
    work = estimate(executor.program, Workload(4, args.batch, args.seq, 8))[method]
    result = {
        "qubits": qubits,
        "n_qlayers": n_qlayers,
        "depth": depth,
        "method": method,
        "qlstm_ms": ms["qlstm"],
        "lstm_ms": ms["lstm"],
        "pennylane_ms": ms.get("pennylane"),
        "est_mflop": work.flops / 1e6,
        "est_ms": 1e3 * work.seconds,
    }
    result["gflops_per_s"] = work.flops / 1e9 / (ms["qlstm"] / 1e3)
    result["ours_over_lstm"] = ms["qlstm"] / ms["lstm"]
    result["pennylane_over_ours"] = ms["pennylane"] / ms["qlstm"] if run_pennylane else None
    return result


def measure_ladder(args) -> list[dict]:
    """Our step time (median, ms) and method at every qubit count of ``args.ladder`` (one block of
    depth 1), for the jump check between neighbouring counts."""
    ladder = []
    x, target = workload_tensors(args)
    for qubits in sorted(args.ladder):
        model = QLSTM(1, args.hidden, n_qubits=qubits, seed=0)
        train_step = make_step(model, x, target)
        times = [train_step() for _ in range(args.warmup + args.steps)][args.warmup :]
        method = model.cell_l0.executor.choose(args.batch, args.seq)
        ladder.append(
            {
                "qubits": qubits,
                "n_qlayers": 1,
                "depth": 1,
                "method": method,
                "qlstm_ms": 1e3 * statistics.median(times),
            }
        )
        print(
            f"ladder {qubits:>2} qubits  {method:<8}{ladder[-1]['qlstm_ms']:>10.2f} ms", flush=True
        )
    return ladder


def largest_jump(results: list[dict]) -> tuple[float, str] | None:
    """The largest step-time ratio between neighbouring qubit counts of the one-block, depth-1
    rows, and where it is; ``None`` with fewer than two such rows."""
    plain = sorted(
        (r for r in results if r["n_qlayers"] == r["depth"] == 1), key=lambda r: r["qubits"]
    )
    pairs = [
        (b["qlstm_ms"] / a["qlstm_ms"], f"{a['qubits']}->{b['qubits']}")
        for a, b in zip(plain, plain[1:], strict=False)
    ]
    return max(pairs) if pairs else None


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.pl_row is not None:
        print(json.dumps({"pennylane_ms": measure_pennylane(args.pl_row, args)}))
        return {}
    pennylane = pennylane_available()
    header = (
        f"workload: input 1, hidden {args.hidden}, batch {args.batch}, seq {args.seq}, float32, "
        f"{torch.get_num_threads()} torch threads; median of {args.steps} after {args.warmup} "
        "warm-up, ours and nn.LSTM alternated per row, PennyLane in a fresh process per row"
    )
    print(header)
    columns = (
        "row       method    ours ms  PennyLane ms  PL/ours  LSTM ms  ours/LSTM  est MFLOP  GFLOP/s"
    )
    print(columns)
    results = []
    for row in args.rows:
        result = measure_row(row, args, pennylane)
        results.append(result)
        print(_line(result), flush=True)
    ladder = measure_ladder(args)
    jump = largest_jump(ladder or results)
    summary = {
        "min_pennylane_over_ours": min(
            (r["pennylane_over_ours"] for r in results if r["pennylane_over_ours"]), default=None
        ),
        "ref_ours_over_lstm": next(
            (
                r["ours_over_lstm"]
                for r in results
                if (r["qubits"], r["n_qlayers"], r["depth"]) == (4, 1, 1)
            ),
            None,
        ),
        "largest_jump": None if jump is None else {"ratio": jump[0], "between": jump[1]},
        "jump_from": "ladder" if ladder else "rows",
    }
    lowest, ref = summary["min_pennylane_over_ours"], summary["ref_ours_over_lstm"]
    print(
        f"targets: PennyLane/ours >= 40 on every row (lowest: {_fmt(lowest)}); REF ours/nn.LSTM"
        f" <= 3 ({_fmt(ref)}); neighbouring qubit counts within 3x ({_jump(jump)})"
    )
    skipped = None if pennylane else "PennyLane not installed (pip install -e '.[bench]')"
    return {
        "workload": header,
        "rows": results,
        "ladder": ladder,
        "summary": summary,
        "pennylane_skipped": skipped,
        "pl_max_qubits": args.pl_max_qubits,
        "threads": torch.get_num_threads(),
    }


def _jump(jump: tuple[float, str] | None) -> str:
    return "-" if jump is None else f"{jump[0]:.2f} at {jump[1]}"


def _jump_source(results: dict) -> str:
    if results.get("ladder"):
        return (
            "every count from "
            + f"{results['ladder'][0]['qubits']} to {results['ladder'][-1]['qubits']}"
        )
    return "the one-block rows"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "not run"
    return f"{value / 1e3:,.2f} s" if value >= 1e3 else f"{value:.2f} ms"


def _line(r: dict) -> str:
    row = f"{r['qubits']},{r['n_qlayers']},{r['depth']}"
    return (
        f"{row:<10}{r['method']:<8}{r['qlstm_ms']:>9.2f}{_ms(r['pennylane_ms']):>14}"
        f"{_fmt(r['pennylane_over_ours']):>9}{r['lstm_ms']:>9.2f}{r['ours_over_lstm']:>11.1f}"
        f"{r['est_mflop']:>11.2f}{r['gflops_per_s']:>9.3f}"
    )


def render(results: dict, figures: Path) -> str:
    """The Configurations section of docs/BENCHMARKS.md; writes ``figures/configs.png``."""
    lines = [
        "## Configurations",
        "",
        "Training step of `QLSTM` (method `auto`) across circuit configurations (qubits, "
        "n_qlayers, depth), against `torch.nn.LSTM(1, hidden)` and the PennyLane 4×TorchLayer "
        "QLSTM with the same circuit on `default.qubit`/backprop, per row, as the workload line "
        'below says (see `benchmarks/bench_configs.py`). "est. MFLOP": the cost model\'s '
        'floating-point work of the circuits in one step for the method chosen; "GFLOP/s": that '
        f"work over our measured step. PennyLane runs up to {results['pl_max_qubits']} qubits.",
        "",
        f"{results['workload']}.",
        "",
        "| qubits, n_qlayers, depth | method | ours | PennyLane | PennyLane / ours | nn.LSTM "
        "| ours / nn.LSTM | est. MFLOP | GFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['qubits']}, {r['n_qlayers']}, {r['depth']} | {r['method']} | "
            f"{_ms(r['qlstm_ms'])} | {_ms(r['pennylane_ms'])} | {_fmt(r['pennylane_over_ours'])} "
            f"| {_ms(r['lstm_ms'])} | {r['ours_over_lstm']:.1f} | {r['est_mflop']:.2f} | "
            f"{r['gflops_per_s']:.3f} |"
        )
    summary = results["summary"]
    jump = summary["largest_jump"]
    lines += [
        "",
        f"Targets: PennyLane / ours ≥ 40 on every row (lowest "
        f"{_fmt(summary['min_pennylane_over_ours'])}); REF (4, 1, 1) ours / nn.LSTM ≤ 3 "
        f"({_fmt(summary['ref_ours_over_lstm'])}); no jump above 3× between neighbouring qubit "
        f"counts ({_jump_source(results)}; largest "
        f"{_jump(None if jump is None else (jump['ratio'], jump['between']))}).",
    ]
    if results.get("ladder"):
        ladder = results["ladder"]
        lines += [
            "",
            "Our step time at every qubit count (one block of depth 1, the same workload, "
            "measured after the rows):",
            "",
            "| qubits | " + " | ".join(str(r["qubits"]) for r in ladder) + " |",
            "|---|" + "---|" * len(ladder),
            "| method | " + " | ".join(r["method"] for r in ladder) + " |",
            "| step | " + " | ".join(_ms(r["qlstm_ms"]) for r in ladder) + " |",
            "| × previous | – | "
            + " | ".join(
                f"{b['qlstm_ms'] / a['qlstm_ms']:.2f}"
                for a, b in zip(ladder, ladder[1:], strict=False)
            )
            + " |",
        ]
    if results["pennylane_skipped"]:
        lines += ["", f"PennyLane skipped: {results['pennylane_skipped']}."]
    png = plot_rows(results["rows"], Path(figures) / "configs.png")
    lines += ["", f"![training step per configuration]({png})"]
    return "\n".join(lines) + "\n"


def plot_rows(rows: list[dict], path: Path) -> str:
    """Step times per configuration and model (log scale); returns the markdown link target."""
    fig, ax = pyplot().subplots(figsize=(8, 3.5))
    labels = [f"{r['qubits']},{r['n_qlayers']},{r['depth']}" for r in rows]
    for k, (key, name) in enumerate(
        (("qlstm_ms", "ours"), ("pennylane_ms", "PennyLane"), ("lstm_ms", "nn.LSTM"))
    ):
        points = [(i, r[key]) for i, r in enumerate(rows) if r[key] is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.bar([x + 0.27 * (k - 1) for x in xs], [y / 1e3 for y in ys], 0.27, label=name)
    ax.set_xticks(range(len(rows)), labels)
    ax.set_yscale("log")
    ax.set_xlabel("qubits, n_qlayers, depth")
    ax.set_ylabel("training step (s)")
    ax.legend()
    return save(fig, path)


if __name__ == "__main__":
    main()
