"""Issue 17 item 2: a chronological validation split carved from the training windows, the
best-on-validation weights kept beside the last ones, early stopping, lr schedules, and
``val_fraction=0`` as the paper's protocol exactly. Tiny runs (a 40-point sine, hidden 2)."""

import csv
import json
import re

import numpy as np
import pytest
import torch
from tiny_run import TINY
from torch import nn

from qlstm_qiskit.circuits import CircuitSpec
from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting.datasets import generate, make_windows
from qlstm_qiskit.forecasting.models import Forecaster, ModelConfig
from qlstm_qiskit.forecasting.schedules import PLATEAU_FACTOR, PLATEAU_PATIENCE
from qlstm_qiskit.forecasting.selection import validation_split
from qlstm_qiskit.forecasting.sweep_plan import Point
from qlstm_qiskit.forecasting.sweep_tasks import point_task
from qlstm_qiskit.forecasting.training import CHECKPOINT, Run, TrainConfig

DATA = {"window": 4, "train_fraction": 0.67, "fit_on": "series"}
SERIES = generate("sine", 40)  # 36 windows: 24 training (of which 4 validate), 12 test
QLSTM = ModelConfig(kind="qlstm", hidden_size=2, circuit=CircuitSpec(n_qubits=2))
LSTM = ModelConfig(kind="lstm", hidden_size=2)
#: a classical run whose validation MSE swings (lr 0.3): its minimum is at epoch 4
SWINGING = {"epochs": 20, "lr": 0.3, "batch_size": 4}


def new_run(models=None, **train) -> Run:
    return Run.create(DATA, SERIES, models or {"lstm": LSTM}, TrainConfig(**train))


def train(run: Run, epochs: int) -> Run:
    for _ in range(epochs):
        run.step_epoch()
    return run


def first_stop(validation: list[float], patience: int) -> int | None:
    """The epoch (1-based) after which early stopping with ``patience`` stops, recomputed."""
    for epoch in range(1, len(validation) + 1):
        best = int(np.argmin(validation[:epoch])) + 1  # the first of equal minima
        if epoch - best >= patience:
            return epoch
    return None


# -- the split ----------------------------------------------------------------------------------
def test_validation_windows_are_the_chronological_tail_of_the_training_windows():
    run = new_run()
    data, scaled = run.data, run.data.scaler.transform(SERIES)
    assert (len(data.x_train), len(run.x_fit), len(run.x_val), len(data.x_test)) == (24, 20, 4, 12)
    assert torch.equal(run.x_fit, data.x_train[:20]) and torch.equal(run.x_val, data.x_train[20:])
    assert torch.equal(run.y_val, data.y_train[20:])
    # window i predicts value i + 4: the validation targets are values 24..27, the test targets
    # 28.. and the fit windows see values 0..23 only (inputs and targets)
    assert np.array_equal(run.y_val[:, 0].numpy(), scaled[24:28])
    assert np.array_equal(data.y_test[:, 0].numpy(), scaled[28:])
    assert (
        np.array_equal(run.x_fit[-1, :, 0].numpy(), scaled[19:23]) and run.y_fit[-1] == scaled[23]
    )
    metrics = run.metrics()
    assert (metrics["fit_windows"], metrics["validation_windows"]) == (20, 4)
    assert metrics["train_windows"] == 24 and metrics["test_windows"] == 12


@pytest.mark.parametrize(
    "n_windows, fraction, horizon, expected",
    [
        (24, 0.2, 1, (20, 20)),
        (24, 0.0, 1, (24, 24)),
        (4, 0.2, 1, (3, 3)),  # at least one validation window
        (10, 0.2, 3, (6, 8)),
        (7, 0.5, 2, (3, 4)),
    ],
)
def test_validation_split_keeps_every_fit_target_out_of_the_validation_range(
    n_windows, fraction, horizon, expected
):
    fit_end, val_start = validation_split(n_windows, fraction, horizon)
    assert (fit_end, val_start) == expected
    # window j (with `window` inputs) has targets j + window .. j + window + horizon - 1
    last_fit_target = (fit_end - 1) + horizon - 1
    assert fraction == 0 or last_fit_target < val_start  # in units of "j + window"


def test_val_fraction_0_is_the_papers_protocol_exactly():
    """All training windows, the constant lr, nothing selected: the same losses and weights as
    the training loop of the paper's protocol driven by hand (what the code did before)."""
    run = train(new_run({"qlstm": QLSTM}, epochs=2, val_fraction=0.0), 2)
    data = make_windows(SERIES, 4, 0.67, "series")
    model = Forecaster(QLSTM)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.99, eps=1e-8)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(2):
        total = 0.0
        for batch in torch.randperm(len(data.x_train), generator=generator).split(10):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(data.x_train[batch]), data.y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(data.x_train))
    history = run.history["qlstm"]
    assert history["train_mse"] == losses and history["lr"] == [0.01, 0.01]
    weights = run.models["qlstm"].state_dict()
    assert all(torch.equal(weights[key], value) for key, value in model.state_dict().items())
    assert history["validation_mse"] == [] and run.best == {} and run.default_weights() == "last"
    assert len(run.x_fit) == 24 and len(run.x_val) == 0


# -- best weights and early stopping --------------------------------------------------------------
def test_the_best_on_validation_weights_are_kept_and_restored(tmp_path):
    run = new_run(**{**SWINGING, "epochs": 8})
    run.fit(tmp_path, progress=False)
    loaded = Run.load(tmp_path)
    validation = loaded.history["lstm"]["validation_mse"]
    best = loaded.best["lstm"]
    assert best.epoch == int(np.argmin(validation)) + 1 == 4 and best.epoch < loaded.epoch
    assert best.validation_mse == min(validation)
    assert best.test_mse == loaded.history["lstm"]["test_mse"][best.epoch - 1]
    last_test = loaded.test_mse("lstm")
    assert last_test == loaded.history["lstm"]["test_mse"][-1] != best.test_mse
    loaded.use_weights("best")
    assert loaded.validation_mse("lstm") == pytest.approx(best.validation_mse, rel=1e-12)
    assert loaded.test_mse("lstm") == pytest.approx(best.test_mse, rel=1e-12)
    loaded.use_weights("last")
    assert loaded.test_mse("lstm") == last_test
    metrics = json.loads((tmp_path / "metrics.json").read_text())["models"]["lstm"]
    assert metrics["best"] == {
        "epoch": 4,
        "validation_mse": best.validation_mse,
        "test_mse": best.test_mse,
    }
    assert metrics["final_test_mse"] == last_test and metrics["validation_mse"] == validation
    with (tmp_path / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["validation_mse"]) for row in rows[1:]] == validation


def test_a_checkpoint_saved_while_the_best_weights_are_in_use_keeps_the_last_ones(tmp_path):
    run = train(new_run(**SWINGING), 6)
    last = {key: value.clone() for key, value in run.models["lstm"].state_dict().items()}
    run.use_weights("best")
    run.save(tmp_path)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert all(torch.equal(saved["state_dicts"]["lstm"][key], last[key]) for key in last)
    with pytest.raises(ValueError, match=r"Run.fit: the models hold the best-on-validation"):
        run.fit(tmp_path / "more", progress=False)


def test_early_stopping_stops_at_the_right_epoch(tmp_path):
    full = train(new_run(**SWINGING), 20)
    validation = full.history["lstm"]["validation_mse"]
    expected = first_stop(validation, 3)
    assert expected == 7  # the minimum is at epoch 4
    run = new_run(**SWINGING, patience=3)
    run.fit(tmp_path, progress=False)
    assert run.stopped == {"lstm": expected} and run.epoch == expected and run.stopped_early
    assert run.history["lstm"]["validation_mse"] == validation[:expected]  # the same trajectory
    assert (
        json.loads((tmp_path / "metrics.json").read_text())["models"]["lstm"]["stopped_early_after"]
        == expected
    )
    resumed = Run.load(tmp_path)  # a run that stopped early trains no further
    resumed.fit(tmp_path, epochs=20, progress=False)
    assert resumed.epoch == expected and resumed.history == run.history


# -- lr schedules ------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_schedules_set_the_lr_as_torchs_own_scheduler(schedule):
    run = train(new_run(**SWINGING, lr_schedule=schedule), 20)
    history = run.history["lstm"]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=SWINGING["lr"])
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=20)
    else:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )
    expected = []
    for validation in history["validation_mse"]:
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(validation) if schedule == "plateau" else scheduler.step()
    assert history["lr"] == pytest.approx(expected, rel=1e-15)
    assert min(history["lr"]) < SWINGING["lr"]  # the schedule did lower it


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_an_interrupted_run_with_a_schedule_resumes_exactly(schedule, tmp_path):
    train_config = {"epochs": 5, "lr": 0.1, "batch_size": 4, "lr_schedule": schedule}
    once = new_run({"qlstm": QLSTM}, **train_config)
    once.fit(tmp_path / "once", progress=False)
    twice = new_run({"qlstm": QLSTM}, **train_config)
    twice.fit(tmp_path / "twice", epochs=2, progress=False)  # "interrupted" after epoch 2
    resumed = Run.load(tmp_path / "twice")
    resumed.fit(tmp_path / "twice", epochs=5, progress=False)
    assert resumed.history == once.history and resumed.epoch == 5
    a = torch.load(tmp_path / "once" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "twice" / CHECKPOINT, weights_only=True)
    assert (
        a["schedulers"] == b["schedulers"]
        and a["best"]["qlstm"]["epoch"] == b["best"]["qlstm"]["epoch"]
    )
    for key in ("state_dicts", "best"):
        weights_a = a[key]["qlstm"] if key == "state_dicts" else a[key]["qlstm"]["state_dict"]
        weights_b = b[key]["qlstm"] if key == "state_dicts" else b[key]["qlstm"]["state_dict"]
        assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)


def test_a_checkpoint_from_before_validation_loads_with_the_papers_protocol(tmp_path):
    run = train(new_run(val_fraction=0.0, epochs=2), 2)
    run.save(tmp_path)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    for key in ("val_fraction", "lr_schedule", "patience"):
        del state["train"][key]
    for key in ("best", "schedulers", "stopped"):
        del state[key]
    for key in ("validation_mse", "lr"):
        del state["history"]["lstm"][key]
    torch.save(state, tmp_path / CHECKPOINT)
    old = Run.load(tmp_path)
    assert (old.train_config.val_fraction, old.train_config.lr_schedule) == (0.0, "none")
    assert old.train_config.patience is None and old.default_weights() == "last"
    assert old.history["lstm"]["lr"] == [0.01, 0.01] and len(old.x_fit) == 24
    old.fit(tmp_path, epochs=3, progress=False)  # trains on as before
    assert old.epoch == 3


def test_a_sweep_point_reports_the_best_weights_beside_the_last(tmp_path):
    run = new_run({"qlstm": QLSTM}, **{**SWINGING, "epochs": 6})
    run.fit(tmp_path / "run", progress=False)
    point = Point(
        id="p",
        training="t",
        backend="statevector",
        noise_scale=None,
        shots=None,
        mitigate=None,
        seed=None,
        train_backend="statevector",
        run=str(tmp_path / "run"),
        name="statevector",
    )
    metrics = point_task(str(tmp_path / "sweep"), point, str(tmp_path / "run"), 1)
    best = Run.load(tmp_path / "run").best["qlstm"]
    assert metrics["best_epoch"] == best.epoch
    assert metrics["best_test_mse"] == pytest.approx(best.test_mse, rel=1e-12)
    assert metrics["test_mse"] == pytest.approx(run.history["qlstm"]["test_mse"][-1], rel=1e-12)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"val_fraction": 0, "lr_schedule": "plateau"},
            ValueError,
            r"TrainConfig: lr_schedule plateau needs a validation split \(val_fraction > 0\), "
            r"got val_fraction 0",
        ),
        (
            {"val_fraction": 0, "patience": 3},
            ValueError,
            r"TrainConfig: patience 3 needs a validation split",
        ),
        (
            {"val_fraction": 1.0},
            ValueError,
            r"TrainConfig: val_fraction must be in the range \[0, 1\), got 1.0",
        ),
        (
            {"val_fraction": -0.1},
            ValueError,
            r"val_fraction must be in the range \[0, 1\), got -0.1",
        ),
        (
            {"val_fraction": float("nan")},
            ValueError,
            r"val_fraction must be in the range \[0, 1\), got nan",
        ),
        (
            {"val_fraction": "0.2"},
            TypeError,
            r"TrainConfig: val_fraction must be a number, got str '0.2'",
        ),
        (
            {"lr_schedule": "step"},
            ValueError,
            r"lr_schedule must be one of 'none', 'cosine', 'plateau', got 'step'",
        ),
        ({"patience": 0}, ValueError, r"TrainConfig: patience must be >= 1, got 0"),
        ({"patience": 2.5}, TypeError, r"TrainConfig: patience must be an int, got float 2.5"),
    ],
)
def test_train_config_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(
    "action, match",
    [
        (
            "too few",
            r"validation_split: val_fraction 0.1 of 1 training windows leaves 0 training windows "
            r"beside 1 validation window\(s\); at least 1 must train",
        ),
        (
            "best without validation",
            r"Run.use_weights: 'best' needs best-on-validation weights; this run has no "
            r"validation split \(val_fraction 0\)",
        ),
        ("best before an epoch", r"this run has trained no epoch"),
        ("unknown weights", r"Run.use_weights: which must be one of 'best', 'last', got 'worst'"),
        ("cosine past its end", r"Run.fit: the cosine lr schedule of this run spans 2 epochs"),
    ],
)
def test_run_errors(action, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        if action == "too few":
            Run.create(DATA, generate("sine", 6), {"lstm": LSTM}, TrainConfig(val_fraction=0.1))
        elif action == "best without validation":
            new_run(val_fraction=0.0).use_weights("best")
        elif action == "best before an epoch":
            new_run().use_weights("best")
        elif action == "unknown weights":
            new_run().use_weights("worst")
        else:
            new_run(epochs=2, lr_schedule="cosine").fit(tmp_path, epochs=3, progress=False)


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    """A 1-epoch run with the paper's protocol (no validation) and one with a cosine schedule."""
    folder = tmp_path_factory.mktemp("selection")
    argv = ["train", *TINY, "--epochs", "1"]
    assert main([*argv, "--val-fraction", "0", "--run-dir", str(folder / "paper")]) == 0
    assert main([*argv, "--lr-schedule", "cosine", "--run-dir", str(folder / "cosine")]) == 0
    return folder


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["train", "--val-fraction", "0", "--lr-schedule", "plateau"],
            r"--lr-schedule plateau needs a validation split \(--val-fraction > 0\), got "
            r"--val-fraction 0.0$",
        ),
        (
            ["train", "--val-fraction", "0", "--lr-schedule", "plateau", "--patience", "2"],
            r"--lr-schedule plateau and --patience 2 need a validation split",
        ),
        (["train", "--patience", "0"], r"--patience must be >= 1, got 0$"),
        (
            ["train", "--val-fraction", "1"],
            r"--val-fraction must be in the range \[0, 1\), got 1.0$",
        ),
        (
            ["evaluate", "{dir}/paper", "--weights", "best", "--out", "{dir}/e"],
            r"--weights best: .*paper has no best-on-validation weights \(trained with "
            r"--val-fraction 0, or no epoch trained yet\); use --weights last$",
        ),
        (
            ["predict", "{dir}/paper", "--weights", "best", "--out", "{dir}/p.csv"],
            r"--weights best: .*paper has no best-on-validation weights",
        ),
        (
            ["train", "--resume", "{dir}/cosine", "--epochs", "3"],
            r"--epochs 3: the cosine lr schedule of this run spans 1 epochs",
        ),
        (
            ["train", "--resume", "{dir}/cosine", "--val-fraction", "0.3"],
            r"only --epochs may be given, got --val-fraction$",
        ),
    ],
)
def test_command_line_errors(argv, match, paper_run, tmp_path, capsys):
    argv = [arg.replace("{dir}", str(paper_run)) for arg in argv]
    if argv[0] == "train" and "--resume" not in argv:
        argv += [*TINY, "--run-dir", str(tmp_path / "run")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("qlstm-qiskit: error: ") and err.count("\n") == 1, err
    assert re.search(match, err.strip()), err
    assert not (tmp_path / "run").exists()


def test_evaluate_and_predict_use_the_best_weights_by_default(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", *TINY, "--lr", "0.3", "--batch-size", "2", "--epochs", "6"]
    assert main([*argv, "--run-dir", str(run_dir)]) == 0
    run = Run.load(run_dir)
    best = run.best["qlstm"]
    assert main(["evaluate", str(run_dir), "--out", str(tmp_path / "best")]) == 0
    assert (
        main(["evaluate", str(run_dir), "--weights", "last", "--out", str(tmp_path / "last")]) == 0
    )
    results = {
        which: json.loads((tmp_path / which / "evaluate.json").read_text())
        for which in ("best", "last")
    }
    assert results["best"]["weights"] == "best" and results["best"]["weights_epoch"] == {
        "qlstm": best.epoch
    }
    assert results["best"]["results"][0]["test_mse"] == pytest.approx(best.test_mse, rel=1e-12)
    assert results["last"]["results"][0]["test_mse"] == run.history["qlstm"]["test_mse"][-1]
    out = capsys.readouterr().out
    assert f"qlstm: best on validation: epoch {best.epoch}, validation MSE" in out
    assert main(["predict", str(run_dir), "--out", str(tmp_path / "p.csv")]) == 0
    assert "(best weights)" in capsys.readouterr().out
