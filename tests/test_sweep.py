"""``qlstm-qiskit sweep``: the experiment file checked up front, shared trainings, one folder per
point, resuming after a ``kill -9``, the same table in this process, in worker processes and on
Ray, the results table and plots, the dry run's listing and device cost, the sweep folder's
lock."""

import csv
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting import sweep_run
from qlstm_qiskit.forecasting.sweep_plan import plan_sweep

from test_example import assert_png

REPO = Path(__file__).resolve().parents[1]
HAVE_RUNTIME = importlib.util.find_spec("qiskit_ibm_runtime") is not None
#: the tiny model and data of the CLI tests (sine, 12 points, window 3, hidden 2, 2 qubits)
TINY = """
[train]
dataset = "sine"
n_points = 12
window = 3
hidden_size = 2
n_qubits = 2
epochs = 1
"""
#: 2 backends x 2 noise scales x 2 seeds = 8 points on 2 trainings
GRID = (
    TINY
    + """
[sweep]
seeds = [0, 1]
backends = ["density_matrix", "aer_noisy_exact"]
noise_scale = [0.5, 2]
"""
)


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def write(folder: Path, text: str, name: str = "experiment.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def sweep(capsys, *argv) -> tuple[int, str, str]:
    code = main(["sweep", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def table(out: Path) -> list[dict]:
    """results.csv's rows without the timing column (the one that differs between runs)."""
    with (out / "results.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def finished(out: Path) -> dict[str, tuple[int, bytes]]:
    """Point id -> (mtime_ns, content) of every metrics file."""
    return {
        path.parent.name: (path.stat().st_mtime_ns, path.read_bytes())
        for path in (out / "points").glob("*/metrics.json")
    }


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The 2 x 2 x 2 experiment, swept once in this process: (experiment file, sweep folder)."""
    folder = tmp_path_factory.mktemp("sweep")
    experiment = write(folder, GRID)
    assert main(["sweep", str(experiment), "--out", str(folder / "inline")]) == 0
    return experiment, folder / "inline"


# -- the experiment file ------------------------------------------------------------------------
SV = "[sweep]\nbackends = ['statevector']"  # the smallest grid
BAD_FILES = [
    ("foo = 1\n" + TINY + SV, ValueError, r"unknown key\(s\) 'foo'"),
    (SV, ValueError, r"either a \[train\] table .* neither"),
    ("[train\n", ValueError, r"cannot read the experiment file as TOML"),
    (
        TINY + "epoch = 2\n" + SV,
        ValueError,
        r"\[train\]: unknown key\(s\) 'epoch'",
    ),
    (
        TINY.replace("epochs = 1", 'epochs = "1"') + SV,
        TypeError,
        r"\[train\] epochs must be int, got str",
    ),
    (
        TINY + "seed = 3\n" + SV,
        ValueError,
        r"\[train\] seed: .*seeds = \[3\]",
    ),
    (TINY.replace('"sine"', '"nope"') + SV, ValueError, r"\[train\] dataset must be one of"),
    (
        TINY + "model = 'lstm'\n" + SV,
        ValueError,
        r"\[train\] model must be one of 'qlstm'",
    ),
    (
        TINY.replace("window = 3", "window = 30") + SV,
        ValueError,
        r"\[train\]: make_windows: .*too few",
    ),
    (TINY + "[sweep]\nseeds = [0]", ValueError, r"\[sweep\]: backends is missing"),
    (
        TINY + "[sweep]\nbackends = 'statevector'",
        TypeError,
        r"\[sweep\] backends must be a non-empty list",
    ),
    (TINY + SV + "\nseeds = [0, 0]", ValueError, r"\[sweep\] seeds: repeated value\(s\) 0"),
    (TINY + SV + "\nseeds = [-1]", ValueError, r"\[sweep\] seeds\[0\] must be in the range 0\.\."),
    (
        TINY + "[sweep]\nbackends = ['aer_shots']\n[[grid]]\nshots = [10, 0]",
        ValueError,
        r"\[\[grid\]\] 1 shots\[1\] must be >= 1, got 0",
    ),
    (
        TINY + "[sweep]\nbackends = ['density_matrix']\nnoise_scale = ['x']",
        TypeError,
        r"\[sweep\] noise_scale\[0\] must be a number",
    ),
    (
        TINY + "[sweep]\nbackends = ['nope']",
        ValueError,
        r"\[sweep\]: backend 'nope' as given: get_backend: unknown backend 'nope'; valid names",
    ),
    (
        TINY + "[sweep]\nbackends = ['aer_shots:frobnicate=1']",
        ValueError,
        r"\[sweep\]: backend 'aer_shots:frobnicate=1' as given: .*unknown option\(s\) 'frobnicate'",
    ),
    (
        TINY + SV + "\nshots = [100]",
        ValueError,
        r"\[sweep\]: backend 'statevector' with shots=100: .*unknown option\(s\) 'shots'",
    ),
    (
        TINY + "[sweep]\nbackends = ['aer_shots']\nmitigate = ['bogus']",
        ValueError,
        r"\[sweep\]: backend 'aer_shots' with mitigate=bogus: .*mitigate",
    ),
    (
        TINY + "[sweep]\nbackends = ['aer_shots:shots=5']\nshots = [10]",
        ValueError,
        r"sets shots and the shots axis does too",
    ),
    (
        TINY + "[sweep]\nbackends = ['aer_shots:seed=5']",
        ValueError,
        r"backend 'aer_shots:seed=5' sets seed; a sweep sets it per point",
    ),
    (
        TINY + SV + "\nnoise_scale = [2]",
        ValueError,
        r"noise_scale applies to density profiles .* 'statevector' has no noise model",
    ),
    (
        TINY + "[sweep]\nbackends = ['ibm_least_busy']",
        ValueError,
        r"a sweep's points name their device",
    ),
    (
        TINY + "backend = 'statevector'\n" + SV + "\ntrain_backends = ['statevector']",
        ValueError,
        r"train_backends and \[train\] backend both",
    ),
    (
        TINY + "[sweep]\ntrain_backends = ['nope']\nbackends = ['statevector']",
        ValueError,
        r"training backend 'nope': get_backend: unknown backend",
    ),
    (
        TINY + "[[grid]]\nbackends = ['statevector']\n[[grid]]\nbackends = ['statevector']",
        ValueError,
        r"\[\[grid\]\] 2 repeats the point statevector\.on-statevector\.seed0\.\w+ of",
    ),
    (
        "[evaluate]\nruns = ['nowhere']\n" + SV,
        ValueError,
        r"\[evaluate\] runs\[0\] 'nowhere': Run\.load: no checkpoint",
    ),
]


@pytest.mark.parametrize("text, error, message", BAD_FILES)
def test_a_bad_experiment_file_names_the_file_and_the_key(tmp_path, text, error, message):
    path = write(tmp_path, text)
    with pytest.raises(error, match=re.escape(str(path)) + ": .*" + message):
        plan_sweep(path)


def test_a_device_cannot_scale_its_noise(tmp_path):
    pytest.importorskip("qiskit_ibm_runtime")
    path = write(tmp_path, TINY + "[sweep]\nbackends = ['fake_manila']\nnoise_scale = [2]")
    with pytest.raises(ValueError, match=r"is a device, .*density_matrix:noise_from=fake_manila"):
        plan_sweep(path)


def test_cli_errors_exit_1_before_anything_is_written(tmp_path, capsys):
    path = write(tmp_path, TINY + "[sweep]\nbackends = ['statevector']\nshots = [100]")
    code, _, err = sweep(capsys, path, "--out", tmp_path / "out")
    assert code == 1 and f"qlstm-qiskit: error: {path}: [sweep]: backend 'statevector'" in err
    assert not (tmp_path / "out").exists()
    code, _, err = sweep(capsys, write(tmp_path, GRID), "--workers", "0")
    assert code == 1 and "--workers must be >= 1, got 0" in err
    code, _, err = sweep(capsys, write(tmp_path, GRID), "--yes", "--out", tmp_path / "out")
    assert code == 1 and "--yes apply only to sweeps with device backends" in err
    assert not (tmp_path / "out").exists()


# -- planning -----------------------------------------------------------------------------------
def test_points_share_trainings_and_ids_are_stable(tmp_path):
    text = (
        TINY
        + """
[sweep]
seeds = [0, 1]
train_backends = ["statevector", "density_matrix"]

[[grid]]
backends = ["statevector", "aer_shots"]

[[grid]]
backends = ["aer_noisy"]
noise_scale = [1, 4]
shots = [100, 1000]
"""
    )
    plan = plan_sweep(write(tmp_path, text))
    assert len(plan.points) == 2 * 2 * (2 + 4) and len(plan.trainings) == 4
    assert {(t.backend, t.seed) for t in plan.trainings.values()} == {
        (b, s) for b in ("statevector", "density_matrix") for s in (0, 1)
    }
    noisy = [p for p in plan.points if p.backend == "aer_noisy"]
    assert {p.name for p in noisy} == {"aer_noisy_x1", "aer_noisy_x4"}  # scaled Aer profiles
    assert all(p.scaled == ("aer_noisy", p.noise_scale) for p in noisy)
    assert all(p.options["seed"] == p.seed for p in plan.points if p.backend != "statevector")
    assert all("seed" not in p.options for p in plan.points if p.backend == "statevector")
    again = plan_sweep(write(tmp_path, text))
    assert [p.id for p in again.points] == [p.id for p in plan.points]  # stable ids
    changed = plan_sweep(write(tmp_path, text.replace("epochs = 1", "epochs = 2")))
    assert not {p.id for p in changed.points} & {p.id for p in plan.points}


def test_noise_aware_training_trains_once_per_training_backend(tmp_path, capsys):
    axes = """
[sweep]
train_backends = ["statevector", "density_matrix:noise_from=aer_noisy"]
backends = ["statevector", "density_matrix:noise_from=aer_noisy"]
"""
    code, printed, _ = sweep(capsys, write(tmp_path, TINY + axes), "--out", tmp_path / "out")
    assert code == 0 and "4 points computed, 0 finished before, 2 trainings run" in printed
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["points"]
    trainings = {row["training"] for row in rows}
    assert sorted(p.name for p in (tmp_path / "out" / "trainings").iterdir()) == sorted(trainings)
    assert len(trainings) == 2 and len({row["test_mse"] for row in rows}) == 4
    # a grid added later evaluates the trained models: nothing is trained again
    more = axes + "[[grid]]\n[[grid]]\nbackends = ['density_matrix']\nnoise_scale = [2]\n"
    code, printed, _ = sweep(capsys, write(tmp_path, TINY + more), "--out", tmp_path / "out")
    assert code == 0 and "4 of 6 points already finished" in printed
    assert "2 points computed, 4 finished before, 0 trainings run" in printed


def test_the_example_experiment_plans_the_noise_benchmark_grid_with_mitigated_rows():
    pytest.importorskip("qiskit_ibm_runtime")
    plan = plan_sweep(REPO / "examples" / "noise_sweep.toml")
    assert len(plan.trainings) == 3 and plan.axis_values("seed") == [0, 1, 2]
    assert plan.axis_values("backend") == [
        "statevector",
        "aer_statevector",
        "aer_shots",
        "aer_noisy",
        "aer_noisy_exact",
        "fake_manila",
        "fake_brisbane",
        "fake_torino",
    ]
    assert plan.axis_values("shots") == [None, 100, 1000, 10000]
    assert plan.axis_values("noise_scale") == [None, 0.5, 1.0, 2.0, 4.0]
    assert plan.axis_values("mitigate") == [None, "readout", "zne", "readout+zne"]
    mitigated = {(p.backend, p.noise_scale) for p in plan.points if p.mitigate}
    assert mitigated == {("aer_noisy", 1.0), ("fake_manila", None)}
    assert len(plan.points) == 3 * (2 + 3 + 2 * 4 + 3 + 3 + 3)
    assert plan.experiment.train["epochs"] == 100 and plan.experiment.train["n_qubits"] == 4


# -- running, resuming, in parallel -------------------------------------------------------------
def test_a_sweep_writes_one_folder_per_point_and_shares_the_trainings(grid):
    experiment, out = grid
    plan = plan_sweep(experiment)
    assert len(plan.points) == 8
    assert sorted(p.name for p in (out / "points").iterdir()) == sorted(p.id for p in plan.points)
    trainings = sorted(p.name for p in (out / "trainings").iterdir())
    assert trainings == sorted(plan.trainings) and len(trainings) == 2  # one per seed
    for point in plan.points:
        saved = json.loads((out / "points" / point.id / "point.json").read_text())
        assert saved["training"] == point.training and saved["noise_scale"] == point.noise_scale
    assert sorted(p.name for p in (out / "profiles").iterdir()) == [
        "aer_noisy_exact_x0p5.toml",
        "aer_noisy_exact_x2.toml",
    ]


def test_results_table_and_plots(grid):
    _, out = grid
    record = json.loads((out / "results.json").read_text())
    rows = record["points"]
    assert len(rows) == 8 and record["unfinished"] == []
    assert {(r["backend"], r["noise_scale"], r["seed"]) for r in rows} == {
        (b, k, s) for b in ("density_matrix", "aer_noisy_exact") for k in (0.5, 2.0) for s in (0, 1)
    }
    assert all(
        r["computes"] == "noisy" and r["test_windows"] == 3 and r["epochs"] == 1 for r in rows
    )
    for row in rows:  # the series is scaled onto [-1, 1]: MSE in its units is the scaled one x c
        assert row["test_mse_original_units"] / row["test_mse"] == pytest.approx(
            rows[0]["test_mse_original_units"] / rows[0]["test_mse"]
        )
    by_setting = {(r["backend"], r["noise_scale"], r["seed"]): r["test_mse"] for r in rows}
    assert by_setting[("density_matrix", 0.5, 0)] != by_setting[("density_matrix", 2.0, 0)]
    with (out / "results.csv").open() as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [r["point"] for r in csv_rows] == [r["point"] for r in rows]
    assert [float(r["test_mse"]) for r in csv_rows] == [r["test_mse"] for r in rows]
    assert all(s["summary"]["epochs"] == 1 for s in record["trainings"].values())
    assert_png(out / "mse_vs_noise_scale.png")  # 2 noise scales
    assert_png(out / "mse_per_backend.png")  # 2 backends
    assert not (out / "mse_vs_shots.png").exists() and not (out / "mse_mitigation.png").exists()


def test_the_same_table_with_two_worker_processes(grid, tmp_path, capsys):
    experiment, out = grid
    code, printed, _ = sweep(capsys, experiment, "--out", tmp_path / "pool", "--workers", "2")
    assert code == 0 and "8 points computed, 0 finished before, 2 trainings run" in printed
    assert table(tmp_path / "pool") == table(out)


def test_the_same_table_on_a_local_ray_instance(grid, tmp_path, capsys):
    pytest.importorskip("ray")
    experiment, out = grid
    code, printed, _ = sweep(
        capsys, experiment, "--out", tmp_path / "ray", "--ray", "local", "--workers", "2"
    )
    assert code == 0 and "8 points computed" in printed
    assert table(tmp_path / "ray") == table(out)


def test_ray_missing_is_an_error_with_the_install_command(grid, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, _, err = sweep(capsys, grid[0], "--out", tmp_path / "x", "--ray", "local")
    assert code == 1 and 'pip install "qlstm-qiskit[ray]"' in err
    assert not (tmp_path / "x").exists()


def test_a_failed_point_does_not_stop_the_others(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, TINY + "[sweep]\nbackends = ['statevector', 'aer_statevector']\n")
    task = sweep_run.point_task

    def fails_on_aer(out, point, run_dir, threads):
        if point.backend == "aer_statevector":
            raise RuntimeError("the simulator broke")
        return task(out, point, run_dir, threads)

    monkeypatch.setattr(sweep_run, "point_task", fails_on_aer)
    code, printed, err = sweep(capsys, path, "--out", tmp_path / "out")
    assert code == 1 and "1 training(s)/point(s) failed" in err
    assert "aer_statevector.on-statevector.seed0." in err and "RuntimeError: the simulator" in err
    assert [row["backend"] for row in table(tmp_path / "out")] == ["statevector"]
    monkeypatch.setattr(sweep_run, "point_task", task)
    code, printed, _ = sweep(capsys, path, "--out", tmp_path / "out")
    assert code == 0 and "1 points computed, 1 finished before, 0 trainings run" in printed


#: the command line, each point followed by a pause (time to be killed between two points)
SLOW_POINTS = """
import sys, time
from qlstm_qiskit.forecasting import sweep_run
task = sweep_run.point_task
def slow_point_task(*args):
    metrics = task(*args)
    time.sleep(1.0)
    return metrics
sweep_run.point_task = slow_point_task
from qlstm_qiskit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_then_the_same_command_runs_only_the_unfinished_points(grid, tmp_path, capsys):
    experiment, reference = grid
    out = tmp_path / "killed"
    argv = ["sweep", str(experiment), "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_POINTS, *argv],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not finished(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read()
        # while it runs, a second sweep on the folder is refused (and changes nothing)
        code, _, err = sweep(capsys, experiment, "--out", out)
        assert code == 1 and f"the sweep folder {out} is in use by process {process.pid}" in err
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    before = finished(out)
    assert 1 <= len(before) < 8
    code, printed, _ = sweep(capsys, experiment, "--out", out, "--dry-run")
    assert code == 0 and f"8 points ({8 - len(before)} to run)" in printed
    assert len(re.findall(r"^done ", printed, flags=re.M)) == len(before) + 2  # + 2 trainings
    code, printed, _ = sweep(capsys, experiment, "--out", out)
    assert code == 0 and f"{len(before)} of 8 points already finished" in printed
    assert (
        f"{8 - len(before)} points computed, {len(before)} finished before, 0 trainings" in printed
    )
    after = finished(out)
    assert len(after) == 8 and all(after[key] == value for key, value in before.items())
    assert table(out) == table(reference)


def test_evaluating_runs_instead_of_training(grid, tmp_path, capsys):
    _, out = grid
    runs = sorted((out / "trainings").iterdir())
    text = f"""
[evaluate]
runs = {json.dumps([str(run) for run in runs])}

[sweep]
seeds = [1, 2]
backends = ["statevector", "aer_shots"]
"""
    path = write(tmp_path, text)
    plan = plan_sweep(path)
    # statevector samples nothing: one point per run; aer_shots one per run and sampling seed
    assert len(plan.points) == 2 * 1 + 2 * 2 and len(plan.trainings) == 2
    assert [p.seed for p in plan.points if p.backend == "statevector"] == [None, None]
    code, printed, _ = sweep(capsys, path, "--out", tmp_path / "evaluated")
    assert code == 0 and "6 points computed, 0 finished before, 0 trainings run" in printed
    rows = json.loads((tmp_path / "evaluated" / "results.json").read_text())["points"]
    assert {(r["backend"], r["run"], r["seed"]) for r in rows} == {
        *(("statevector", str(run), None) for run in runs),
        *(("aer_shots", str(run), seed) for run in runs for seed in (1, 2)),
    }
    assert not (tmp_path / "evaluated" / "trainings").exists()  # nothing trained


# -- dry run on a device ------------------------------------------------------------------------
def test_dry_run_lists_the_points_and_prices_the_device_work(tmp_path, capsys):
    pytest.importorskip("qiskit_ibm_runtime")
    text = TINY + "[sweep]\nseeds = [0, 1]\nbackends = ['fake_manila', 'statevector']\n"
    path = write(tmp_path, text)
    code, printed, _ = sweep(capsys, path, "--out", tmp_path / "out", "--dry-run")
    assert code == 0 and "4 points (4 to run), 2 trainings (2 to run)" in printed
    assert len(re.findall(r"^to run ", printed, flags=re.M)) == 4 + 2
    assert "cost preview for fake_manila (dry run: nothing submitted)" in printed
    # 2 seeds x 3 time steps, the test windows in one batch, x 2: the last epoch's weights and
    # (at most) the best-on-validation ones
    assert "jobs:      12" in printed
    assert "sweep total: 12 jobs" in printed and "for 0 training(s) and 2 point(s)" in printed
    assert not (tmp_path / "out").exists()  # nothing written, nothing submitted
    code, _, err = sweep(capsys, path, "--out", tmp_path / "out", "--max-qpu-seconds", "1")
    assert code == 1 and "exceeds --max-qpu-seconds 1; nothing was submitted" in err
    assert not (tmp_path / "out").exists()
