"""benchmarks/bench_noise.py (loaded by path, like tests/test_example.py): the committed experiment
run by ``qlstm-qiskit sweep``, summarised into docs/BENCHMARKS.md's noise section. The smoke tests
(marked bench) read its quick run in the session's quick report."""

import math
import statistics
import tomllib
from itertools import product
from pathlib import Path

import pytest

from test_example import assert_png, load

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    return load("benchmarks/bench_noise.py")


@pytest.fixture(scope="module")
def quick(bench, request):
    """What the quick run returned: the noise section of the session's quick report (the
    `quick_report` fixture of conftest.py)."""
    pytest.importorskip("qiskit_ibm_runtime")  # the fake devices (the bench extra has it)
    quick_report = request.getfixturevalue("quick_report")
    assert quick_report.record("noise")["command"] == "python benchmarks/bench_noise.py --quick"
    return quick_report.results("noise")


@pytest.fixture(scope="module")
def markdown(bench, quick, tmp_path_factory):
    folder = tmp_path_factory.mktemp("noise_section")
    return folder, bench.render(quick, folder / "figures")


def experiment_points(path) -> int:
    """The points of an experiment file, counted from the TOML alone: per grid, the product
    of its axes' lengths (``[sweep]``'s seeds where the grid sets none)."""
    data = tomllib.loads(path.read_text())
    seeds = len(data.get("sweep", {}).get("seeds", [0]))
    total = 0
    for grid in data["grid"]:
        axes = [grid[a] for a in ("backends", "noise_scale", "shots", "mitigate") if a in grid]
        total += len(list(product(*axes))) * len(grid.get("seeds", [None] * seeds))
    return total


def table_rows(text: str) -> list[list[str]]:
    """The cells of the section's table (header and rule left out)."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_the_committed_experiment_has_the_benchmark_grid_and_mitigated_rows(bench):
    data = tomllib.loads(bench.EXPERIMENT.read_text())
    assert bench.EXPERIMENT == REPO / "examples" / "noise_sweep.toml"
    assert data["train"]["epochs"] == 100 and data["sweep"]["seeds"] == [0, 1, 2]
    mitigated = {
        (backend, tuple(grid.get("noise_scale", ())))
        for grid in data["grid"]
        if "mitigate" in grid
        for backend in grid["backends"]
    }
    assert mitigated == {("aer_noisy", (1,)), ("fake_manila", ())}
    assert all(
        grid["mitigate"] == ["readout", "zne", "readout+zne"]
        for grid in data["grid"]
        if "mitigate" in grid
    )
    assert experiment_points(bench.EXPERIMENT) == 3 * (2 + 3 + 2 * 4 + 3 + 3 + 3)


@pytest.mark.bench
def test_quick_run_plans_the_committed_experiment(bench, quick):
    assert quick["planned"] == {
        "experiment": "examples/noise_sweep.toml",
        "points": experiment_points(bench.EXPERIMENT),
    }
    assert quick["command"] == "qlstm-qiskit sweep quick_sweep.toml --out sweep --workers 1"
    assert not quick["unfinished"] and quick["resumed_points"] == 0


@pytest.mark.bench
def test_quick_run_points(bench, quick, tmp_path):
    points = quick["points"]
    experiment = tmp_path / "quick.toml"
    experiment.write_text(bench.QUICK_EXPERIMENT)
    assert len(points) == experiment_points(experiment)
    by_setting = {(p["backend"], p["mitigate"]): p for p in points}
    exact = by_setting["statevector", None]["test_mse"]
    assert abs(by_setting["aer_statevector", None]["test_mse"] - exact) < 1e-6
    assert quick["exact_agreement"]["max_abs_prediction_difference"] < 1e-6
    assert by_setting["aer_shots", None]["test_mse"] != exact  # sampled
    device, mitigated = by_setting["fake_manila", None], by_setting["fake_manila", "readout"]
    assert device["computes"] == mitigated["computes"] == "noisy"
    assert device["shots_per_circuit"] == 1024 and device["jobs"]["submitted"] > 0
    assert mitigated["test_mse"] != device["test_mse"]
    assert all(math.isfinite(p["test_mse"]) and p["test_mse"] > 0 for p in points)
    lstm = quick["lstm"]
    assert lstm["hidden_size"] == 7 and len(lstm["test_mse"]) == len(quick["trainings"]) == 1


@pytest.mark.bench
def test_render_takes_the_table_from_the_results(quick, markdown):
    folder, text = markdown
    assert text.splitlines()[0] == "## Noise"
    assert "None" not in text and "2 epoch(s)" in text  # the quick experiment's own setting
    rows = table_rows(text)
    assert rows[0][0] == "nn.LSTM (hidden 7)"
    assert rows[0][5] == f"{statistics.fmean(quick['lstm']['test_mse']):.3e}"
    expected = [  # one row per point here (one seed), in the sweep's order
        [
            f"`{p['backend']}`",
            p["computes"],
            "—" if p["shots_per_circuit"] is None else str(p["shots_per_circuit"]),
            "—" if p["noise_scale"] is None else f"{p['noise_scale']:g}",
            p["mitigate"] or "—",
            f"{p['test_mse']:.3e}",
            "1",
        ]
        for p in quick["points"]
    ]
    assert [row[:7] for row in rows[1:]] == expected
    assert ["`fake_manila`", "noisy", "1024", "—", "readout"] in [row[:5] for row in rows]
    figures = [line.split("](", 1)[1].rstrip(")") for line in text.splitlines() if "![" in line]
    assert figures == ["figures/noise/mse_per_backend.png", "figures/noise/mse_mitigation.png"]
    for figure in figures:
        assert_png(folder / figure)


@pytest.mark.bench
def test_render_compares_mitigated_with_unmitigated(quick, markdown):
    _, text = markdown
    by_setting = {(p["backend"], p["mitigate"]): p["test_mse"] for p in quick["points"]}
    plain, readout = by_setting["fake_manila", None], by_setting["fake_manila", "readout"]
    assert (
        f"- `fake_manila`: unmitigated {plain:.2e}; `readout` {readout:.2e} "
        f"(×{readout / plain:.2f})." in text.splitlines()
    )


def row(backend, mitigate, values, noise_scale=None):
    return [
        {
            "backend": backend,
            "train_backend": "statevector",
            "noise_scale": noise_scale,
            "shots": None,
            "mitigate": mitigate,
            "computes": "noisy",
            "shots_per_circuit": 4096,
            "test_mse": value,
            "seconds": 2.0,
        }
        for value in values
    ]


def test_summarise_and_mitigation_lines(bench):
    points = [
        *row("aer_noisy", None, [4.0, 6.0], 1.0),
        *row("aer_noisy", None, [9.0, 9.0], 2.0),
        *row("aer_noisy", "zne", [1.0, 2.0], 1.0),
        *row("aer_noisy", "readout", [2.5, 2.5], 1.0),
        *row("fake_manila", None, [3.0]),  # no mitigated row: no line
    ]
    rows = bench.summarise(points)
    assert [(r["noise_scale"], r["mitigate"], r["runs"]) for r in rows] == [
        (1.0, None, 2),
        (2.0, None, 2),
        (1.0, "zne", 2),
        (1.0, "readout", 2),
        (None, None, 1),
    ]
    assert rows[0]["mean"] == 5.0 and rows[0]["std"] == pytest.approx(math.sqrt(2))
    assert rows[-1]["std"] is None and rows[0]["seconds"] == 2.0
    assert bench.mitigation_lines(rows) == [
        "- `aer_noisy` at k = 1: unmitigated 5.00e+00; `zne` 1.50e+00 (×0.30); "
        "`readout` 2.50e+00 (×0.50)."
    ]


@pytest.mark.parametrize("flags", [["--out", "x"], ["--workers", "1"]])
def test_quick_takes_no_sweep_folder_or_workers(bench, flags, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--quick", *flags])
    assert "--quick runs in a temporary folder" in capsys.readouterr().err
