"""Smoke tests of the scripts under examples/ and benchmarks/ (not packages: loaded by path)."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def load(relative_path: str):
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dataset", ["sine", "damped_shm"])
def test_forecast_example_runs(dataset, capsys):
    forecast = load("examples/forecast.py")
    result = forecast.main(["--dataset", dataset, "--epochs", "2", "--hidden-size", "4"])
    assert {"initial_test_mse", "final_test_mse", "train_losses", "epochs"} <= set(result)
    assert result["epochs"] == 2
    assert len(result["train_losses"]) == 2
    assert all(math.isfinite(loss) and loss >= 0 for loss in result["train_losses"])
    assert math.isfinite(result["initial_test_mse"])
    assert math.isfinite(result["final_test_mse"])
    assert result["final_test_mse"] < result["initial_test_mse"]
    assert "done:" in capsys.readouterr().out


def test_bench_step_smoke(capsys):
    bench_step = load("benchmarks/bench_step.py")
    result = bench_step.main(["--steps", "2", "--warmup", "1"])
    for key in ("qlstm_step_ms", "qlstm_forward_ms", "lstm_step_ms", "lstm_forward_ms", "ratio"):
        assert result[key] > 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ratio (QLSTM step / nn.LSTM step)")


def test_bench_primitives_smoke(capsys):
    bench = load("benchmarks/bench_primitives.py")
    result = bench.main(["--batch", "2", "--seq", "2", "--hidden", "3", "--n-qubits", "2",
                         "--steps", "1", "--warmup", "0"])
    assert result["batched_calls"] == 2  # one estimator call per time step
    assert result["stock_calls"] > result["batched_calls"]
    assert result["stock_pubs"] > 100 * result["batched_pubs"]
    assert result["batched_step_s"] > 0 and result["stock_step_s"] > 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ratio (stock step / batched step)")


def test_bench_scale_smoke(capsys):
    bench_scale = load("benchmarks/bench_scale.py")
    result = bench_scale.main(["--train-qubits", "5", "13", "--throughput-qubits", "13",
                               "--rows", "2", "--hidden", "3"])
    assert [row["method"] for row in result["train"]] == ["dense", "adjoint"]
    assert all(row["step_s"] > 0 and row["peak_gib"] > 0 for row in result["train"])
    (rate,) = result["throughput"]
    assert rate["max_difference"] < 1e-5 and rate["torch_per_s"] > 0 and rate["aer_per_s"] > 0
    assert "throughput ratio (torch / Aer), lowest:" in capsys.readouterr().out.splitlines()[-1]


def test_forecast_example_default_budget_lowers_the_test_loss_five_times(capsys):
    forecast = load("examples/forecast.py")
    result = forecast.main([])
    assert result["final_test_mse"] * 5 <= result["initial_test_mse"]


@pytest.mark.slow
def test_a_20_qubit_training_step_on_statevector(capsys):
    from qlstm_qiskit import QLSTM

    model = QLSTM(1, 17, n_qubits=20, seed=0)
    assert model.cell_l0._executor.method == "adjoint"
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    output, _ = model(torch.randn(2, 1, 1))  # two steps: weight_hh sees a non-zero h
    output.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
