"""A user's own step-by-step cell loop: ``QLSTMCell`` against ``torch.nn.LSTMCell`` in PyTorch's
time-sequence-prediction example.

Run (from the repository root)::

    python benchmarks/bench_cell_loop.py             # N 32 sine waves of length 100, 20 LBFGS steps
    python benchmarks/bench_cell_loop.py --quick     # tiny sizes (the smoke test)

The model is the example's ``Sequence`` (pytorch/examples, ``time_sequence_prediction``): two
stacked cells ``cell(1, 51)`` and ``cell(51, 51)`` and a ``Linear(51, 1)``, called once per time
step in a Python loop over ``input.split(1, dim=1)``, plus ``--future`` steps that feed the
prediction back; float64. The data are the example's: ``N`` sine waves ``sin((arange(L) + k) / T)``
with ``k`` uniform in ``[-4T, 4T)``, ``T = 20``; the input is each wave without its last point, the
target without its first. Training is the example's: ``LBFGS(lr=0.8, max_iter=--max-iter)``, whose
closure runs zero_grad, the loop, the MSE loss and backward.

The same script runs with ``QLSTMCell(..., n_qubits=4, seed=0)`` in place of ``nn.LSTMCell``. The
two models take their optimizer steps in turn in one process (``--warmup`` steps each, then
``--steps`` timed ones), so that machine noise affects both alike. Reported: the median time of one
closure call (forward + backward) and of one optimizer step (LBFGS calls the closure up to
``--max-iter`` times, fewer once it converges), in milliseconds, and the ratio of the closure times
(SPEC target: QLSTMCell within 3x of nn.LSTMCell). One torch thread by default (``--threads``).

``benchmarks/report.py`` runs this with its defaults and writes the "Cell loop" section of
``docs/BENCHMARKS.md`` with :func:`render`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qlstm_qiskit import QLSTMCell

QUICK_ARGS = ["--n", "4", "--length", "8", "--steps", "2", "--warmup", "1", "--max-iter", "2"]
TARGET = 3.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="sequences (the batch)")
    parser.add_argument("--length", type=int, default=100, help="points per sequence")
    parser.add_argument("--hidden", type=int, default=51)
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--future", type=int, default=0, help="prediction steps fed back")
    parser.add_argument("--steps", type=int, default=20, help="timed LBFGS steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed LBFGS steps per model")
    parser.add_argument("--max-iter", type=int, default=5, help="LBFGS max_iter")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for both models (default 1: the cells' operations are "
        "small, and on a shared machine a second thread makes nn.LSTMCell's timings erratic)",
    )
    parser.add_argument("--quick", action="store_true", help="the tiny QUICK_ARGS sizes")
    args = parser.parse_args(argv)
    if args.quick:
        quick = parser.parse_args(QUICK_ARGS)
        quick.threads = args.threads
        return quick
    return args


class Sequence(nn.Module):
    """The example's model with a cell class of the caller's choice."""

    def __init__(self, make_cell, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.lstm1 = make_cell(1, hidden)
        self.lstm2 = make_cell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1, dtype=torch.float64)

    def forward(self, input: torch.Tensor, future: int = 0) -> torch.Tensor:
        outputs = []
        zeros = [torch.zeros(input.size(0), self.hidden, dtype=torch.float64) for _ in range(4)]
        h_t, c_t, h_t2, c_t2 = zeros
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def sine_data(n: int, length: int, period: float = 20.0, seed: int = 2):
    """The example's data: ``input (n, length - 1)``, ``target (n, length - 1)``, float64."""
    rng = np.random.default_rng(seed)
    x = np.arange(length)[None, :] + rng.integers(-4 * period, 4 * period, (n, 1))
    data = np.sin(x / 1.0 / period)
    return torch.from_numpy(data[:, :-1].copy()), torch.from_numpy(data[:, 1:].copy())


def make_models(hidden: int, n_qubits: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    lstm = Sequence(lambda i, h: nn.LSTMCell(i, h, dtype=torch.float64), hidden)
    torch.manual_seed(0)
    qlstm = Sequence(
        lambda i, h: QLSTMCell(i, h, n_qubits=n_qubits, seed=i, dtype=torch.float64), hidden
    )
    return {"QLSTMCell": qlstm, "nn.LSTMCell": lstm}


def make_trainer(model: nn.Module, x, target, future: int, max_iter: int):
    """``step() -> (step seconds, [closure seconds], loss)``: one LBFGS step of the example."""
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.8, max_iter=max_iter)
    criterion = nn.MSELoss()
    closure_times: list[float] = []
    losses: list[float] = []

    def closure():
        start = time.perf_counter()
        optimizer.zero_grad()
        out = model(x, future)
        loss = criterion(out[:, : target.shape[1]], target)
        loss.backward()
        closure_times.append(time.perf_counter() - start)
        losses.append(loss.item())
        return loss

    def step():
        closure_times.clear()
        start = time.perf_counter()
        optimizer.step(closure)
        return time.perf_counter() - start, list(closure_times), losses[-1]

    return step


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    x, target = sine_data(args.n, args.length)
    models = make_models(args.hidden, args.n_qubits)
    trainers = {
        name: make_trainer(model, x, target, args.future, args.max_iter)
        for name, model in models.items()
    }
    times = {name: {"step": [], "closure": [], "loss": []} for name in models}
    for repetition in range(args.warmup + args.steps):
        for name, step in trainers.items():  # alternate the two models
            step_s, closure_s, loss = step()
            if repetition >= args.warmup:
                times[name]["step"].append(step_s)
                times[name]["closure"] += closure_s
            times[name]["loss"].append(loss)
    results = {
        name: {
            "closure_ms": 1e3 * statistics.median(kinds["closure"]),
            "step_ms": 1e3 * statistics.median(kinds["step"]),
            "closure_calls": len(kinds["closure"]),
            "losses": kinds["loss"],
        }
        for name, kinds in times.items()
    }
    ratio = results["QLSTMCell"]["closure_ms"] / results["nn.LSTMCell"]["closure_ms"]
    settings = {
        key: getattr(args, key)
        for key in ("n", "length", "hidden", "n_qubits", "future", "steps", "warmup", "max_iter")
    }
    print(
        f"workload: N {args.n} sine waves of length {args.length}, cells (1, {args.hidden}) and "
        f"({args.hidden}, {args.hidden}), {args.n_qubits} qubits, float64, LBFGS(lr=0.8, "
        f"max_iter={args.max_iter}), {torch.get_num_threads()} threads; medians of "
        f"{args.steps} steps after {args.warmup} warmup"
    )
    print(f"{'cell':<13}{'closure ms':>12}{'step ms':>10}{'closures':>10}{'last loss':>12}")
    for name, result in results.items():
        print(
            f"{name:<13}{result['closure_ms']:>12.2f}{result['step_ms']:>10.1f}"
            f"{result['closure_calls']:>10d}{result['losses'][-1]:>12.3g}"
        )
    print(f"ratio (QLSTMCell closure / nn.LSTMCell closure): {ratio:.2f} (target <= {TARGET:g})")
    return {
        "settings": settings,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "models": results,
        "ratio": ratio,
    }


def render(results: dict, figures: Path) -> str:
    """Markdown of the "Cell loop" section (no figure)."""
    s = results["settings"]
    lines = [
        "## Cell loop: QLSTMCell in a user's step-by-step loop",
        "",
        "PyTorch's `time_sequence_prediction` example (two stacked cells `(1, "
        f"{s['hidden']})` and `({s['hidden']}, {s['hidden']})`, a `Linear({s['hidden']}, 1)`, "
        "one cell call per time step, float64) trained with `LBFGS(lr=0.8, max_iter="
        f"{s['max_iter']})` on {s['n']} sine waves of length {s['length']}, with "
        f"`QLSTMCell(..., n_qubits={s['n_qubits']})` in place of `nn.LSTMCell`. The two models "
        "take their optimizer steps in turn in one process; medians of "
        f"{s['steps']} steps after {s['warmup']} warm-up; torch {results['torch']}, "
        f"{results['threads']} threads. Closure = zero_grad + the loop + MSE + backward.",
        "",
        "| cell | closure ms | LBFGS step ms | closure calls timed |",
        "|---|---|---|---|",
    ]
    for name, r in results["models"].items():
        lines.append(
            f"| {name} | {r['closure_ms']:.2f} | {r['step_ms']:.1f} | {r['closure_calls']} |"
        )
    lines += [
        "",
        f"Ratio QLSTMCell / nn.LSTMCell per closure call: **{results['ratio']:.2f}** "
        f"(target <= {TARGET:g}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
