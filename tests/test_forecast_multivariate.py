"""Multivariate, multi-step forecasting: ``train --csv FILE --features a,b,c --target c
--horizon H`` end to end (train, resume, evaluate, predict), the windows and scalers behind it,
the per-step metrics and the errors of bad column and horizon flags."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting.datasets import load_csv_columns, make_windows
from qlstm_qiskit.forecasting.models import Forecaster, ModelConfig
from qlstm_qiskit.forecasting.run_settings import TRAIN_DEFAULTS, training_series
from qlstm_qiskit.forecasting.training import Run

ROWS, WINDOW, HORIZON = 100, 4, 3
WINDOWS = ROWS - WINDOW - HORIZON + 1  # 94
SPLIT = int(0.67 * WINDOWS)  # 62 training windows
TINY_MODEL = ["--hidden-size", "3", "--n-qubits", "2", "--no-progress"]


def coupled_sines(rows: int = ROWS) -> np.ndarray:
    """``(rows, 3)``: two noisy sines and a third column driven by both (seeded)."""
    t = np.arange(rows)
    noise = np.random.default_rng(7).normal(0.0, 0.05, (rows, 3))
    a = np.sin(0.3 * t) + noise[:, 0]
    b = 2.0 * np.cos(0.3 * t) + 1.0 + noise[:, 1]
    c = 0.5 * a + 0.25 * np.roll(b, 1) + noise[:, 2] + 10.0 + 0.02 * t  # a trend: the test
    # part leaves the training range
    return np.stack([a, b, c], axis=1).round(6)


def write_csv(path, values: np.ndarray) -> None:
    lines = ["time,a,b,c"] + [f"{i},{a},{b},{c}" for i, (a, b, c) in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def table():
    return coupled_sines()


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory, table):
    path = tmp_path_factory.mktemp("multivariate") / "sensors.csv"
    write_csv(path, table)
    return path


@pytest.fixture(scope="module")
def run_dir(data_csv):
    """2 epochs, then --resume to 3: the run the other tests read."""
    run_dir = data_csv.parent / "run"
    argv = ["train", "--csv", data_csv, "--features", "a,b,c", "--target", "c"]
    argv += ["--horizon", HORIZON, *TINY_MODEL, "--epochs", "2", "--run-dir", run_dir]
    assert main([str(arg) for arg in argv]) == 0
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--no-progress"]) == 0
    return run_dir


def by_hand_scalers(table: np.ndarray, rows: int) -> list[tuple[float, float]]:
    """(low, high) of each column over its first ``rows`` rows."""
    return [(table[:rows, j].min(), table[:rows, j].max()) for j in range(table.shape[1])]


def scale(values, low, high):
    return 2.0 * (values - low) / (high - low) - 1.0


def test_train_resume_writes_a_three_step_run(run_dir, data_csv, capsys):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3
    assert metrics["train_windows"] == SPLIT and metrics["test_windows"] == WINDOWS - SPLIT
    data = metrics["data"]
    assert data["features"] == ["a", "b", "c"] and data["target"] == "c"
    assert data["horizon"] == HORIZON and data["fit_on"] == "train"  # CSV default
    model = metrics["models"]["qlstm"]
    assert model["config"]["input_size"] == 3 and model["config"]["horizon"] == HORIZON
    per_step = model["test_per_step"]
    assert [row["step"] for row in per_step] == [1, 2, 3]
    # the one-number test MSE is the mean over the steps
    assert model["final_test_mse"] == pytest.approx(np.mean([r["mse"] for r in per_step]), 1e-12)
    assert len(model["test_mse"]) == 3
    run = Run.load(run_dir)
    assert run.series.shape == (ROWS, 3) and run.data.x_train.shape == (SPLIT, WINDOW, 3)
    assert run.data.y_test.shape == (WINDOWS - SPLIT, HORIZON)
    assert tuple(run.models["qlstm"].head.weight.shape) == (HORIZON, 3)  # (H, hidden)
    assert (run_dir / "prediction.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_continues_exactly(run_dir, data_csv, tmp_path):
    once = tmp_path / "once"
    argv = ["train", "--csv", data_csv, "--features", "a,b,c", "--target", "c"]
    argv += ["--horizon", HORIZON, *TINY_MODEL, "--epochs", "3", "--run-dir", once]
    assert main([str(arg) for arg in argv]) == 0
    resumed = json.loads((run_dir / "metrics.json").read_text())["models"]
    straight = json.loads((once / "metrics.json").read_text())["models"]
    assert resumed == straight


def test_scalers_are_fitted_on_the_training_rows(run_dir, table):
    run = Run.load(run_dir)
    fitted_rows = SPLIT + WINDOW + HORIZON - 1  # the rows the training windows see
    expected = by_hand_scalers(table, fitted_rows)
    got = [(s.low, s.high) for s in run.data.feature_scalers]
    assert got == expected and (run.data.scaler.low, run.data.scaler.high) == expected[2]
    assert table[:, 2].max() > expected[2][1] or table[:, 2].min() < expected[2][0]
    # a value of the test part changes nothing of the scaling; with fit_on="series" it does
    changed = table.copy()
    changed[-1] = [50.0, -50.0, 99.0]
    for fit_on, same in (("series", False), ("train", True)):
        before = make_windows(table, WINDOW, fit_on=fit_on, target=table[:, 2], horizon=3)
        after = make_windows(changed, WINDOW, fit_on=fit_on, target=changed[:, 2], horizon=3)
        assert (before.feature_scalers == after.feature_scalers) is same
        assert (before.scaler == after.scaler) is same
    # values outside the training range are not clipped
    assert after.y_test[-1, -1] > 1.0  # the last row: only the last target sees it


def test_evaluate_per_step_metrics_equal_a_direct_computation(run_dir, table, capsys):
    status, out, _ = cli(capsys, "evaluate", run_dir)
    assert status == 0 and "t+3" in out and "MSE orig" in out
    result = json.loads((run_dir / "evaluate.json").read_text())
    assert result["horizon"] == HORIZON
    row = result["results"][0]
    run = Run.load(run_dir)
    run.use_weights(result["weights"])  # evaluate's default: the best-on-validation weights
    predictions = run.models["qlstm"].predict(run.data.x_test).numpy()
    scaler = run.data.scaler
    # the truth straight from the table: window i forecasts c[i + WINDOW + k]
    starts = np.arange(SPLIT, WINDOWS) + WINDOW
    truth = np.stack([table[starts + k, 2] for k in range(HORIZON)], axis=1)
    low, high = scaler.low, scaler.high
    for k, step in enumerate(row["per_step"]):
        scaled_error = predictions[:, k] - scale(truth[:, k], low, high)
        original_error = (predictions[:, k] + 1.0) * (high - low) / 2.0 + low - truth[:, k]
        assert step["step"] == k + 1
        assert step["mse"] == pytest.approx(np.mean(scaled_error**2), rel=1e-9)
        assert step["mae"] == pytest.approx(np.mean(np.abs(scaled_error)), rel=1e-9)
        assert step["rmse"] == pytest.approx(math.sqrt(np.mean(scaled_error**2)), rel=1e-9)
        assert step["mse_original"] == pytest.approx(np.mean(original_error**2), rel=1e-9)
        assert step["mae_original"] == pytest.approx(np.mean(np.abs(original_error)), rel=1e-9)
        assert step["rmse_original"] == pytest.approx(
            math.sqrt(np.mean(original_error**2)), rel=1e-9
        )
    assert row["test_mse"] == pytest.approx(np.mean([s["mse"] for s in row["per_step"]]), 1e-12)


def test_predict_writes_the_forecasts_of_each_row_in_original_units(run_dir, data_csv, table):
    out = run_dir / "forecasts.csv"
    assert main(["predict", str(run_dir), "--input", str(data_csv), "--out", str(out)]) == 0
    rows = read_rows(out)
    steps = ["t+1", "t+2", "t+3"]
    assert list(rows[0]) == [
        "index",
        *(f"target_{s}" for s in steps),
        *(f"qlstm_{s}" for s in steps),
    ]
    assert len(rows) == WINDOWS and rows[0]["index"] == str(WINDOW)
    # the model's outputs on windows scaled by hand with the training rows' ranges
    run = Run.load(run_dir)
    run.use_weights("best")  # predict's default where the run has a validation split
    scalers = by_hand_scalers(table, SPLIT + WINDOW + HORIZON - 1)
    scaled = np.stack([scale(table[:, j], *scalers[j]) for j in range(3)], axis=1)
    x = torch.tensor(np.stack([scaled[i : i + WINDOW] for i in range(WINDOWS)]))
    with torch.no_grad():
        outputs = run.models["qlstm"].eval()(x).numpy()
    low, high = scalers[2]
    expected = (outputs + 1.0) * (high - low) / 2.0 + low
    got = np.array([[float(row[f"qlstm_{s}"]) for s in steps] for row in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    truth = np.array([[float(row[f"target_{s}"]) for s in steps] for row in rows])
    np.testing.assert_array_equal(truth[:, 0], table[WINDOW : WINDOW + WINDOWS, 2])
    np.testing.assert_array_equal(truth[:, 2], table[WINDOW + 2 :, 2])
    default = run_dir / "default.csv"  # the run's own series: the same rows
    assert main(["predict", str(run_dir), "--out", str(default)]) == 0
    assert default.read_text() == out.read_text()


def test_make_windows_aligns_features_and_targets():
    features = np.arange(30.0).reshape(10, 3) ** 1.5
    target = np.linspace(-3.0, 5.0, 10) ** 2
    data = make_windows(features, 3, 0.5, target=target, horizon=2)
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    assert x.shape == (6, 3, 3) and y.shape == (6, 2) and data.split == 3
    scaled = np.stack([s.transform(features[:, j]) for j, s in enumerate(data.feature_scalers)], 1)
    for i in range(6):
        np.testing.assert_allclose(x[i].numpy(), scaled[i : i + 3])
        np.testing.assert_allclose(
            data.scaler.inverse_transform(y[i].numpy()), target[i + 3 : i + 5]
        )


def test_one_column_defaults_are_todays():
    settings = {**TRAIN_DEFAULTS, "dataset": "sine", "n_points": 40}
    series, data_config = training_series(settings, {"dataset", "n_points"})
    assert series.shape == (40,) and data_config["fit_on"] == "series"
    assert data_config["horizon"] == 1 and "features" not in data_config
    old = {"kind": "lstm", "hidden_size": 2}  # a checkpoint's config from before input_size
    model = Forecaster(ModelConfig.from_dict(old))
    assert model(torch.zeros(5, 4, 1, dtype=torch.float64)).shape == (5, 1)


def test_load_csv_columns_missing_values_per_row_and_column(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,10\n,20\n3,\n4,40\n")
    assert load_csv_columns(path, ["a", "b"], missing="drop").tolist() == [[1, 10], [4, 40]]
    filled = load_csv_columns(path, ["b", "a"], missing="interpolate")
    assert filled.tolist() == [[10, 1], [20, 2], [30, 3], [40, 4]]
    with pytest.raises(ValueError, match=r"row 3, column 'a': expected a finite number, got ''"):
        load_csv_columns(path, ["a", "b"])


TRAIN = ["train", "--csv", "{csv}"]


@pytest.mark.parametrize(
    "argv, match",
    [
        ([*TRAIN, "--column", "c", "--features", "a,b"], "--column is the one-column form of"),
        ([*TRAIN, "--column", "c", "--target", "c"], "give --column or --target, not both"),
        ([*TRAIN, "--features", "a,b"], "--features names 2 columns; --target must say which"),
        ([*TRAIN, "--target", "c"], "--target goes with --features (the input columns)"),
        ([*TRAIN], "--csv needs --column (a header name or 0-based index) or --features"),
        ([*TRAIN, "--features", "a,b,a", "--target", "c"], "names each column once, got 'a'"),
        ([*TRAIN, "--features", "a,,b", "--target", "c"], "none empty, got 'a,,b'"),
        ([*TRAIN, "--features", "a,1", "--target", "c"], "'a' and '1' are the same column"),
        ([*TRAIN, "--features", "a,zz", "--target", "c"], "has no column 'zz'; columns: 'time'"),
        ([*TRAIN, "--features", "a,b", "--target", "nope"], "has no column 'nope'"),
        ([*TRAIN, "--features", "a", "--horizon", "0"], "--horizon must be an int >= 1, got 0"),
        ([*TRAIN, "--features", "a", "--horizon", "99"], "predicting 99, too few to split"),
        (["train", "--dataset", "sine", "--features", "a"], "--features goes with --csv"),
        (["train", "--dataset", "sine", "--target", "a"], "--target goes with --csv"),
        (
            ["train", "--resume", "{run}", "--horizon", "2"],
            "only --epochs may be given, got --horizon",
        ),
        (["predict", "{run}", "--input", "{csv}", "--column", "c"], "--column is for one-column"),
        (["predict", "{run}", "--dataset", "sine"], "a built-in dataset is one series"),
        (["predict", "{run}", "--input", "{short}"], "has no column 'b'; columns: 'a', 'c'"),
    ],
)
def test_bad_column_and_horizon_flags(argv, match, run_dir, data_csv, tmp_path, capsys):
    short = tmp_path / "short.csv"
    short.write_text("a,c\n1,2\n3,4\n5,6\n")
    paths = {"{csv}": data_csv, "{run}": run_dir, "{short}": short}
    argv = [str(paths.get(arg, arg)) for arg in argv]
    if argv[0] == "train" and "--resume" not in argv:
        argv += ["--run-dir", str(tmp_path / "new-run")]
    if argv[0] == "predict":
        argv += ["--out", str(tmp_path / "forecasts.csv")]
    status, _, err = cli(capsys, *argv)
    assert status == 1 and match in err, err
    assert err.startswith("qlstm-qiskit: error: ") and "Traceback" not in err
