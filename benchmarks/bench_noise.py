"""Noise: one trained QLSTM forecaster's test MSE on exact, sampled, noisy and fake-device backends.

Run (from the repository root; ``qiskit-ibm-runtime`` for the fake devices)::

    python benchmarks/bench_noise.py                  # the full default run
    python benchmarks/bench_noise.py --epochs 20 --shots 100 1000 --repeats 2
    python benchmarks/bench_noise.py --devices fake_manila

What it does:

1. trains one QLSTM forecaster with the defaults of ``qlstm-qiskit train`` (``damped_shm``, window
   4, hidden 5, 4 qubits, depth 1, float64, RMSprop lr 0.01, batch 10, ``--epochs`` epochs) on
   ``statevector``, and the classical ``nn.LSTM`` baseline the same way with the hidden size whose
   parameter count is closest to the QLSTM's (``--no-lstm`` leaves it out);
2. evaluates the *same weights* (``Forecaster.mse`` on the test windows, MSE in the units of the
   [-1, 1]-scaled series) on

   - ``statevector`` and ``aer_statevector`` (both exact; their difference is recorded),
   - ``aer_shots`` at each of ``--shots``, ``--repeats`` times with different ``seed`` options,
   - ``aer_noisy`` (4096 shots, readout errors) at each noise scale k of ``--noise-scales``,
     ``--repeats`` times, and ``aer_noisy_exact`` (exact density-matrix values, gate noise only)
     at the same scales once each. Scale k multiplies every error probability of the shipped
     profile's ``[noise]`` table (capped at 1) and divides T1 and T2 by k; each scaled table is
     written as a user profile (TOML) into a temporary folder and loaded with
     ``get_backend(name, profile_dir=...)``,
   - each fake IBM device of ``--devices`` at its default 1024 shots, ``--repeats`` times with
     different ``seed`` options (simulated on the ISA circuits' active qubits with the
     device's noise model: ``qlstm_qiskit.backends.local_device``).

The same grid as an experiment of ``qlstm-qiskit sweep`` (resumable, parallel, with plots; each
seed there trains its own model): ``examples/noise_sweep.toml``.

It prints one table row per backend setting as it goes: what the backend computes, shots, noise
scale, test MSE mean ± sample standard deviation over the repetitions, the number of runs and the
seconds per evaluation. ``main`` returns every repetition's MSE; ``render`` writes the
``## Noise`` section of docs/BENCHMARKS.md and its figures.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from qlstm_qiskit.backends import get_backend
from qlstm_qiskit.backends.noise import (  # what a scaled table scales (its tests use them)
    COHERENCE_KEYS,  # noqa: F401
    PROBABILITY_KEYS,  # noqa: F401
    scaled_noise,  # noqa: F401
)
from qlstm_qiskit.backends.profile_files import builtin_dir, find_profiles, load_profile
from qlstm_qiskit.backends.scaled_profiles import write_scaled_profile
from qlstm_qiskit.circuits import CircuitSpec
from qlstm_qiskit.cli.device_flags import closing_devices
from qlstm_qiskit.cli.specs import format_backend
from qlstm_qiskit.cli.train import TRAIN_DEFAULTS
from qlstm_qiskit.forecasting.datasets import generate
from qlstm_qiskit.forecasting.models import ModelConfig
from qlstm_qiskit.forecasting.training import Run, TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import data_config, matched_lstm  # noqa: E402
from figures import pyplot, save  # noqa: E402

#: built-in profiles whose ``[noise]`` table is scaled, with the repetitions they get: the sampled
#: one ``--repeats`` times, the exact (deterministic) one once.
NOISY_PROFILES = ("aer_noisy", "aer_noisy_exact")
#: how the section describes each backend's noise.
NOISE_TEXT = {
    "statevector": "exact statevector in torch (the training backend); no noise",
    "aer_statevector": "Aer EstimatorV2 statevector, exact values; no noise",
    "aer_shots": "Aer SamplerV2 counts: shot noise only, ⟨Z⟩ from `shots` samples per circuit",
    "aer_noisy": "Aer density matrix on the basis `rz sx x cx`: depolarizing and thermal "
    "relaxation after every basis gate, readout errors, 4096 shots",
    "aer_noisy_exact": "Aer EstimatorV2 density matrix with the gate noise only (no readout "
    "errors, no shots): exact noisy expectation values",
}


# -- noise profiles ----------------------------------------------------------------------------
def profile_shots(name: str, profile_dir: Path | None = None) -> int | None:
    """Shots per circuit of a named profile (``None``: exact values); device names use the
    ``fake`` template."""
    profiles = find_profiles(profile_dir)
    if name in profiles:
        return load_profile(profiles[name]).options.get("shots")
    family = name.partition("_")[0]
    templates = [load_profile(path) for path in profiles.values()]
    (template,) = [p for p in templates if p.kind == "device" and p.family == family]
    return template.options["shots"]


# -- training -----------------------------------------------------------------------------------
def train(
    epochs: int,
    seed: int,
    n_points: int | None,
    with_lstm: bool,
    backend: str = TRAIN_DEFAULTS["backend"],
    backend_options: dict[str, Any] | None = None,
) -> tuple[Run, dict]:
    """Train a QLSTM (and the parameter-matched ``nn.LSTM``) with ``qlstm-qiskit train``'s
    defaults on ``backend`` (``statevector`` by default); prints one line per 10 epochs.

    Every model then holds the weights of its epoch with the lowest *training* MSE (the test
    MSE of the last epochs swings by two orders of magnitude at lr 0.01, so the last epoch's
    weights are an arbitrary point of that swing; the test windows play no part in the choice).
    Returns the run and ``{name: {"epoch", "train_mse", "test_mse"}}`` of the chosen epochs."""
    settings = {**TRAIN_DEFAULTS, "epochs": epochs, "seed": seed}
    series = generate(settings["dataset"], n_points)
    data = data_config(settings["dataset"], series)
    circuit = CircuitSpec(**{key: settings[key] for key in asdict(CircuitSpec())})
    qlstm = ModelConfig(
        kind="qlstm",
        hidden_size=settings["hidden_size"],
        num_layers=settings["num_layers"],
        circuit=circuit,
        backend=backend,
        backend_options=dict(backend_options or {}),
        dtype=settings["dtype"],
        seed=seed,
    )
    models = {"qlstm": qlstm}
    if with_lstm:
        models["lstm"] = matched_lstm(qlstm)[0]
    run = Run.create(
        data,
        series,
        models,
        TrainConfig(epochs=epochs, batch_size=settings["batch_size"], lr=settings["lr"], seed=seed),
    )
    print(
        f"training {' and '.join(models)} on {data['dataset']} "
        f"({data['n_points']} points): {len(run.data.x_train)} training and "
        f"{len(run.data.x_test)} test windows of {run.data.window}; {epochs} epochs"
    )
    chosen: dict[str, dict] = {}
    weights: dict[str, dict] = {}
    while run.epoch < epochs:
        summary = run.step_epoch()
        for name, (train_mse, test_mse) in summary.items():
            if name not in chosen or train_mse < chosen[name]["train_mse"]:
                chosen[name] = {"epoch": run.epoch, "train_mse": train_mse, "test_mse": test_mse}
                weights[name] = copy.deepcopy(run.models[name].state_dict())
        if run.epoch % 10 == 0 or run.epoch == epochs:
            print(
                f"  epoch {run.epoch:3d}: "
                + " | ".join(
                    f"{name} train {tr:.6f} test {te:.6f}" for name, (tr, te) in summary.items()
                ),
                flush=True,
            )
    for name, state in weights.items():
        run.models[name].load_state_dict(state)
    print(
        "evaluating the weights of the lowest-training-MSE epochs: "
        + ", ".join(
            f"{name} epoch {c['epoch']} (test MSE {c['test_mse']:.3g})"
            for name, c in chosen.items()
        )
    )
    return run, chosen


# -- evaluation ---------------------------------------------------------------------------------
HEADER = (
    f"{'backend':34s} {'computes':9s} {'shots':>6s} {'noise k':>7s}  "
    f"{'test MSE mean ± std':24s} {'runs':>4s} {'s/eval':>7s}"
)


def format_row(row: dict[str, Any]) -> str:
    std = "—" if row["std"] is None else f"{row['std']:.2e}"
    shots = "—" if row["shots"] is None else str(row["shots"])
    scale = "—" if row["noise_scale"] is None else f"{row['noise_scale']:g}"
    return (
        f"{row['backend']:34s} {row['computes']:9s} {shots:>6s} {scale:>7s}  "
        f"{row['mean']:.4e} ± {std:11s} {row['runs']:4d} {row['seconds_per_eval']:7.2f}"
    )


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    """Add ``mean``, ``std`` (sample std, ``None`` for one run) and ``runs`` over ``row['mse']``,
    and ``seconds_per_eval`` over ``row['seconds']``."""
    values = row["mse"]
    row.update(
        mean=statistics.fmean(values),
        runs=len(values),
        std=statistics.stdev(values) if len(values) > 1 else None,
        seconds_per_eval=statistics.fmean(row["seconds"]),
    )
    return row


def evaluate(
    run: Run,
    group: str,
    name: str,
    option_sets: list[dict[str, Any]],
    *,
    profile_dir: Path | None = None,
    noise_scale: float | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """The QLSTM's test MSE on backend ``name`` once per options dict of ``option_sets`` (one
    dict per repetition); returns a printed, summarised row."""
    model = run.models["qlstm"]
    row = {
        "group": group,
        "name": name,
        "backend": label or name,
        "noise_scale": noise_scale,
        "shots": option_sets[0].get("shots", profile_shots(name, profile_dir)),
        "options": [],
        "mse": [],
        "seconds": [],
    }
    for options in option_sets:
        backend = get_backend(name, profile_dir=profile_dir, **options)
        model.set_backend(backend)
        start = time.perf_counter()
        with closing_devices([model]):
            row["mse"].append(model.mse(run.data.x_test, run.data.y_test))
        row["seconds"].append(time.perf_counter() - start)
        row["computes"] = backend.computes
        row["options"].append(format_backend(name, options))
    print(format_row(summarise(row)), flush=True)
    return row


def exact_agreement(run: Run) -> dict[str, float]:
    """Largest |prediction difference| and |MSE difference| between ``statevector`` and
    ``aer_statevector`` on the test windows (scaled units)."""
    model = run.models["qlstm"]
    x, y = run.data.x_test, run.data.y_test
    model.set_backend("statevector")
    torch_predictions, torch_mse = model.predict(x), model.mse(x, y)
    model.set_backend("aer_statevector")
    aer_predictions, aer_mse = model.predict(x), model.mse(x, y)
    model.set_backend("statevector")
    return {
        "max_abs_prediction_difference": (torch_predictions.double() - aer_predictions.double())
        .abs()
        .max()
        .item(),
        "abs_mse_difference": abs(torch_mse - aer_mse),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=100, help="training epochs (default: 100)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the weights, the shuffling and the Aer repetitions' "
        "sampling seeds (default: 0)",
    )
    parser.add_argument(
        "--n-points",
        type=int,
        default=None,
        metavar="N",
        help="resample damped_shm to N points (default: its 240)",
    )
    parser.add_argument(
        "--shots",
        type=int,
        nargs="+",
        default=[100, 1000, 10000],
        help="aer_shots shot counts (default: 100 1000 10000)",
    )
    parser.add_argument(
        "--noise-scales",
        type=float,
        nargs="+",
        default=[0.5, 1.0, 2.0, 4.0],
        metavar="K",
        help="noise scale factors of aer_noisy and aer_noisy_exact (default: 0.5 1 2 4)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="repetitions (different seeds) of aer_shots, aer_noisy and the fake "
        "devices (default: 3)",
    )
    parser.add_argument(
        "--devices",
        nargs="*",
        default=["fake_manila", "fake_brisbane", "fake_torino"],
        help="fake devices (default: fake_manila fake_brisbane fake_torino; none: no device rows)",
    )
    parser.add_argument(
        "--no-lstm", action="store_true", help="leave out the classical nn.LSTM baseline"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch CPU threads (default: 1, as qlstm-qiskit train; the model is "
        "small, more threads mostly add overhead)",
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate on every backend setting, print the table; returns the results (settings,
    versions, training summary, the exact-agreement check and one row per backend setting with
    every repetition's MSE)."""
    args = build_parser().parse_args(argv)
    for flag in ("epochs", "repeats", "threads"):
        if getattr(args, flag) < (0 if flag == "epochs" else 1):
            raise SystemExit(f"--{flag.replace('_', '-')} is too small: {getattr(args, flag)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:  # main() may run inside a larger program (the report driver, a test session)
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    if args.devices:  # fail now, not after the training and the Aer rows
        from qlstm_qiskit.backends.ibm_runtime import runtime

        runtime("bench_noise --devices")
    run, chosen = train(args.epochs, args.seed, args.n_points, not args.no_lstm)
    metrics = run.metrics()
    agreement = exact_agreement(run)
    print(
        f"statevector vs aer_statevector: max |prediction difference| "
        f"{agreement['max_abs_prediction_difference']:.2e}, |MSE difference| "
        f"{agreement['abs_mse_difference']:.2e}"
    )

    def seeds(count: int) -> list[int]:  # distinct sampling seeds per repetition
        return [1000 * args.seed + repetition + 1 for repetition in range(count)]

    rows = []
    print(HEADER)
    if "lstm" in run.models:
        lstm_mse = run.models["lstm"].mse(run.data.x_test, run.data.y_test)
        rows.append(
            summarise(
                {
                    "group": "classical",
                    "name": "nn.LSTM",
                    "computes": "exact",
                    "noise_scale": None,
                    "backend": f"nn.LSTM (hidden {run.models['lstm'].config.hidden_size})",
                    "shots": None,
                    "options": [],
                    "mse": [lstm_mse],
                    "seconds": [0.0],
                }
            )
        )
        rows[-1]["seconds_per_eval"] = None
        print(f"{rows[-1]['backend']:34s} {'exact':9s} {'—':>6s} {'—':>7s}  {lstm_mse:.4e}")
    rows.append(evaluate(run, "exact", "statevector", [{}]))
    rows.append(evaluate(run, "exact", "aer_statevector", [{}]))
    for shots in args.shots:
        rows.append(
            evaluate(
                run,
                "shots",
                "aer_shots",
                [{"shots": shots, "seed": s} for s in seeds(args.repeats)],
                label=f"aer_shots:shots={shots}",
            )
        )
    with tempfile.TemporaryDirectory(prefix="bench-noise-") as scratch:
        profile_dir = Path(scratch) / "profiles"
        for base in NOISY_PROFILES:
            sampled = profile_shots(base) is not None
            for scale in args.noise_scales:
                name = write_scaled_profile(base, scale, profile_dir)
                option_sets = [{"seed": s} for s in seeds(args.repeats)] if sampled else [{}]
                rows.append(
                    evaluate(
                        run,
                        base,
                        name,
                        option_sets,
                        profile_dir=profile_dir,
                        noise_scale=scale,
                        label=f"{base} (noise ×{scale:g})",
                    )
                )
    for device in args.devices:
        rows.append(evaluate(run, "device", device, [{"seed": s} for s in seeds(args.repeats)]))
    wall = time.perf_counter() - started
    print(f"wall time {wall:.1f} s")
    results = {
        "settings": {
            **vars(args),
            "dataset": run.data_config["dataset"],
            "series_points": run.data_config["n_points"],
            "window": run.data.window,
            "train_windows": len(run.data.x_train),
            "test_windows": len(run.data.x_test),
            "model": metrics["models"]["qlstm"]["config"],
        },
        "training": {
            name: {
                key: model[key]
                for key in ("parameters", "initial_test_mse", "final_train_mse", "final_test_mse")
            }
            | {
                "hidden_size": model["config"]["hidden_size"],
                "last_test_mses": model["test_mse"][-10:],
                "evaluated_epoch": chosen.get(name),
            }
            for name, model in metrics["models"].items()
        }
        | {"seconds": metrics["train_seconds"]},
        "noise_tables": {
            base: tomllib.loads((builtin_dir() / f"{base}.toml").read_text()).get("noise", {})
            for base in NOISY_PROFILES
        },
        "exact_agreement": agreement,
        "rows": rows,
        "wall_seconds": round(wall, 1),
    }
    return results


# -- the docs section ---------------------------------------------------------------------------
def plot_bars(rows: list[dict[str, Any]], path: Path) -> str:
    """Bar chart: test MSE per backend setting, log axis, sample-std error bars."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows) + 2), 4.5))
    colours = {
        "classical": "C7",
        "exact": "C0",
        "shots": "C1",
        "aer_noisy": "C3",
        "aer_noisy_exact": "C4",
        "device": "C2",
    }
    ax.bar(
        range(len(rows)),
        [row["mean"] for row in rows],
        yerr=[row["std"] or 0.0 for row in rows],
        capsize=3,
        color=[colours[row["group"]] for row in rows],
    )
    ax.set_xticks(
        range(len(rows)),
        [row["backend"] for row in rows],
        rotation=60,
        ha="right",
        fontsize="small",
    )
    ax.set_yscale("log")
    ax.set_ylabel("test MSE (scaled series)")
    ax.set_title("same trained weights: test MSE per backend (error bars: std over runs)")
    return save(fig, path)


def plot_trends(rows: list[dict[str, Any]], path: Path) -> str:
    """Two panels: aer_shots MSE vs shots, aer_noisy/aer_noisy_exact MSE vs noise scale; the
    exact MSE as a dashed line."""
    plt = pyplot()
    exact = next(row["mean"] for row in rows if row["name"] == "statevector")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    shots = [row for row in rows if row["group"] == "shots"]
    left.errorbar(
        [row["shots"] for row in shots],
        [row["mean"] for row in shots],
        yerr=[row["std"] or 0.0 for row in shots],
        marker="o",
        capsize=3,
        color="C1",
        label="aer_shots",
    )
    left.set_xscale("log")
    left.set_xlabel("shots per circuit")
    left.set_title("shot noise")
    scales = sorted({row["noise_scale"] for row in rows if row["noise_scale"] is not None})
    for group, colour, text in (
        ("aer_noisy", "C3", "4096 shots, gate + readout noise"),
        ("aer_noisy_exact", "C4", "exact, gate noise only"),
    ):
        noisy = [row for row in rows if row["group"] == group]
        right.errorbar(
            [row["noise_scale"] for row in noisy],
            [row["mean"] for row in noisy],
            yerr=[row["std"] or 0.0 for row in noisy],
            marker="o",
            capsize=3,
            color=colour,
            label=f"{group} ({text})",
        )
    right.set_xscale("log", base=2)
    right.set_xticks(scales, [f"{k:g}" for k in scales])
    right.set_xlabel("noise scale k (error probabilities × k, T1 and T2 ÷ k)")
    right.set_title("gate and readout noise")
    for ax in (left, right):
        ax.axhline(exact, color="C0", linestyle="--", label="statevector (exact)")
        ax.set_yscale("log")
        ax.set_ylabel("test MSE (scaled series)")
        ax.legend(fontsize="small")
    return save(fig, path)


def _spread(model: dict[str, Any]) -> str:
    """How much the test MSE moved over the last epochs (empty for fewer than two)."""
    last = model["last_test_mses"]
    if len(last) < 2:
        return ""
    return (
        f" (over its last {len(last)} epochs the test MSE ranged from {min(last):.3g} to "
        f"{max(last):.3g})"
    )


def below_noiseless(rows: list[dict[str, Any]]) -> list[str]:
    """A paragraph naming the noisy settings whose mean test MSE is below the noiseless one
    (none: no paragraph): more noise does not always mean a worse forecast of these weights."""
    exact = next(row["mean"] for row in rows if row["name"] == "statevector")
    lower = [
        f"`{row['group'] if row['group'] in NOISY_PROFILES else row['name']}`"
        + (f" at k = {row['noise_scale']:g}" if row["noise_scale"] is not None else "")
        + f" ({row['mean']:.2e})"
        for row in rows
        if row["computes"] == "noisy" and row["mean"] < exact
    ]
    if not lower:
        return []
    return [
        "",
        f"The test MSE is not monotonic in the noise: {', '.join(lower)} came out below "
        f"the noiseless {exact:.2e}. Noise changes these weights' predictions, and a change "
        "can bring them closer to the targets; these rows measure that one model, not a "
        "trend.",
    ]


def _evaluated(model: dict[str, Any]) -> str:
    """Which weights the rows evaluate."""
    chosen = model.get("evaluated_epoch")
    if not chosen:
        return "Every row below evaluates the untrained weights"
    return (
        f"Every row below evaluates the weights of its epoch with the lowest training MSE, "
        f"epoch {chosen['epoch']} (training MSE {chosen['train_mse']:.3g}, test MSE "
        f"{chosen['test_mse']:.3g}; chosen on the training windows alone, because the last "
        "epoch's weights are an arbitrary point of that swing)"
    )


def _noise_line(noise: dict[str, float]) -> str:
    return ", ".join(f"`{key}` {value:g}" for key, value in noise.items())


def render(results: dict, figures: Path) -> str:
    """The ``## Noise`` section of docs/BENCHMARKS.md; writes ``noise_mse.png`` and
    ``noise_trends.png`` into ``figures``."""
    figures = Path(figures)
    figures.mkdir(parents=True, exist_ok=True)
    settings, rows, training = results["settings"], results["rows"], results["training"]
    model = settings["model"]
    circuit = model["circuit"]
    bars = plot_bars(rows, figures / "noise_mse.png")
    trends = plot_trends(rows, figures / "noise_trends.png")
    agreement = results["exact_agreement"]
    lines = [
        "## Noise",
        "",
        f"Torch threads: {settings['threads']}.",
        "",
        f"**Model and data.** One QLSTM forecaster ({model['hidden_size']} hidden, "
        f"{circuit['n_qubits']} qubits, depth {circuit['depth']}, {model['dtype']}, "
        f"{training['qlstm']['parameters']} parameters) trained on `statevector` with the defaults "
        f"of `qlstm-qiskit train`: `{settings['dataset']}` ({settings['series_points']} points, "
        f"MinMax-scaled to [-1, 1]), windows of {settings['window']} values predicting the next, "
        f"{settings['train_windows']} training and {settings['test_windows']} test windows, "
        f"RMSprop lr 0.01, batch 10, {settings['epochs']} epoch(s), seed {settings['seed']}. Its "
        f"test MSE went from {training['qlstm']['initial_test_mse']:.3g} (untrained) to "
        f"{training['qlstm']['final_test_mse']:.3g} after the last epoch"
        f"{_spread(training['qlstm'])}. {_evaluated(training['qlstm'])} (`Forecaster.mse` on the "
        "test windows, scaled units); nothing is retrained.",
    ]
    if "lstm" in training:
        lstm = training["lstm"]
        lines += [
            "",
            f"The classical `nn.LSTM` baseline (hidden {lstm['hidden_size']}, "
            f"{lstm['parameters']} parameters, the hidden size whose count is closest to the "
            f"QLSTM's) trained the same way, at its own lowest-training-MSE epoch, is listed for "
            "scale.",
        ]
    scales = ", ".join(f"{k:g}" for k in settings["noise_scales"])
    tables = results["noise_tables"]
    lines += [
        "",
        "**Backends.**",
        "",
        *(f"- `{name}`: {text}." for name, text in NOISE_TEXT.items()),
        f"- noise scale k ∈ {{{scales}}}: each error probability of the shipped profile's "
        "`[noise]` table × k (capped at 1), T1 and T2 ÷ k, gate times unchanged; written as user "
        "profiles and loaded with `get_backend(name, profile_dir=...)`. At k = 1: `aer_noisy` "
        f"{_noise_line(tables['aer_noisy'])}; `aer_noisy_exact` "
        f"{_noise_line(tables['aer_noisy_exact'])} (its shipped depolarizing rates are twice "
        "`aer_noisy`'s).",
        "- `fake_<device>`: qiskit-ibm-runtime fake device: circuits transpiled to the device "
        "(optimization level 1), shots sampled on its noise model, on the circuits' active "
        "qubits only (1024 shots).",
        "",
        f"Sampled settings (Aer and fake devices) ran {settings['repeats']} time(s) with "
        "different `seed` options (reproducible); ± is the sample "
        "standard deviation over those runs (— for a single run). `s/eval` is the wall time of "
        f"one evaluation of the {settings['test_windows']} test windows (one batch).",
        "",
        "| backend | computes | shots | noise k | test MSE | runs | s/eval |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        mse = f"{row['mean']:.3e}" + ("" if row["std"] is None else f" ± {row['std']:.1e}")
        seconds = "—" if row["seconds_per_eval"] is None else f"{row['seconds_per_eval']:.2f}"
        name = row["group"] if row["group"] in NOISY_PROFILES else row["name"]
        lines.append(
            " | ".join(
                [
                    f"| `{name}`" if row["group"] != "classical" else f"| {row['backend']}",
                    row["computes"],
                    "—" if row["shots"] is None else str(row["shots"]),
                    "—" if row["noise_scale"] is None else f"{row['noise_scale']:g}",
                    mse,
                    str(row["runs"]),
                    seconds,
                ]
            )
            + " |"
        )
    lines += [
        "",
        f"`statevector` and `aer_statevector` agree: largest prediction difference "
        f"{agreement['max_abs_prediction_difference']:.1e}, MSE difference "
        f"{agreement['abs_mse_difference']:.1e}.",
        *below_noiseless(rows),
        "",
        f"![test MSE per backend]({bars})",
        "",
        f"![test MSE vs shots and vs noise scale]({trends})",
        "",
    ]
    return "\n".join(lines)


#: a smoke run of every part in well under 30 s.
QUICK_ARGS = [
    "--epochs",
    "1",
    "--n-points",
    "40",
    "--shots",
    "100",
    "--noise-scales",
    "2",
    "--repeats",
    "1",
    "--devices",
    "fake_manila",
]

if __name__ == "__main__":
    main(sys.argv[1:])
