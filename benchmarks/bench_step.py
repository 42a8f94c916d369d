"""Training-step and forward time of ``QLSTM`` against ``torch.nn.LSTM`` on the same workload.

Run (from the repository root)::

    python benchmarks/bench_step.py                 # REF workload: hidden 17, 4 qubits, B 32, T 8

One training step is zero_grad + forward + MSE loss on the output + backward + Adam step (float32,
input_size 1). The two models are measured in one process, alternating every repetition so that
machine noise affects both alike; the medians over ``--steps`` repetitions after ``--warmup`` are
reported in milliseconds. The last line is the step-time ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from qlstm_qiskit import QLSTM


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=17)
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads for both models (default: torch's choice)",
    )
    return parser.parse_args(argv)


def make_timers(model: nn.Module, x: torch.Tensor, target: torch.Tensor):
    """Return ``(train_step, forward)``: each runs once and returns its duration in seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def train_step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad()
        output, _ = model(x)
        loss_fn(output, target).backward()
        optimizer.step()
        return time.perf_counter() - start

    def forward() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            model(x)
        return time.perf_counter() - start

    return train_step, forward


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.seq, args.batch, 1)
    target = torch.randn(args.seq, args.batch, args.hidden)
    models = {
        "QLSTM": QLSTM(1, args.hidden, n_qubits=args.n_qubits, seed=0),
        "nn.LSTM": nn.LSTM(1, args.hidden),
    }
    timers = {name: make_timers(model, x, target) for name, model in models.items()}
    times = {name: {"step": [], "forward": []} for name in models}
    for repetition in range(args.warmup + args.steps):
        for name, (train_step, forward) in timers.items():  # alternate the two models
            step_s, forward_s = train_step(), forward()
            if repetition >= args.warmup:
                times[name]["step"].append(step_s)
                times[name]["forward"].append(forward_s)

    results = {
        name: {kind: 1e3 * statistics.median(values) for kind, values in kinds.items()}
        for name, kinds in times.items()
    }
    ratio = results["QLSTM"]["step"] / results["nn.LSTM"]["step"]
    print(
        f"workload: input 1, hidden {args.hidden}, {args.n_qubits} qubits, batch {args.batch}, "
        f"seq {args.seq}, float32, {torch.get_num_threads()} threads; "
        f"median of {args.steps} after {args.warmup} warmup"
    )
    print(f"{'model':<10}{'step ms':>10}{'forward ms':>12}")
    for name, result in results.items():
        print(f"{name:<10}{result['step']:>10.3f}{result['forward']:>12.3f}")
    print(f"ratio (QLSTM step / nn.LSTM step): {ratio:.2f} (target <= 3)")
    return {
        "qlstm_step_ms": results["QLSTM"]["step"],
        "qlstm_forward_ms": results["QLSTM"]["forward"],
        "lstm_step_ms": results["nn.LSTM"]["step"],
        "lstm_forward_ms": results["nn.LSTM"]["forward"],
        "ratio": ratio,
        "steps": args.steps,
        "warmup": args.warmup,
    }


if __name__ == "__main__":
    main()
