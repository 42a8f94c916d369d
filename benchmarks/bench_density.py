"""The ``density_matrix`` backend: its REF training step against ``statevector`` and the
``aer_noisy_exact`` parameter-shift step, and its step time and peak memory against qubits.

Run (from the repository root, with the ``bench`` extra installed for ``fake_manila``)::

    python benchmarks/bench_density.py                        # both parts, one torch thread
    python benchmarks/bench_density.py --qubits               # part 1 only
    python benchmarks/bench_density.py --steps 5 --slow-steps 1 --qubits 2 4 6 8

``benchmarks/report.py`` runs this with its defaults and writes the "Density matrix" section of
``docs/BENCHMARKS.md`` with :func:`render`.

One training step is zero_grad + forward + MSE loss of the output against a fixed random target
+ backward + Adam step (float32, input ``(T, B, 1)``), timed by ``bench_step.make_timers``.

Part 1, REF (``QLSTM(1, 17, n_qubits=4)``, batch 32, sequence length 8), in one process:

- ``statevector`` (exact, noiseless, the default backend);
- ``density_matrix`` with ``noise_from=`` each of ``--noise-from`` (default ``aer_noisy``: that
  profile's noise table and basis gates; ``fake_manila``: the fake device's ``NoiseModel`` on its
  ISA circuit), exact noisy values differentiated by autograd;
- ``aer_noisy_exact``: Aer ``EstimatorV2`` density matrix, parameter-shift gradients (seconds per
  step).

The models step in turn, every repetition (``--warmup`` + ``--steps`` repetitions, medians over
the timed ones). ``aer_noisy_exact`` takes ``--slow-warmup`` + ``--slow-steps`` steps in all,
spread evenly over the same repetitions (the first a warm-up), median over its timed ones. The
ratios per density variant: ``aer_noisy_exact / density`` (target >= 200) and
``density / statevector`` (target <= 20). ``--threads N`` sets torch's intra-op threads (default
1, the issue's reference setting); Aer keeps its default and uses every core, which favours
``aer_noisy_exact``.

Part 2, qubits (``--qubits``, default 2 to 10): ``density_matrix`` with its own noise table,
``QLSTM(1, hidden, n_qubits=n)`` at batch ``--qubits-batch`` (default 4) and sequence length
``--qubits-seq`` (default 2), not REF's 32 and 8: a 10-qubit step (evolution path, 4**10-entry
density matrices) takes about 10 s at batch 4, sequence 2 on 2 cores, about 16x that at REF.
Every qubit count runs in a fresh process (:mod:`fresh_process`) so that its peak resident memory
(``ru_maxrss``, read after the density steps, before anything else is built) is its own; the
resident memory just before the model is built (imports done, backend built) is the baseline.
``statevector`` and ``torch.nn.LSTM(1, hidden)`` run the same step on the same data afterwards in
that process. Timing rules are ``bench_scaling.time_steps``'s: one warm-up step; if it took more
than ``--slow`` s, one timed step; else ``--qubits-warmup`` warm-up steps, then timed steps until
``--max-steps`` or ``--budget`` s of timed steps. Each row records the engine's path:
``product`` up to ``qlstm_qiskit.sim.density.PRODUCT_MAX_QUBITS`` (6) qubits, ``evolution``
above (``executor.program.product``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scaling import format_seconds, time_steps  # noqa: E402
from bench_step import make_timers  # noqa: E402
from figures import pyplot, save  # noqa: E402
from fresh_process import current_rss_gib, peak_rss_gib, run_in_fresh_process  # noqa: E402

REF = {"hidden": 17, "n_qubits": 4, "batch": 32, "seq": 8}
#: the issue's targets: aer_noisy_exact step / density step, density step / statevector step
SPEEDUP_TARGET = 200.0
SLOWDOWN_TARGET = 20.0
QUICK_ARGS = [
    "--batch",
    "2",
    "--seq",
    "2",
    "--hidden",
    "3",
    "--steps",
    "2",
    "--warmup",
    "1",
    "--slow-steps",
    "1",
    "--qubits",
    "2",
    "7",
    "--qubits-batch",
    "2",
    "--qubits-warmup",
    "1",
    "--max-steps",
    "1",
]
FIGURE = "density_qubits.png"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed repetitions, part 1")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up repetitions, part 1")
    parser.add_argument(
        "--slow-steps", type=int, default=3, help="timed aer_noisy_exact steps, part 1"
    )
    parser.add_argument(
        "--slow-warmup", type=int, default=1, help="warm-up aer_noisy_exact steps, part 1"
    )
    parser.add_argument("--batch", type=int, default=REF["batch"], help="part 1 batch")
    parser.add_argument("--seq", type=int, default=REF["seq"], help="part 1 sequence length")
    parser.add_argument("--hidden", type=int, default=REF["hidden"], help="both parts")
    parser.add_argument("--n-qubits", type=int, default=REF["n_qubits"], help="part 1 qubits")
    parser.add_argument(
        "--noise-from",
        nargs="+",
        default=["aer_noisy", "fake_manila"],
        help="noise_from of the density_matrix variants of part 1",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default: 1; Aer uses every core)",
    )
    parser.add_argument(
        "--qubits",
        type=int,
        nargs="*",
        default=list(range(2, 11)),
        help="qubit counts of part 2 (none: skip part 2)",
    )
    parser.add_argument("--qubits-batch", type=int, default=4, help="part 2 batch")
    parser.add_argument("--qubits-seq", type=int, default=2, help="part 2 sequence length")
    parser.add_argument("--qubits-warmup", type=int, default=2, help="part 2 warm-up steps")
    parser.add_argument("--max-steps", type=int, default=10, help="part 2: most timed steps")
    parser.add_argument(
        "--budget", type=float, default=3.0, help="part 2: stop timing after this many seconds"
    )
    parser.add_argument(
        "--slow", type=float, default=3.0, help="part 2: a slower first step means 1 timed step"
    )
    parser.add_argument(
        "--no-ref", dest="ref", action="store_false", help="skip part 1 (only the qubit sweep)"
    )
    parser.add_argument("--one-config", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("steps", "slow_steps", "max_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


def density_path(model) -> str:
    """Which evaluation the density engine runs for the model's first layer."""
    return "product" if model.cell_l0.executor.program.product else "evolution"


# -- part 1: REF, alternated --------------------------------------------------------------------
def spread(total: int, count: int) -> list[int]:
    """How many slow steps run in each of ``total`` repetitions: ``count`` spread evenly, the
    first in repetition 0."""
    per = [0] * max(total, 1)
    for k in range(count):
        per[k * len(per) // count] += 1
    return per


def ref_part(args: argparse.Namespace) -> dict:
    from qlstm_qiskit import QLSTM, get_backend

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.seq, args.batch, 1, generator=generator)
    target = torch.randn(args.seq, args.batch, args.hidden, generator=generator)

    def qlstm(backend):
        return QLSTM(1, args.hidden, n_qubits=args.n_qubits, seed=0, backend=backend)

    models = {"statevector": qlstm("statevector")}
    labels = {"statevector": "`statevector`"}
    paths = {}
    for source in args.noise_from:
        key = f"density_{source}"
        models[key] = qlstm(get_backend("density_matrix", noise_from=source))
        labels[key] = f'`density_matrix`, `noise_from="{source}"`'
        paths[key] = density_path(models[key])
    slow_model = qlstm(get_backend("aer_noisy_exact"))
    labels["aer_noisy_exact"] = "`aer_noisy_exact` (Aer, parameter shift)"

    fast = {name: make_timers(model, x, target)[0] for name, model in models.items()}
    slow = make_timers(slow_model, x, target)[0]
    times: dict[str, list[float]] = {name: [] for name in labels}
    repetitions = args.warmup + args.steps
    slow_total = args.slow_warmup + args.slow_steps
    slow_done = 0
    for repetition, slow_count in enumerate(spread(repetitions, slow_total)):
        for name, train_step in fast.items():  # alternate the models
            seconds = train_step()
            if repetition >= args.warmup:
                times[name].append(seconds)
        for _ in range(slow_count):
            seconds = slow()
            slow_done += 1
            if slow_done > args.slow_warmup:
                times["aer_noisy_exact"].append(seconds)
    models_out = {
        name: {
            "label": labels[name],
            "step_s": statistics.median(values),
            "steps_timed": len(values),
            **({"path": paths[name]} if name in paths else {}),
        }
        for name, values in times.items()
    }
    slow_s = models_out["aer_noisy_exact"]["step_s"]
    statevector_s = models_out["statevector"]["step_s"]
    ratios = {}
    for name in paths:
        step_s = models_out[name]["step_s"]
        speedup, slowdown = slow_s / step_s, step_s / statevector_s
        ratios[name] = {
            "aer_noisy_exact_over_density": speedup,
            "density_over_statevector": slowdown,
            "speedup_met": speedup >= SPEEDUP_TARGET,
            "slowdown_met": slowdown <= SLOWDOWN_TARGET,
        }
    workload = {name: getattr(args, name) for name in REF}
    return {
        "workload": workload,
        "is_ref": workload == REF,
        "models": models_out,
        "ratios": ratios,
        "targets": {"speedup_min": SPEEDUP_TARGET, "slowdown_max": SLOWDOWN_TARGET},
    }


def print_ref(ref: dict, args: argparse.Namespace) -> None:
    w = ref["workload"]
    print(
        f"part 1: QLSTM(1, {w['hidden']}, n_qubits={w['n_qubits']}), batch {w['batch']}, seq "
        f"{w['seq']}, float32, {torch.get_num_threads()} torch threads, Aer on every core; "
        f"alternated, median of {args.steps} after "
        f"{args.warmup} warm-up (aer_noisy_exact: {args.slow_steps} after {args.slow_warmup})",
        flush=True,
    )
    print(f"{'model':<28}{'path':>10}{'step':>12}{'timed':>7}")
    for name, model in ref["models"].items():
        print(
            f"{name:<28}{model.get('path', ''):>10}{format_seconds(model['step_s']):>12}"
            f"{model['steps_timed']:>7}"
        )
    for name, ratio in ref["ratios"].items():
        print(
            f"{name}: aer_noisy_exact / density {ratio['aer_noisy_exact_over_density']:.0f} "
            f"(target >= {SPEEDUP_TARGET:.0f}: {'met' if ratio['speedup_met'] else 'NOT met'}), "
            f"density / statevector {ratio['density_over_statevector']:.1f} "
            f"(target <= {SLOWDOWN_TARGET:.0f}: {'met' if ratio['slowdown_met'] else 'NOT met'})",
            flush=True,
        )


# -- part 2: qubits, one fresh process each -----------------------------------------------------
def measure_qubits(n_qubits: int, args: argparse.Namespace) -> dict:
    """One qubit count in this process: density_matrix, then statevector and nn.LSTM."""
    from qlstm_qiskit import QLSTM, get_backend

    set_threads(args.threads)
    timing = dict(
        warmup=args.qubits_warmup, max_steps=args.max_steps, budget_s=args.budget, slow_s=args.slow
    )
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.qubits_seq, args.qubits_batch, 1, generator=generator)
    target = torch.randn(args.qubits_seq, args.qubits_batch, args.hidden, generator=generator)
    backend = get_backend("density_matrix")
    baseline_gib = current_rss_gib()
    model = QLSTM(1, args.hidden, n_qubits=n_qubits, seed=0, backend=backend)
    density = time_steps(make_timers(model, x, target)[0], **timing)
    peak_gib = peak_rss_gib()
    path = density_path(model)
    del model
    statevector = time_steps(
        make_timers(QLSTM(1, args.hidden, n_qubits=n_qubits, seed=0), x, target)[0], **timing
    )
    torch.manual_seed(0)
    lstm = time_steps(make_timers(nn.LSTM(1, args.hidden), x, target)[0], **timing)
    return {
        "n_qubits": n_qubits,
        "path": path,
        "density_step_s": density["step_s"],
        "density_steps_timed": density["steps_timed"],
        "statevector_step_s": statevector["step_s"],
        "lstm_step_s": lstm["step_s"],
        "over_statevector": density["step_s"] / statevector["step_s"],
        "over_lstm": density["step_s"] / lstm["step_s"],
        "baseline_gib": baseline_gib,
        "peak_gib": peak_gib,
        "above_baseline_gib": peak_gib - baseline_gib,
        "threads": torch.get_num_threads(),
    }


def qubits_part(args: argparse.Namespace) -> list[dict]:
    child_args = [
        "--hidden",
        args.hidden,
        "--qubits-batch",
        args.qubits_batch,
        "--qubits-seq",
        args.qubits_seq,
        "--qubits-warmup",
        args.qubits_warmup,
        "--max-steps",
        args.max_steps,
        "--budget",
        args.budget,
        "--slow",
        args.slow,
        *(["--threads", args.threads] if args.threads is not None else []),
    ]
    print(
        f"\npart 2: density_matrix (own noise table), QLSTM(1, {args.hidden}, n_qubits=n), batch "
        f"{args.qubits_batch}, seq {args.qubits_seq}; fresh process per qubit count",
        flush=True,
    )
    print(
        f"{'qubits':>7}{'path':>11}{'density':>11}{'x sv':>8}{'x LSTM':>8}{'peak GiB':>10}"
        f"{'+GiB':>8}{'timed':>7}",
        flush=True,
    )
    rows = []
    for n_qubits in args.qubits:
        row = run_in_fresh_process(__file__, ["--one-config", n_qubits, *child_args])
        rows.append(row)
        print(
            f"{n_qubits:>7}{row['path']:>11}{format_seconds(row['density_step_s']):>11}"
            f"{row['over_statevector']:>8.1f}{row['over_lstm']:>8.1f}{row['peak_gib']:>10.3f}"
            f"{row['above_baseline_gib']:>8.3f}{row['density_steps_timed']:>7}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    set_threads(args.threads)
    if args.one_config is not None:
        print(json.dumps(measure_qubits(args.one_config, args)))
        return {}
    settings = {name: value for name, value in vars(args).items() if name != "one_config"}
    start = time.perf_counter()
    ref = ref_part(args) if args.ref else None
    if ref is not None:
        print_ref(ref, args)
    rows = qubits_part(args) if args.qubits else []
    wall_s = time.perf_counter() - start
    print(f"\nwall time {wall_s:.0f} s", flush=True)
    return {
        "settings": settings,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "wall_s": wall_s,
        "ref": ref,
        "qubits": rows,
    }


# -- the docs section ---------------------------------------------------------------------------
def ref_lines(ref: dict, settings: dict) -> list[str]:
    """Part 1's markdown: the step table and the ratio table."""
    w = ref["workload"]
    lines = [
        f"### Training step{' at REF' if ref['is_ref'] else ''}",
        "",
        f"`QLSTM(1, {w['hidden']}, n_qubits={w['n_qubits']})`, batch {w['batch']}, sequence "
        f"length {w['seq']}{'' if ref['is_ref'] else ' (not REF)'}. The models step in turn in "
        f"one process; medians of {settings['steps']} timed repetitions after "
        f"{settings['warmup']} warm-up; `aer_noisy_exact`: {settings['slow_steps']} timed "
        f"step(s) after {settings['slow_warmup']} warm-up, spread over the same repetitions. "
        "(The issue's reference figures, one thread: `statevector` 3.5 ms, `aer_noisy_exact` "
        "7.7 s per step.)",
        "",
        "| model | path | training step | steps timed |",
        "|---|---|---|---|",
    ]
    for model in ref["models"].values():
        lines.append(
            f"| {model['label']} | {model.get('path', '–')} | "
            f"{format_seconds(model['step_s'])} | {model['steps_timed']} |"
        )
    speedup, slowdown = ref["targets"]["speedup_min"], ref["targets"]["slowdown_max"]
    lines += [
        "",
        f"| `density_matrix` noise | `aer_noisy_exact` ÷ density (target ≥ {speedup:g}) | "
        f"density ÷ `statevector` (target ≤ {slowdown:g}) |",
        "|---|---|---|",
    ]
    for name, ratio in ref["ratios"].items():
        source = name.removeprefix("density_")
        lines.append(
            f"| `{source}` | {ratio['aer_noisy_exact_over_density']:,.0f} "
            f"({'met' if ratio['speedup_met'] else 'not met'}) | "
            f"{ratio['density_over_statevector']:.1f} "
            f"({'met' if ratio['slowdown_met'] else 'not met'}) |"
        )
    return lines + [""]


def render(results: dict, figures: Path) -> str:
    """Markdown of the "Density matrix" section; writes ``figures/density_qubits.png`` when part
    2 ran."""
    settings, ref = results["settings"], results["ref"]
    lines = [
        "## Density matrix",
        "",
        "The `density_matrix` backend (exact noisy values from batched density matrices in "
        "torch, gradients by autograd) against `statevector` and the `aer_noisy_exact` "
        "parameter-shift step. One training step = zero_grad + forward + MSE loss of the "
        "output against a fixed random target + backward + Adam step, float32; torch "
        f"{results['torch']}, {results['threads']} torch threads"
        + (", Aer on all cores (its default)" if ref else "")
        + ".",
        "",
    ]
    if ref is not None:
        lines += ref_lines(ref, settings)
    rows = results["qubits"]
    if rows:
        figures = Path(figures)
        link = plot(rows, figures / FIGURE, settings)
        lines += [
            "### Against qubits",
            "",
            f"`density_matrix` with its own noise table, `QLSTM(1, {settings['hidden']}, "
            f"n_qubits=n)` at batch {settings['qubits_batch']} and sequence length "
            f"{settings['qubits_seq']} (not REF's 32 and 8: a 10-qubit step on the evolution "
            "path would take minutes at REF). Each qubit count runs in a fresh process; "
            "`statevector` and `torch.nn.LSTM(1, hidden)` run the same step afterwards in that "
            "process. Step time: median of the timed steps after warm-up "
            f"({settings['qubits_warmup']} warm-up steps, then up to {settings['max_steps']} "
            f"timed steps or until {settings['budget']:g} s of them; one warm-up and one timed "
            f"step when the first step takes more than {settings['slow']:g} s). Peak RSS: the "
            "process's `ru_maxrss` after the density steps; above baseline: minus the resident "
            "memory just before the model was built. Path: the engine's evaluation, `product` "
            "(one-qubit input states carried through the fixed part once per forward) up to "
            "6 qubits (`PRODUCT_MAX_QUBITS`), `evolution` (density matrices evolved run by run, "
            "checkpointed batch chunks) above.",
            "",
            f"![density_matrix step time and peak memory against qubits]({link})",
            "",
            "| qubits | path | training step | × statevector | × nn.LSTM | peak RSS GiB | "
            "above baseline GiB | steps timed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['n_qubits']} | {row['path']} | {format_seconds(row['density_step_s'])} "
                f"| {row['over_statevector']:.1f} | {row['over_lstm']:.1f} | "
                f"{row['peak_gib']:.3f} | {row['above_baseline_gib']:.3f} | "
                f"{row['density_steps_timed']} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, settings: dict) -> str:
    """Step time (log y: density_matrix, statevector, nn.LSTM) and resident memory against
    qubits, a dotted line where the engine changes path; returns the markdown link target."""
    figure, (left, right) = pyplot().subplots(1, 2, figsize=(9, 3.6))
    qubits = [row["n_qubits"] for row in rows]
    left.plot(qubits, [row["density_step_s"] for row in rows], "o-", label="density_matrix")
    left.plot(qubits, [row["statevector_step_s"] for row in rows], "s--", label="statevector")
    left.plot(qubits, [row["lstm_step_s"] for row in rows], "^:", label="nn.LSTM")
    left.set_yscale("log")
    left.set_ylabel("training step (s)")
    left.set_title(f"batch {settings['qubits_batch']}, seq {settings['qubits_seq']}")
    right.plot(qubits, [row["peak_gib"] for row in rows], "o-", label="peak RSS")
    right.plot(qubits, [row["above_baseline_gib"] for row in rows], "s--", label="above baseline")
    right.set_ylabel("resident memory (GiB)")
    switches = [
        (a["n_qubits"] + b["n_qubits"]) / 2
        for a, b in zip(rows, rows[1:], strict=False)
        if a["path"] != b["path"]
    ]
    for axis in (left, right):
        axis.set_xlabel("qubits" + (" (dotted: product | evolution path)" if switches else ""))
        for x in switches:
            axis.axvline(x, color="grey", linestyle=":", linewidth=1)
        axis.legend(fontsize="small")
    return save(figure, path)


if __name__ == "__main__":
    main()
