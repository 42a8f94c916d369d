"""The ``qlstm-qiskit`` command end to end, in temporary directories, with tiny budgets."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from qlstm_qiskit import list_backends
from qlstm_qiskit.cli import main
from qlstm_qiskit.cli.specs import parse_backend_spec

REPO = Path(__file__).resolve().parents[1]
# A small, fast run: 36 windows of a 40-point sine, 2 qubits, hidden 2.
TINY = [
    "--dataset",
    "sine",
    "--n-points",
    "40",
    "--hidden-size",
    "2",
    "--n-qubits",
    "2",
    "--no-progress",
]


def run_cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_png(path: Path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width > 100 and image.height > 100


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1-epoch run with both models (shared by the evaluate and predict tests)."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert (
        main(["train", *TINY, "--epochs", "1", "--model", "both", "--run-dir", str(run_dir)]) == 0
    )
    return run_dir


def test_help_of_every_subcommand(capsys):
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0
    for command in ("train", "evaluate", "predict", "backends", "circuit", "jobs"):
        assert command in out
    expected = {
        "train": [
            "--dataset",
            "--csv",
            "--column",
            "--model",
            "--hidden-size",
            "--n-qubits",
            "--backend",
            "--epochs",
            "--batch-size",
            "--lr",
            "--run-dir",
            "--resume",
            "bessel_j2",
            "population_inversion",
        ],
        "evaluate": ["--backends", "--out"],
        "predict": ["--backend", "--input", "--dataset", "--out"],
        "backends": [],
        "circuit": ["--gate", "--n-qubits", "--out"],
        "jobs": ["RUN_DIR|LEDGER", "--refresh", "--rebuild", "--cancel", "--run-name", "--merge"],
    }
    for command, flags in expected.items():
        status, out, _ = run_cli(capsys, command, "--help")
        assert status == 0
        for flag in flags:
            assert flag in out, (command, flag)


def test_train_writes_checkpoint_metrics_and_plots(tmp_path, capsys):
    run_dir = tmp_path / "run"
    status, out, _ = run_cli(capsys, "train", *TINY, "--epochs", "1", "--run-dir", run_dir)
    assert status == 0
    for name in ("checkpoint.pt", "metrics.json", "metrics.csv", "loss.png", "prediction.png"):
        assert (run_dir / name).is_file(), name
        assert str(run_dir / name) in out  # train says where everything is
    assert_png(run_dir / "loss.png")
    assert_png(run_dir / "prediction.png")
    data = metrics(run_dir)
    assert data["epochs_completed"] == 1 and list(data["models"]) == ["qlstm"]
    assert data["data"]["dataset"] == "sine" and data["train_windows"] == int(0.67 * 36)
    with (run_dir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["epoch"], row["model"]) for row in rows] == [("0", "qlstm"), ("1", "qlstm")]
    assert float(rows[1]["test_mse"]) == data["models"]["qlstm"]["final_test_mse"]
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)  # plain data only
    assert state["models"]["qlstm"]["backend"] == "statevector" and state["epoch"] == 1


def test_resume_continues_to_the_same_result(tmp_path, capsys):
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert run_cli(capsys, "train", *TINY, "--epochs", "2", "--run-dir", once)[0] == 0
    assert run_cli(capsys, "train", *TINY, "--epochs", "1", "--run-dir", twice)[0] == 0
    status, out, _ = run_cli(capsys, "train", "--resume", twice, "--epochs", "2", "--no-progress")
    assert status == 0 and f"resuming {twice} after epoch 1" in out
    assert metrics(twice)["models"] == metrics(once)["models"]


def test_kill_9_mid_run_then_resume(tmp_path):
    """A ``kill -9`` loses at most the epoch it interrupts; the resumed run ends exactly where
    an uninterrupted one does (float64, one thread in both, same seed)."""
    argv = [
        "train",
        "--dataset",
        "sine",
        "--n-points",
        "100",
        "--batch-size",
        "2",
        "--hidden-size",
        "2",
        "--n-qubits",
        "2",
        "--epochs",
        "24",
        "--seed",
        "3",
        "--no-progress",
    ]
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "qlstm_qiskit", *argv, "--run-dir", str(killed)],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        seen, deadline = 0, time.monotonic() + 120
        while seen < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                seen = metrics(killed)["epochs_completed"]
            except (OSError, ValueError, KeyError):
                pass
        assert process.poll() is None, (
            f"the run ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
        )
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()
    checkpoint_epoch = torch.load(killed / "checkpoint.pt", weights_only=True)["epoch"]
    assert 3 <= seen <= checkpoint_epoch < 24
    resumed = subprocess.run(
        [sys.executable, "-m", "qlstm_qiskit", "train", "--resume", str(killed), "--no-progress"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"after epoch {checkpoint_epoch}" in resumed.stdout
    uninterrupted = tmp_path / "uninterrupted"
    assert main([*argv, "--run-dir", str(uninterrupted)]) == 0
    assert metrics(killed)["epochs_completed"] == 24
    assert metrics(killed)["models"] == metrics(uninterrupted)["models"]  # exact equality
    state_a = torch.load(killed / "checkpoint.pt", weights_only=True)["state_dicts"]["qlstm"]
    state_b = torch.load(uninterrupted / "checkpoint.pt", weights_only=True)["state_dicts"]["qlstm"]
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_b)


def test_evaluate_on_two_backends(trained, tmp_path, capsys):
    out_dir = tmp_path / "eval"
    status, out, _ = run_cli(
        capsys,
        "evaluate",
        trained,
        "--backends",
        "statevector",
        "statevector:method=gates",
        "--out",
        out_dir,
    )
    assert status == 0
    with (out_dir / "evaluate.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["model"], row["backend"]) for row in rows] == [
        ("qlstm", "statevector"),
        ("qlstm", "statevector:method=gates"),
        ("lstm", "classical"),
    ]
    exact, gates = float(rows[0]["test_mse"]), float(rows[1]["test_mse"])
    assert gates == pytest.approx(exact, rel=1e-9)
    assert exact == pytest.approx(metrics(trained)["models"]["qlstm"]["final_test_mse"], rel=1e-12)
    results = json.loads((out_dir / "evaluate.json").read_text())["results"]
    assert [row["backend"] for row in results] == [row["backend"] for row in rows]
    assert_png(out_dir / "evaluate.png")
    assert "statevector:method=gates" in out


def test_predict_writes_csv(trained, tmp_path, capsys):
    out = tmp_path / "pred" / "predictions.csv"
    status, stdout, _ = run_cli(
        capsys, "predict", trained, "--backend", "statevector", "--out", out
    )
    assert status == 0 and str(out) in stdout
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["index", "target", "qlstm", "lstm"] and len(rows) == 36
    assert rows[0]["index"] == "4"
    series = tmp_path / "series.csv"
    series.write_text("t,y\n" + "".join(f"{i},{0.1 * i}\n" for i in range(10)))
    status, _, _ = run_cli(
        capsys, "predict", trained, "--input", series, "--column", "y", "--out", out
    )
    assert status == 0
    with out.open() as handle:
        assert len(list(csv.DictReader(handle))) == 6


def test_train_on_a_csv_column(tmp_path, capsys):
    series = tmp_path / "series.csv"
    series.write_text("step,level\n" + "".join(f"{i},{(i % 7) / 7}\n" for i in range(30)))
    run_dir = tmp_path / "run"
    status, out, _ = run_cli(
        capsys,
        "train",
        "--csv",
        series,
        "--column",
        "level",
        "--epochs",
        "1",
        "--model",
        "lstm",
        "--hidden-size",
        "3",
        "--run-dir",
        run_dir,
        "--no-progress",
    )
    assert status == 0 and "series.level" in out
    assert metrics(run_dir)["data"]["csv"] == str(series)
    status, _, err = run_cli(capsys, "evaluate", run_dir, "--backends", "aer_statevector")
    assert status == 1 and "holds only the classical LSTM; --backends would be ignored" in err


def test_backends_and_circuit(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "backends")
    assert status == 0
    for name, description in list_backends().items():
        assert any(
            line.startswith(name + " ") and line.endswith(description) for line in out.splitlines()
        ), name
    status, out, _ = run_cli(
        capsys, "circuit", "--gate", "forget", "--n-qubits", "3", "--out", tmp_path
    )
    assert status == 0
    text = (tmp_path / "circuit_forget.txt").read_text()
    assert "q_2" in text and "Ry(x[4])" in text and text.strip() in out
    assert_png(tmp_path / "circuit_forget.png")


def test_python_dash_m_runs_the_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qlstm_qiskit", "backends"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "statevector" in result.stdout


@pytest.mark.parametrize(
    "argv, status, match",
    [
        (["train", "--no-such-flag"], 2, "unrecognized arguments: --no-such-flag"),
        (["train", "--dataset", "airline"], 2, "invalid choice: 'airline'"),
        (["train", "--epochs", "two"], 2, "invalid int value: 'two'"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["train", *TINY, "--n-qubits", "30"], 1, "n_qubits must be in the range 1..25, got 30"),
        (["train", *TINY, "--backend", "nowhere"], 1, "unknown backend 'nowhere'; valid names: "),
        (["train", *TINY, "--backend", "statevector:method"], 1, "options must be key=value"),
        (["train", *TINY, "--backend", "statevector:method=fast"], 1, "method must be one of"),
        (["train", "--csv", "data.csv"], 1, "--csv needs --column"),
        (["train", "--column", "y"], 1, "--column goes with --csv"),
        (["train", "--resume", "nowhere"], 1, "no checkpoint at nowhere"),
        (["evaluate", "missing.pt"], 1, "no checkpoint at missing.pt"),
        (["predict", "missing.pt", "--column", "y"], 1, "--column goes with --input"),
        (
            ["train", *TINY, "--model", "lstm", "--n-qubits", "3"],
            1,
            "--model lstm trains the classical LSTM only; --n-qubits would be ignored",
        ),
    ],
)
def test_errors(argv, status, match, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == status
    assert match in err
    assert "Traceback" not in err
    if status == 1:
        assert err.startswith("qlstm-qiskit: error: ")


def test_malformed_csv_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,y\n0,1.0\n1,oops\n2,3.0\n")
    code, _, err = run_cli(
        capsys, "train", "--csv", bad, "--column", "y", "--run-dir", tmp_path / "run"
    )
    assert code == 1
    assert err == (
        f"qlstm-qiskit: error: load_csv_column: {bad} row 3, column 'y': expected a "
        "finite number, got 'oops'\n"
    )
    assert not (tmp_path / "run").exists()


def test_corrupt_checkpoint_and_changed_settings_on_resume(trained, tmp_path, capsys):
    corrupt = tmp_path / "checkpoint.pt"
    corrupt.write_bytes(b"not a checkpoint")
    code, _, err = run_cli(capsys, "evaluate", corrupt)
    assert code == 1 and "is not a readable qlstm-qiskit checkpoint" in err
    code, _, err = run_cli(capsys, "train", "--resume", trained, "--hidden-size", "7")
    assert code == 1 and "only --epochs may be given, got --hidden-size" in err
    code, _, err = run_cli(capsys, "train", *TINY, "--run-dir", trained)
    assert code == 1 and "already holds a run" in err
    code, _, err = run_cli(capsys, "evaluate", trained, "--backends", "statevector", "aer_nope")
    assert code == 1 and "unknown backend 'aer_nope'; valid names: " in err
    assert all(name in err for name in list_backends() if not name.startswith("fake_"))
    assert "fake_<device>" in err and "ibm_<device>" in err
    assert not (trained / "evaluate.csv").exists()  # nothing is written before all names check
    code, _, err = run_cli(capsys, "train", "--resume", trained, "--epochs", "0")
    assert code == 1 and "--epochs 0 is below the 1 epochs the run has done" in err


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("statevector", ("statevector", {})),
        ("aer_shots:shots=100,seed=7", ("aer_shots", {"shots": 100, "seed": 7})),
        (
            "x:precision=0.5,flag=true,mode=none,method=gates",
            ("x", {"precision": 0.5, "flag": True, "mode": None, "method": "gates"}),
        ),
    ],
)
def test_parse_backend_spec(spec, expected):
    assert parse_backend_spec(spec) == expected


def test_mismatched_checkpoint_is_a_clear_error(trained, tmp_path, capsys):
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    state["models"]["qlstm"]["hidden_size"] = 3  # the saved weights have hidden size 2
    torch.save(state, tmp_path / "checkpoint.pt")
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "checkpoint.pt")
    assert code == 1 and "does not match its configuration" in err and "Traceback" not in err
    state["version"] = 99
    torch.save(state, tmp_path / "checkpoint.pt")
    code, _, err = run_cli(capsys, "predict", tmp_path)
    assert code == 1 and "has checkpoint version 99" in err


def test_console_script(tmp_path):
    script = Path(sys.executable).parent / "qlstm-qiskit"
    if not script.exists():
        pytest.skip("the package is not installed in this environment (pip install .)")
    result = subprocess.run(
        [str(script), "train", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "--resume" in result.stdout


def test_credentials_are_never_stored(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "train", *TINY, "--backend", "statevector:token=abc", "--run-dir", tmp_path / "run"
    )
    assert code == 1 and "looks like a credential" in err and "abc" not in err
    assert not (tmp_path / "run").exists()


def test_noise_aware_training_then_evaluation_on_the_device(tmp_path, capsys):
    """Issue 13's workflow: train under fake_manila's noise model (density_matrix), evaluate the
    same weights on the fake device and on statevector."""
    pytest.importorskip("qiskit_ibm_runtime")
    run_dir = tmp_path / "run"
    status, out, _ = run_cli(
        capsys,
        "train",
        *TINY,
        "--epochs",
        "1",
        "--backend",
        "density_matrix:noise_from=fake_manila",
        "--run-dir",
        run_dir,
    )
    assert status == 0, out
    config = metrics(run_dir)["models"]["qlstm"]["config"]
    assert (config["backend"], config["backend_options"]) == (
        "density_matrix",
        {"noise_from": "fake_manila"},
    )
    status, out, _ = run_cli(
        capsys,
        "evaluate",
        run_dir,
        "--backends",
        "fake_manila:shots=200",
        "statevector",
        "density_matrix:noise_from=fake_manila",
    )
    assert status == 0, out
    with (run_dir / "evaluate.csv").open() as handle:
        rows = {
            row["backend"].split(":")[0]: float(row["test_mse"]) for row in csv.DictReader(handle)
        }
    assert set(rows) == {"fake_manila", "statevector", "density_matrix"}
    # the training backend reproduces the run's own test MSE; the others differ from it
    final = metrics(run_dir)["models"]["qlstm"]["final_test_mse"]
    assert rows["density_matrix"] == pytest.approx(final, rel=1e-9)
    assert rows["statevector"] != pytest.approx(final, rel=1e-6)
    assert rows["fake_manila"] != rows["density_matrix"]
