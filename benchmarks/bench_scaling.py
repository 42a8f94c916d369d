"""Scaling on ``statevector``: training-step time and peak memory of ``QLSTM`` against n_qubits,
depth, hidden_size, batch and sequence length, one axis at a time, with ``torch.nn.LSTM`` alongside.

Run (from the repository root, package installed or ``PYTHONPATH=.``)::

    python benchmarks/bench_scaling.py                               # all five axes
    python benchmarks/bench_scaling.py --n-qubits 2 8 14 --depth --hidden --batch --seq
    python benchmarks/bench_scaling.py --max-steps 5 --budget 1

Workload: the base configuration is REF, ``QLSTM(1, 17, n_qubits=4, n_qlayers=1, depth=1)`` on the
default ``statevector`` backend, batch 32, sequence length 8, float32, input ``(T, B, 1)``. Each
axis (``--n-qubits``, ``--depth``, ``--hidden``, ``--batch``, ``--seq``: the values to sweep; an
empty list skips the axis) is varied alone from the base (``--base-*``). One training step is
zero_grad + forward + MSE loss of the output against a fixed random target + backward + Adam step.

The qubit sweep runs at batch ``--qubits-batch`` (default 1), not at REF's 32: the step time
grows about 4x per qubit pair at a fixed batch; at batch 32 the 18- and 20-qubit steps alone (a
warm-up and a timed step each) would take longer than the whole benchmark should. The n_qubits
rows are therefore not REF rows (the rendered text and the figure say so).

Method: every configuration runs in a fresh process (:mod:`fresh_process`), so its peak resident
memory (``ru_maxrss``, read after the QLSTM steps and before ``nn.LSTM`` is built) is its own; the
resident memory just before the model is built (imports done) is the baseline. Timing: one warm-up
step; if it took more than ``--slow`` seconds, one timed step follows; else ``--warmup`` warm-up
steps in all, then timed steps until ``--max-steps`` are timed or ``--budget`` seconds of timed
steps have accumulated (at least one). The median is reported with the number of timed steps.
``torch.nn.LSTM(1, hidden)`` is timed the same way on the same batch, sequence and target in the
same process. Each row records the simulator method ``auto`` chose for that workload
(``CompiledCircuit.choose``: ``product``, ``fused``, ``dense``, ``gates`` or ``adjoint``) and
which recurrence ran: ``fused`` (the NumPy sequence
with a hand-written backward pass of :mod:`qlstm_qiskit.recurrence`) or ``autograd`` (the per-step
loop).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers import make_step  # noqa: E402
from figures import pyplot, save  # noqa: E402
from fresh_process import current_rss_gib, peak_rss_gib, run_in_fresh_process  # noqa: E402

#: The swept axes, in table order: name -> heading in the tables and plots.
AXES = {
    "n_qubits": "qubits",
    "depth": "depth",
    "hidden": "hidden_size",
    "batch": "batch",
    "seq": "sequence length",
}
REF = {"n_qubits": 4, "depth": 1, "hidden": 17, "batch": 32, "seq": 8}
DEFAULT_VALUES = {
    "n_qubits": [2, 4, 6, 8, 10, 12, 14, 16, 18, 20],
    "depth": [1, 2, 5, 10, 20, 30],
    "hidden": [17, 50, 100, 250, 500, 1000],
    "batch": [1, 4, 16, 32, 64, 128, 256],
    "seq": [1, 4, 8, 16, 32, 64, 128],
}
QUICK_ARGS = [
    "--n-qubits",
    "4",
    "13",
    "--depth",
    "1",
    "2",
    "--hidden",
    "3",
    "5",
    "--batch",
    "1",
    "2",
    "--seq",
    "1",
    "2",
    "--base-hidden",
    "3",
    "--base-batch",
    "2",
    "--base-seq",
    "2",
    "--qubits-batch",
    "2",
    "--warmup",
    "1",
    "--max-steps",
    "1",
]
FIGURE = "scaling.png"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for axis in AXES:
        parser.add_argument(
            f"--{axis.replace('_', '-')}",
            type=int,
            nargs="*",
            default=DEFAULT_VALUES[axis],
            help=f"values of {axis} to sweep",
        )
    for axis, value in REF.items():
        parser.add_argument(
            f"--base-{axis.replace('_', '-')}",
            type=int,
            default=value,
            help=f"{axis} while another axis is swept (REF: {value})",
        )
    parser.add_argument(
        "--qubits-batch",
        type=int,
        default=1,
        help="batch of the n_qubits sweep (see the module docstring)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="warm-up steps (fast steps)")
    parser.add_argument("--max-steps", type=int, default=30, help="most timed steps")
    parser.add_argument(
        "--budget",
        type=float,
        default=3.0,
        help="stop timing once this many seconds of timed steps accumulated",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=3.0,
        help="a first warm-up step slower than this (s): 1 timed step only",
    )
    parser.add_argument("--one-config", type=int, nargs=5, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- one configuration, in the child process ----------------------------------------------------
def time_steps(train_step, warmup: int, max_steps: int, budget_s: float, slow_s: float) -> dict:
    """Median seconds of timed steps after warm-up (rules in the module docstring)."""
    first_s = train_step()
    if first_s > slow_s:
        timed = [train_step()]
    else:
        for _ in range(warmup - 1):
            train_step()
        timed = []
        while not timed or (len(timed) < max_steps and sum(timed) < budget_s):
            timed.append(train_step())
    return {"step_s": statistics.median(timed), "steps_timed": len(timed)}


def watch_recurrence(ran: set) -> None:
    """Record in ``ran`` the name of each sequence implementation that
    :func:`qlstm_qiskit.recurrence.run_sequence` calls (``"fused"`` or ``"autograd"``)."""
    from qlstm_qiskit import recurrence

    for label, name in (("fused", "fused_sequence"), ("autograd", "autograd_sequence")):
        original = getattr(recurrence, name)

        def recorded(*args, _original=original, _label=label, **kwargs):
            ran.add(_label)
            return _original(*args, **kwargs)

        setattr(recurrence, name, recorded)


def measure_config(
    n_qubits: int, depth: int, hidden: int, batch: int, seq: int, args: argparse.Namespace
) -> dict:
    """QLSTM and nn.LSTM training steps of one configuration in this process: seconds per step,
    resident memory (GiB) before the model and at its peak, simulator method and recurrence."""
    from qlstm_qiskit import QLSTM

    timing = dict(
        warmup=args.warmup, max_steps=args.max_steps, budget_s=args.budget, slow_s=args.slow
    )
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(seq, batch, 1, generator=generator)  # (T, B, 1)
    target = torch.randn(seq, batch, hidden, generator=generator)  # (T, B, hidden)
    ran: set[str] = set()
    watch_recurrence(ran)
    baseline_gib = current_rss_gib()
    model = QLSTM(1, hidden, n_qubits=n_qubits, n_qlayers=1, depth=depth, seed=0)
    qlstm = time_steps(make_step(model, x, target), **timing)
    peak_gib = peak_rss_gib()
    torch.manual_seed(0)
    lstm = time_steps(make_step(nn.LSTM(1, hidden), x, target), **timing)
    return {
        "n_qubits": n_qubits,
        "depth": depth,
        "hidden": hidden,
        "batch": batch,
        "seq": seq,
        "method": model.cell_l0.executor.choose(batch, seq),
        "recurrence": "+".join(sorted(ran)),
        "qlstm_step_s": qlstm["step_s"],
        "qlstm_steps_timed": qlstm["steps_timed"],
        "lstm_step_s": lstm["step_s"],
        "lstm_steps_timed": lstm["steps_timed"],
        "ratio": qlstm["step_s"] / lstm["step_s"],
        "baseline_gib": baseline_gib,
        "peak_gib": peak_gib,
        "above_baseline_gib": peak_gib - baseline_gib,
        "threads": torch.get_num_threads(),
    }


# -- the sweep ----------------------------------------------------------------------------------
def configs(args: argparse.Namespace) -> list[tuple[str, int, dict]]:
    """``(axis, value, configuration)`` for every requested axis value; a configuration maps the
    five names of :data:`REF` to integers."""
    base = {axis: getattr(args, f"base_{axis}") for axis in REF}
    rows = []
    for axis in AXES:
        for value in getattr(args, axis):
            config = dict(base, **{axis: value})
            if axis == "n_qubits":
                config["batch"] = args.qubits_batch
            rows.append((axis, value, config))
    return rows


def format_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.2f} ms"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.one_config is not None:
        import json

        print(json.dumps(measure_config(*args.one_config, args)))
        return {}
    settings = {name: value for name, value in vars(args).items() if name != "one_config"}
    child_args = [
        "--warmup",
        args.warmup,
        "--max-steps",
        args.max_steps,
        "--budget",
        args.budget,
        "--slow",
        args.slow,
    ]
    base = ", ".join(f"{axis} {settings['base_' + axis]}" for axis in REF)
    print(
        f"training step (zero_grad + forward + MSE + backward + Adam), QLSTM(1, hidden) on "
        f"statevector and nn.LSTM(1, hidden), float32, fresh process per configuration; base "
        f"{base}; n_qubits sweep at batch {args.qubits_batch}",
        flush=True,
    )
    measured: dict[tuple, dict] = {}  # configuration -> child result (REF is shared by axes)
    rows = []
    start = time.perf_counter()
    current_axis = None
    for axis, value, config in configs(args):
        if axis != current_axis:
            current_axis = axis
            print(
                f"\n{AXES[axis]:>15}{'method':>9}{'recur.':>10}{'QLSTM':>11}{'nn.LSTM':>11}"
                f"{'ratio':>8}{'peak GiB':>10}{'+GiB':>7}{'steps':>7}",
                flush=True,
            )
        key = tuple(config[name] for name in REF)
        if key not in measured:
            measured[key] = run_in_fresh_process(__file__, ["--one-config", *key, *child_args])
        row = dict(measured[key], axis=axis, value=value)
        rows.append(row)
        print(
            f"{value:>15}{row['method']:>9}{row['recurrence']:>10}"
            f"{format_seconds(row['qlstm_step_s']):>11}{format_seconds(row['lstm_step_s']):>11}"
            f"{row['ratio']:>8.1f}{row['peak_gib']:>10.3f}{row['above_baseline_gib']:>7.3f}"
            f"{row['qlstm_steps_timed']:>7}",
            flush=True,
        )
    wall_s = time.perf_counter() - start
    print(f"\n{len(measured)} configurations in {wall_s:.0f} s", flush=True)
    return {
        "settings": settings,
        "torch": torch.__version__,
        "threads": rows[0]["threads"] if rows else torch.get_num_threads(),
        "wall_s": wall_s,
        "rows": rows,
    }


# -- the docs section ---------------------------------------------------------------------------
def render(results: dict, figures: Path) -> str:
    """Markdown of the Scaling section (one table per axis) and its figure, written to
    ``figures/scaling.png`` (the markdown refers to it as ``figures/scaling.png``)."""
    settings = results["settings"]
    base = {axis: settings[f"base_{axis}"] for axis in REF}
    axes = [axis for axis in AXES if any(row["axis"] == axis for row in results["rows"])]
    figures = Path(figures)
    figures.mkdir(parents=True, exist_ok=True)
    plot(results, axes, figures / FIGURE)
    is_ref = base == REF
    base_text = (
        f"`QLSTM(1, {base['hidden']}, n_qubits={base['n_qubits']}, n_qlayers=1, "
        f"depth={base['depth']})` on the default `statevector` backend, batch "
        f"{base['batch']}, sequence length {base['seq']}"
    )
    lines = [
        "## Scaling",
        "",
        f"torch {results['torch']}, {results['threads']} threads. Base workload"
        f"{' (REF)' if is_ref else ''}: {base_text}, "
        "float32, input `(T, B, 1)`. One axis is varied at a time from the base. One training "
        "step = zero_grad + forward + MSE loss of the output against a fixed random target + "
        "backward + Adam step; `torch.nn.LSTM(1, hidden)` runs the same step on the same batch, "
        'sequence and target, and "× nn.LSTM" is the ratio of the two step times.',
        "",
        "Each configuration runs in a fresh process. Step time: median of the timed steps after "
        f"warm-up ({settings['warmup']} warm-up steps, then up to {settings['max_steps']} timed "
        f"steps or until {settings['budget']:g} s of timed steps; a single warm-up and one timed "
        f"step when the first step takes more than {settings['slow']:g} s). Peak RSS is the "
        "process's peak resident memory (`ru_maxrss`) after the QLSTM steps, before `nn.LSTM` is "
        'built; "above baseline" subtracts the resident memory just before the model was built '
        '(Python, torch and Qiskit imported). "method" is the simulator method the backend '
        "chose and the recurrence that ran (`fused`: the NumPy sequence with a hand-written "
        "backward pass; `autograd`: the per-step loop).",
        "",
    ]
    if "n_qubits" in axes and settings["qubits_batch"] != base["batch"]:
        lines += [
            f"The n_qubits sweep runs at batch {settings['qubits_batch']}, not "
            f"{base['batch']}: the step time grows about 4x per qubit pair, "
            f"and a 20-qubit step at batch {base['batch']} would take far longer than this "
            "benchmark's time budget (see the docstring of `benchmarks/bench_scaling.py`).",
            "",
        ]
    lines += [f"![Step time and peak memory against each axis](figures/{FIGURE})", ""]
    for axis in axes:
        lines += [
            f"### {AXES[axis]}",
            "",
            f"| {AXES[axis]} | method | step time | × nn.LSTM | peak RSS GiB | "
            "above baseline GiB | steps timed |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in (r for r in results["rows"] if r["axis"] == axis):
            lines.append(
                f"| {row['value']} | {row['method']}, {row['recurrence']} | "
                f"{format_seconds(row['qlstm_step_s'])} | {row['ratio']:.1f} | "
                f"{row['peak_gib']:.3f} | {row['above_baseline_gib']:.3f} | "
                f"{row['qlstm_steps_timed']} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, axes: list[str], path: Path) -> None:
    """One figure, one column per axis: step time (log y, QLSTM and nn.LSTM) above, peak and
    above-baseline resident memory (GiB) below."""
    columns = max(len(axes), 1)
    figure, grid = pyplot().subplots(2, columns, figsize=(3.2 * columns, 6), squeeze=False)
    for column, axis in enumerate(axes):
        rows = [row for row in results["rows"] if row["axis"] == axis]
        values = [row["value"] for row in rows]
        top, bottom = grid[0, column], grid[1, column]
        top.plot(values, [row["qlstm_step_s"] for row in rows], "o-", label="QLSTM")
        top.plot(values, [row["lstm_step_s"] for row in rows], "s--", label="nn.LSTM")
        top.set_yscale("log")
        batches = {row["batch"] for row in rows}
        top.set_title(
            AXES[axis]
            + (f" (batch {batches.pop()})" if axis == "n_qubits" and len(batches) == 1 else "")
        )
        bottom.plot(values, [row["peak_gib"] for row in rows], "o-", label="peak RSS")
        bottom.plot(
            values, [row["above_baseline_gib"] for row in rows], "s--", label="above baseline"
        )
        bottom.set_xlabel(AXES[axis])
        if (
            axis != "n_qubits"
            and len(values) > 1
            and min(values) > 0
            and max(values) / min(values) >= 20
        ):
            top.set_xscale("log")
            bottom.set_xscale("log")
        if column == 0:
            top.set_ylabel("training step (s)")
            bottom.set_ylabel("resident memory (GiB)")
            top.legend(fontsize="small")
            bottom.legend(fontsize="small")
    save(figure, path)


if __name__ == "__main__":
    main()
