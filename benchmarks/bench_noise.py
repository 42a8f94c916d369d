"""Noise: trained QLSTM forecasters' test MSE on exact, sampled, noisy and fake-device backends,
unmitigated and mitigated: the committed experiment ``examples/noise_sweep.toml`` run by
``qlstm-qiskit sweep``.

Run (from the repository root; ``qiskit-ibm-runtime`` for the fake devices)::

    python benchmarks/bench_noise.py                      # the experiment, 2 worker processes
    python benchmarks/bench_noise.py --out sweeps/noise   # another sweep folder (resumable)
    python benchmarks/bench_noise.py --quick              # plan the experiment, run a tiny one

What it does:

1. runs ``qlstm-qiskit sweep EXPERIMENT --out OUT --workers N`` (the experiment file's grid, one
   training per seed, every point evaluated on its backend; running it again resumes it);
2. reads ``OUT/results.json`` and summarises its points per backend setting (backend, noise
   scale, shots, mitigation): test MSE mean ± sample standard deviation over the seeds;
3. trains the classical ``nn.LSTM`` baseline per seed with the experiment's ``[train]`` settings
   and the hidden size whose parameter count is closest to the QLSTM's (last epoch, as the sweep);
4. checks that ``statevector`` and ``aer_statevector`` give the same predictions for every
   trained model.

``--quick`` plans the committed experiment (every key and backend checked, nothing run) and runs
:data:`QUICK_EXPERIMENT` instead, written into a temporary folder. ``main`` returns the results;
``render`` writes the ``## Noise`` section of docs/BENCHMARKS.md and its figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import torch

from qlstm_qiskit.backends.profile_files import builtin_dir
from qlstm_qiskit.cli import main as cli
from qlstm_qiskit.forecasting.run_settings import model_configs, train_config, training_series
from qlstm_qiskit.forecasting.sweep_file import read_experiment
from qlstm_qiskit.forecasting.sweep_plan import plan_sweep
from qlstm_qiskit.forecasting.sweep_plots import plot_sweep
from qlstm_qiskit.forecasting.sweep_results import RESULTS_JSON
from qlstm_qiskit.forecasting.sweep_tasks import METRICS, POINTS, TRAININGS
from qlstm_qiskit.forecasting.training import Run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import matched_lstm  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "examples" / "noise_sweep.toml"
#: the tiny experiment of ``--quick``: every kind of row, one mitigated, one fake device
QUICK_EXPERIMENT = """\
description = "the noise benchmark's smoke test"

[train]
dataset = "damped_shm"
n_points = 40
epochs = 2

[sweep]
seeds = [0]

[[grid]]
backends = ["statevector", "aer_statevector"]

[[grid]]
backends = ["aer_shots"]
shots = [100]

[[grid]]
backends = ["aer_noisy_exact"]
noise_scale = [2]

[[grid]]
backends = ["fake_manila"]
mitigate = ["none", "readout"]
"""
#: the Aer profiles whose ``[noise]`` tables the section quotes
NOISY_PROFILES = ("aer_noisy", "aer_noisy_exact")
#: the axes that make a backend setting (a table row); the seeds are its runs
SETTING = ("backend", "train_backend", "noise_scale", "shots", "mitigate")
#: how the section describes each backend's noise.
NOISE_TEXT = {
    "statevector": "exact statevector in torch (the training backend); no noise",
    "aer_statevector": "Aer EstimatorV2 statevector, exact values; no noise",
    "aer_shots": "Aer SamplerV2 counts: shot noise only, ⟨Z⟩ from `shots` samples per circuit",
    "aer_noisy": "Aer density matrix on the basis `rz sx x cx`: depolarizing and thermal "
    "relaxation after every basis gate, readout errors, 4096 shots",
    "aer_noisy_exact": "Aer EstimatorV2 density matrix with the gate noise only (no readout "
    "errors, no shots): exact noisy expectation values",
    "fake_<device>": "qiskit-ibm-runtime fake device: circuits transpiled to the device "
    "(optimization level 1), shots sampled on its noise model, on the circuits' active qubits "
    "only (1024 shots)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the sweep folder (default: sweeps/noise_sweep; an unfinished sweep there resumes)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="sweep worker processes (default: 2)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="plan the committed experiment, then run the tiny QUICK_EXPERIMENT in a temporary "
        "folder, in this process (takes neither --out nor --workers)",
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep (or the quick one), summarise it; returns the results (see the module
    docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick and (args.out, args.workers) != (None, None):
        parser.error("--quick runs in a temporary folder in this process: no --out, no --workers")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the sweep's tasks and the baseline: one thread each
    try:
        if not args.quick:
            return _run(
                EXPERIMENT,
                args.out or REPO / "sweeps" / EXPERIMENT.stem,
                2 if args.workers is None else args.workers,
            )
        planned = plan_sweep(EXPERIMENT)  # every key and backend of the committed file checked
        print(f"{EXPERIMENT.name}: {len(planned.points)} points planned")
        with tempfile.TemporaryDirectory(prefix="bench-noise-") as scratch:
            experiment = Path(scratch) / "quick_sweep.toml"
            experiment.write_text(QUICK_EXPERIMENT)
            results = _run(experiment, Path(scratch) / "sweep", 1)
        return results | {
            "planned": {"experiment": _relative(EXPERIMENT), "points": len(planned.points)}
        }
    finally:  # main() may run inside a larger program (the report driver, a test session)
        torch.set_num_threads(threads)


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


def _run(experiment: Path, out: Path, workers: int) -> dict:
    command = ["sweep", str(experiment), "--out", str(out), "--workers", str(workers)]
    shown = "qlstm-qiskit " + " ".join(
        ["sweep", _relative(experiment), "--out", _relative(out), "--workers", str(workers)]
    )
    print(shown, flush=True)
    before = {path.parent.name for path in out.glob(f"{POINTS}/*/{METRICS}")}
    start = time.perf_counter()
    if cli(command) != 0:
        raise SystemExit(f"bench_noise: {shown} failed (see above)")
    sweep_seconds = time.perf_counter() - start
    table = json.loads((out / RESULTS_JSON).read_text())
    experiment_file = read_experiment(experiment)
    trainings = table["trainings"].values()
    return {
        "experiment": _relative(experiment),
        "command": shown,
        "sweep_seconds": round(sweep_seconds, 1),
        "resumed_points": len(before & {point["point"] for point in table["points"]}),
        "train": experiment_file.train,
        "trainings": table["trainings"],
        "points": table["points"],
        "unfinished": table["unfinished"],
        "lstm": lstm_baseline(
            experiment_file.train,
            experiment_file.given,
            [training["seed"] for training in trainings],
        ),
        "exact_agreement": exact_agreement([out / TRAININGS / t["id"] for t in trainings]),
        "noise_tables": {
            name: tomllib.loads((builtin_dir() / f"{name}.toml").read_text()).get("noise", {})
            for name in NOISY_PROFILES
        },
    }


def lstm_baseline(settings: dict[str, Any], given: tuple[str, ...], seeds: list[int]) -> dict:
    """The classical ``nn.LSTM`` with the parameter count closest to the QLSTM's, trained per
    seed with the experiment's ``[train]`` settings (``given``: the keys it set) on the same
    windows; its last epoch's test MSE (the weights the sweep's points evaluate too)."""
    series, data_config = training_series(settings, given)
    test_mse = []
    for seed in seeds:
        qlstm = model_configs(settings, "statevector", {}, seed)["qlstm"]
        lstm, qlstm_parameters, parameters = matched_lstm(qlstm)
        run = Run.create(data_config, series, {"lstm": lstm}, train_config(settings, seed))
        while run.epoch < settings["epochs"]:
            run.step_epoch()
        test_mse.append(run.history["lstm"]["test_mse"][-1])
    print(f"nn.LSTM (hidden {lstm.hidden_size}): test MSE {statistics.fmean(test_mse):.4g}")
    return {
        "hidden_size": lstm.hidden_size,
        "parameters": parameters,
        "qlstm_parameters": qlstm_parameters,
        "test_mse": test_mse,
    }


def exact_agreement(run_dirs: list[Path]) -> dict[str, float]:
    """Largest |prediction difference| and |MSE difference| between ``statevector`` and
    ``aer_statevector`` on the test windows (scaled units), over the trained models."""
    predictions, mses = [], []
    for run_dir in run_dirs:
        run = Run.load(run_dir, backend=("statevector", {}))
        model, x, y = run.models["qlstm"], run.data.x_test, run.data.y_test
        exact = model.predict(x).double(), model.mse(x, y)
        model.set_backend("aer_statevector")
        aer = model.predict(x).double(), model.mse(x, y)
        predictions.append((exact[0] - aer[0]).abs().max().item())
        mses.append(abs(exact[1] - aer[1]))
    return {"max_abs_prediction_difference": max(predictions), "abs_mse_difference": max(mses)}


# -- the docs section ---------------------------------------------------------------------------
def summarise(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per backend setting (:data:`SETTING`), in the sweep's order: its points' test
    MSE ``mean``, sample ``std`` (``None`` for one run), ``runs`` and mean ``seconds``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault(tuple(point[axis] for axis in SETTING), []).append(point)
    rows = []
    for members in groups.values():
        values = [point["test_mse"] for point in members]
        first = members[0]
        rows.append(
            {axis: first[axis] for axis in SETTING}
            | {
                "computes": first["computes"],
                "shots_per_circuit": first["shots_per_circuit"],
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else None,
                "runs": len(values),
                "seconds": statistics.fmean(point["seconds"] for point in members),
            }
        )
    return rows


def _cell(value: Any, text: str = "{}") -> str:
    return "—" if value is None else text.format(value)


def _mse(mean: float, std: float | None) -> str:
    return f"{mean:.3e}" + ("" if std is None else f" ± {std:.1e}")


def mitigation_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One bullet per backend setting evaluated mitigated: its unmitigated MSE, then each
    mitigation's, with the ratio to the unmitigated."""
    lines = []
    for row in rows:
        if row["mitigate"] is not None:
            continue
        same = {axis: row[axis] for axis in SETTING if axis != "mitigate"}
        mitigated = [
            other
            for other in rows
            if other["mitigate"] is not None and all(other[a] == v for a, v in same.items())
        ]
        if not mitigated:
            continue
        scale = "" if row["noise_scale"] is None else f" at k = {row['noise_scale']:g}"
        lines.append(
            f"- `{row['backend']}`{scale}: unmitigated {row['mean']:.2e}; "
            + "; ".join(
                f"`{m['mitigate']}` {m['mean']:.2e} (×{m['mean'] / row['mean']:.2f})"
                for m in mitigated
            )
            + "."
        )
    return lines


def render(results: dict, figures: Path) -> str:
    """The ``## Noise`` section of docs/BENCHMARKS.md; writes the sweep's plots into
    ``figures/noise/``."""
    folder = Path(figures) / "noise"
    folder.mkdir(parents=True, exist_ok=True)
    plots = [
        f"{Path(figures).name}/noise/{path.name}" for path in plot_sweep(results["points"], folder)
    ]
    settings, rows, lstm = results["train"], summarise(results["points"]), results["lstm"]
    seeds = [t["seed"] for t in results["trainings"].values()]
    exact = next(row["mean"] for row in rows if row["backend"] == "statevector")
    agreement = results["exact_agreement"]
    tables = results["noise_tables"]
    experiment = f"`{results['experiment']}`"
    if (REPO / results["experiment"]).is_file():  # the committed file (not the quick one)
        experiment = f"[{experiment}](../{results['experiment']})"
    lines = [
        "## Noise",
        "",
        f"`{results['command']}` on {experiment}, then this table from the sweep's "
        f"`results.json`. {_timing(results)}",
        "",
        f"**Model and data.** One QLSTM forecaster per seed ({', '.join(map(str, seeds))}; "
        f"{settings['hidden_size']} hidden, {settings['n_qubits']} qubits, depth "
        f"{settings['depth']}, {settings['dtype']}, {lstm['qlstm_parameters']} parameters) "
        "trained on `statevector` with the experiment's `[train]` settings: "
        f"`{settings['dataset']}`, windows of {settings['window']}, RMSprop lr "
        f"{settings['lr']:g}, batch {settings['batch_size']}, {settings['epochs']} epoch(s). "
        "Every point evaluates its seed's last-epoch weights (`Forecaster.mse` on the test "
        "windows, MSE of the [-1, 1]-scaled series); sampled backends use the seed as their "
        "sampling seed. Mean ± sample standard deviation over the seeds; `s/eval` is the wall "
        "time of one evaluation of the test "
        "windows (one worker).",
        "",
        f"The classical `nn.LSTM` baseline (hidden {lstm['hidden_size']}, {lstm['parameters']} "
        "parameters, the hidden size whose count is closest to the QLSTM's), trained per seed "
        "the same way, is listed for scale.",
        "",
        "**Backends.**",
        "",
        *(f"- `{name}`: {text}." for name, text in NOISE_TEXT.items()),
        "- noise scale k: each error probability of the shipped profile's `[noise]` table × k "
        "(capped at 1), T1 and T2 ÷ k, gate times unchanged "
        "(`qlstm_qiskit.backends.scaled_profiles`). At k = 1: `aer_noisy` "
        f"{_noise_line(tables['aer_noisy'])}; `aer_noisy_exact` "
        f"{_noise_line(tables['aer_noisy_exact'])}.",
        "- mitigate: the backend option `mitigate` (README, Mitigation): `readout` corrects "
        "each ⟨Z⟩ with the assignment rates of two calibration circuits run in the same call, "
        "`zne` folds every two-qubit gate at scales 1, 3, 5 and extrapolates linearly to zero "
        "noise, `readout+zne` does both.",
        "",
        "| backend | computes | shots | noise k | mitigate | test MSE | runs | s/eval |",
        "|---|---|---|---|---|---|---|---|",
        f"| nn.LSTM (hidden {lstm['hidden_size']}) | exact | — | — | — | "
        f"{_mse(statistics.fmean(lstm['test_mse']), _std(lstm['test_mse']))} | "
        f"{len(lstm['test_mse'])} | — |",
    ]
    for row in rows:
        cells = [
            f"`{row['backend']}`",
            row["computes"],
            _cell(row["shots_per_circuit"]),
            _cell(row["noise_scale"], "{:g}"),
            _cell(row["mitigate"]),
            _mse(row["mean"], row["std"]),
            str(row["runs"]),
            f"{row['seconds']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"`statevector` and `aer_statevector` agree on every trained model: largest prediction "
        f"difference {agreement['max_abs_prediction_difference']:.1e}, MSE difference "
        f"{agreement['abs_mse_difference']:.1e}.",
        "",
        f"**Mitigation.** Test MSE mean over the seeds, unmitigated against mitigated (× the "
        f"unmitigated; the noiseless `statevector` MSE is {exact:.2e}):",
        "",
        *mitigation_lines(rows),
        "",
        "Mitigation removes bias from each ⟨Z⟩ and adds variance: readout correction divides by "
        "each qubit's assignment fidelity, linear ZNE weights the scales 1, 3, 5 by 13/12, 1/3, "
        "−5/12 (1.21× the shot noise). The test MSE carries both, so where the sampling noise "
        "of the shots dominates it a mitigated row can come out higher.",
    ]
    if results["unfinished"]:
        lines += ["", f"Unfinished points (not in the table): {', '.join(results['unfinished'])}."]
    lines += ["", *(f"![{Path(plot).stem.replace('_', ' ')}]({plot})\n" for plot in plots)]
    return "\n".join(lines)


def _timing(results: dict) -> str:
    """The sweep's wall time, the points an earlier run had finished, the compute per task."""
    points = results["points"]
    trained = sum(t["summary"]["train_seconds"] for t in results["trainings"].values())
    resumed = results["resumed_points"]
    earlier = f", resuming {resumed} points an earlier run had finished" if resumed else ""
    return (
        f"The sweep took {results['sweep_seconds']:.0f} s wall here{earlier}; summed over its "
        f"tasks, {len(results['trainings'])} trainings took {trained:.0f} s and "
        f"{len(points)} evaluations {sum(p['seconds'] for p in points):.0f} s."
    )


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def _noise_line(noise: dict[str, float]) -> str:
    return ", ".join(f"`{key}` {value:g}" for key, value in noise.items())


QUICK_ARGS = ["--quick"]

if __name__ == "__main__":
    main(sys.argv[1:])
