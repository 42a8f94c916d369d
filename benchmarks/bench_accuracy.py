"""Forecasting accuracy of ``QLSTM`` and its cell variants against parameter-matched classical
LSTMs, on the tasks and with the protocol of the QLSTM papers, each model at the learning rate and
schedule it does best with on a validation split, over 5 seeds.

Run (from the repository root, package installed or ``PYTHONPATH=.``)::

    python benchmarks/bench_accuracy.py                     # 5 tasks, 5 seeds, the whole grid
    python benchmarks/bench_accuracy.py --datasets damped_shm --seeds 0 1 2 --epochs 20

Protocol (Chen et al. 2020; ``qlstm_qiskit.forecasting.training.Run``): a window of 4 values
predicts the next one, MinMax scaling to [-1, 1] fitted on the whole series, 67 % / 33 %
chronological split, RMSprop (alpha 0.99, eps 1e-8), batches of 10 shuffled windows, MSE on the
last step's prediction, the same epoch budget for every model (100), float64, ``statevector``,
one torch thread per training. The chronologically last ``--val-fraction`` (0.2) of the training
windows validate; the test windows are never used to choose anything.

Models: ``qlstm``, ``QLSTM(1, 5, n_qubits=4, depth=1)`` with the Chen et al. 2020 circuit, and
each variant alone on top of it: ``chen`` (``cell="chen"``, six VQCs), ``input_scaling``
(``input_scaling=True``), ``strong`` (``entangling="strong"`` at ``depth=2``: at depth 1 a
strongly entangling layer has CNOT range 1, the ring, so the default's depth would make it the
default model); a variant whose circuits and initial weights are another's is not trained and
reported as the same model. Each QLSTM has a matched
``nn.LSTM(1, h)``, ``h`` the hidden size whose parameter count is the closest (within +-20 %);
one LSTM per distinct ``h``. Every model has ``nn.Linear(hidden, 1)`` on the last step.

Selection: for each (task, model), every grid point (``--lrs`` x ``--schedules``) trains on every
seed; the chosen point has the lowest mean over seeds of the best validation MSE (a point on
which a seed diverged ranks last). Its figures, over the seeds: the test MSE at each seed's
best-validation epoch (mean +- std), the last epoch's test MSE, the best epoch (median) and the
first epoch whose test MSE is <= each ``--thresholds`` value (descriptive, never selected on).
Gap rule: two models' means are apart when ``|mean_a - mean_b| > std_a + std_b``.

Cost: ``delayed_control`` has 2201 points (~9x the others' trainings); by default it is
resampled to 441 points (``--points``), every 5th point of the paper's series (x step 0.05 instead
of 0.01). Trainings run in ``--workers`` spawned processes; each finished one is appended to
``--cache`` (``runs/bench_accuracy.jsonl``) and a rerun trains only what it lacks.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch

from qlstm_qiskit.circuits import CircuitSpec
from qlstm_qiskit.forecasting.datasets import generate
from qlstm_qiskit.forecasting.models import Forecaster, ModelConfig
from qlstm_qiskit.forecasting.schedules import LR_SCHEDULES

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy_runs  # noqa: E402
from accuracy_render import render, task_tables  # noqa: E402, F401  (render: the section's)
from accuracy_stats import gap, grid_score, select, summarise, verdict  # noqa: E402

DATASETS = ("damped_shm", "bessel_j2", "delayed_control", "narma5", "narma5_smooth")
#: the QLSTM configurations: name -> the ModelConfig/CircuitSpec fields changed from the default
VARIANTS = {
    "qlstm": {},
    "chen": {"cell": "chen"},
    "input_scaling": {"input_scaling": True},
    "strong": {"entangling": "strong", "depth": 2},  # at depth 1 its one layer is the ring
}
#: the default resampling: delayed_control's 2201 points cost ~9x another task's trainings
DEFAULT_POINTS = {"delayed_control": 441}
CACHE = Path(__file__).resolve().parent.parent / "runs" / "bench_accuracy.jsonl"
PARAMETER_TOLERANCE = 0.20
QUICK_ARGS = [
    "--datasets",
    "damped_shm",
    "--seeds",
    "0",
    "1",
    "--epochs",
    "2",
    "--n-points",
    "60",
    "--lrs",
    "0.01",
    "0.03",
    "--schedules",
    "none",
    "--thresholds",
    "0.5",
    "1e-9",
    "--no-cache",
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--models", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=5, help="QLSTM hidden size")
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    parser.add_argument("--schedules", nargs="+", choices=LR_SCHEDULES, default=["none", "cosine"])
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=[1e-3, 1e-4],
        help="test MSE levels for 'epochs to reach' (descriptive)",
    )
    parser.add_argument(
        "--n-points", type=int, default=None, help="resample every series to N points"
    )
    parser.add_argument(
        "--points",
        nargs="*",
        metavar="DATASET=N",
        default=[f"{k}={v}" for k, v in DEFAULT_POINTS.items()],
        help="resample these series (default: delayed_control=441; none given: every series "
        "at its own length)",
    )
    parser.add_argument("--workers", type=int, default=2, help="training processes")
    parser.add_argument("--cache", type=Path, default=CACHE, help="results file to resume from")
    parser.add_argument("--no-cache", action="store_true", help="keep results in memory only")
    args = parser.parse_args(argv)
    if not 0 < args.val_fraction < 1:
        parser.error(
            f"--val-fraction must be in (0, 1): selection needs validation windows, "
            f"got {args.val_fraction}"
        )
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    try:
        args.points = {k: int(v) for k, v in (item.split("=") for item in args.points)}
    except ValueError:
        parser.error(f"--points takes DATASET=N items, got {args.points}")
    unknown = sorted(set(args.points) - set(DATASETS))
    if unknown:
        parser.error(f"--points: unknown datasets {unknown}; known: {list(DATASETS)}")
    return args


def parameter_count(config: ModelConfig) -> int:
    return sum(p.numel() for p in Forecaster(config).parameters())


def matched_lstm(qlstm: ModelConfig) -> tuple[ModelConfig, int, int]:
    """The classical forecaster whose parameter count is the closest to ``qlstm``'s; returns it
    with both counts. Raises ``ValueError`` if the closest is further than
    ``PARAMETER_TOLERANCE`` (20 %) away."""
    target = parameter_count(qlstm)
    shape = {"input_size": qlstm.input_size, "horizon": qlstm.horizon}  # same data, same head
    counts = {}
    hidden = 1
    while not counts or counts[hidden - 1] <= target:  # up to the first one above the target
        counts[hidden] = parameter_count(ModelConfig(kind="lstm", hidden_size=hidden, **shape))
        hidden += 1
    hidden = min(counts, key=lambda h: abs(counts[h] - target))
    if abs(counts[hidden] - target) > PARAMETER_TOLERANCE * target:
        raise ValueError(
            f"no nn.LSTM hidden size has a parameter count within "
            f"{PARAMETER_TOLERANCE * 100:g} % of the QLSTM's {target} parameters "
            f"(closest: hidden {hidden}, {counts[hidden]})"
        )
    lstm = ModelConfig(kind="lstm", hidden_size=hidden, dtype=qlstm.dtype, seed=qlstm.seed, **shape)
    return lstm, target, counts[hidden]


def data_config(dataset: str, series) -> dict:
    """The ``Run`` data settings of the protocol (as ``qlstm-qiskit train`` records them)."""
    return accuracy_runs.data_config(dataset, len(series))


def variant(base: ModelConfig, changes: dict) -> ModelConfig:
    """``base`` with the ``VARIANTS`` changes (``entangling`` is a circuit field)."""
    circuit = {k: v for k, v in changes.items() if k in asdict(base.circuit)}
    model = {k: v for k, v in changes.items() if k not in circuit}
    return replace(base, circuit=replace(base.circuit, **circuit), **model)


def same_model(a: ModelConfig, b: ModelConfig) -> bool:
    """Whether ``a`` and ``b`` build the same model: the same cell, the same gate circuits
    (gates, qubits, parameters in order) and the same initial weights."""
    fa, fb = Forecaster(a), Forecaster(b)
    sa, sb = fa.state_dict(), fb.state_dict()
    return (
        (a.cell, a.input_scaling) == (b.cell, b.input_scaling)
        and _circuit_layout(fa) == _circuit_layout(fb)
        and sa.keys() == sb.keys()
        and all(torch.equal(sa[k], sb[k]) for k in sa)
    )


def _circuit_layout(forecaster: Forecaster) -> dict:
    return {
        name: [
            (op.operation.name, [c.find_bit(q).index for q in op.qubits], str(op.operation.params))
            for op in c.data
        ]
        for name, c in forecaster.lstm.circuits().items()
    }


def plan_models(args: argparse.Namespace) -> dict:
    """The QLSTM configurations to train, those identical to an earlier one (``aliases``), the
    matched LSTMs (one per distinct hidden size) and every model's parameter count."""
    base = ModelConfig(
        kind="qlstm",
        hidden_size=args.hidden,
        circuit=CircuitSpec(n_qubits=args.n_qubits, depth=args.depth),
    )
    qlstms, aliases, lstms, matched, parameters = {}, {}, {}, {}, {}
    for name in args.models:
        config = variant(base, VARIANTS[name])
        twin = next((other for other, c in qlstms.items() if same_model(config, c)), None)
        if twin is not None:
            aliases[name] = twin
            continue
        qlstms[name] = config
        lstm, parameters[name], lstm_count = matched_lstm(config)
        matched[name] = f"lstm_h{lstm.hidden_size}"
        lstms[matched[name]], parameters[matched[name]] = lstm, lstm_count
    return {
        "configs": {**qlstms, **lstms},
        "aliases": aliases,
        "matched": matched,
        "parameters": parameters,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `qlstm-qiskit train`: these models are too small for threads
    try:
        return measure(args)
    finally:
        torch.set_num_threads(threads)


def measure(args: argparse.Namespace) -> dict:
    """Train every (dataset, model, grid point, seed) (or take it from the cache), select each
    model's grid point on validation and summarise; returns the settings and per-task results."""
    plan = plan_models(args)
    grid = [(lr, schedule) for schedule in args.schedules for lr in args.lrs]
    points = {
        dataset: args.n_points or args.points.get(dataset) or len(generate(dataset))
        for dataset in args.datasets
    }
    for name, twin in plan["aliases"].items():
        print(f"{name}: the same model as {twin} (same circuits and weights): not trained")
    tasks = [
        {
            "dataset": dataset,
            "n_points": points[dataset],
            "model": name,
            "config": replace(config, seed=seed).to_dict(),
            "epochs": args.epochs,
            "lr": lr,
            "schedule": schedule,
            "seed": seed,
            "val_fraction": args.val_fraction,
        }
        for dataset in args.datasets
        for name, config in plan["configs"].items()
        for lr, schedule in grid
        for seed in args.seeds
    ]
    cache = accuracy_runs.ResultsCache(None if args.no_cache else args.cache)
    results = iter(accuracy_runs.run_all(tasks, cache, args.workers))
    datasets = {}
    for dataset in args.datasets:
        runs = {
            name: {point: [next(results) for _ in args.seeds] for point in grid}
            for name in plan["configs"]
        }
        datasets[dataset] = summarise_task(runs, plan, args.thresholds)
        datasets[dataset]["n_points"] = points[dataset]
    settings = {
        **{k: v for k, v in vars(args).items() if k not in ("cache", "no_cache")},
        "grid": [list(point) for point in grid],
        "parameters": plan["parameters"],
        "matched": plan["matched"],
        "aliases": plan["aliases"],
        "hidden_sizes": {name: c.hidden_size for name, c in plan["configs"].items()},
        "torch_threads": 1,
    }
    results = {"settings": settings, "datasets": datasets, "overall": tally(datasets, plan)}
    print("\n".join(task_tables(results)), flush=True)
    return results


def summarise_task(runs: dict, plan: dict, thresholds: list[float]) -> dict:
    """One task: each model's grid (score per point), selected point and summary; each QLSTM's
    gap to its matched LSTM; the QLSTM with the lowest validation score."""
    models = {}
    for name, grid in runs.items():
        point = select(grid)  # reads validation MSEs only
        lr, schedule = point
        models[name] = {
            "grid": [
                {
                    "lr": p[0],
                    "schedule": p[1],
                    "diverged": grid_score(seeds)[0],
                    "validation": grid_score(seeds)[1],
                }
                for p, seeds in grid.items()
            ],
            "lr": lr,
            "schedule": schedule,
            "summary": summarise(grid[point], thresholds),
            "runs": [
                {k: run[k] for k in ("initial_test_mse", "validation_mse", "test_mse", "seconds")}
                for run in grid[point]
            ],
        }
    gaps = {}
    for name, lstm in plan["matched"].items():
        g = gap(models[name]["summary"], models[lstm]["summary"])
        gaps[name] = {"lstm": lstm, **g, "verdict": verdict(g)}
    best = min(plan["matched"], key=lambda name: models[name]["summary"]["validation_mean"])
    windows = next(iter(next(iter(runs.values())).values()))[0]["windows"]
    return {"windows": windows, "models": models, "gaps": gaps, "best_qlstm": best}


def tally(datasets: dict, plan: dict) -> dict:
    """Per QLSTM configuration (and for the validation-chosen best QLSTM of each task): on how
    many tasks its mean test MSE is at or below its LSTM's (by any margin), and lower beyond the
    spread, within it, higher beyond it."""
    names = [*plan["matched"], "best"]
    rows = {name: {"lower_mean": 0, "lower": 0, "within": 0, "higher": 0} for name in names}
    for result in datasets.values():
        for name in names:
            g = result["gaps"][result["best_qlstm"] if name == "best" else name]
            rows[name][g["verdict"]] += 1
            rows[name]["lower_mean"] += g["ratio"] <= 1
    return rows


if __name__ == "__main__":
    main()
