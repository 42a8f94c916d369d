"""Smoke tests of the scripts under examples/ and benchmarks/ (not packages: loaded by path); the
benchmark ones are marked bench (python -m pytest -m bench)."""

import importlib.util
import math
import subprocess
import sys
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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    """``path`` is a non-empty PNG file."""
    data = path.read_bytes() if path.is_file() else b""
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, path


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


@pytest.mark.bench
def test_bench_step_smoke(capsys):
    bench_step = load("benchmarks/bench_step.py")
    result = bench_step.main(["--steps", "2", "--warmup", "1"])
    for key in ("qlstm_step_ms", "qlstm_forward_ms", "lstm_step_ms", "lstm_forward_ms", "ratio"):
        assert result[key] > 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ratio (QLSTM step / nn.LSTM step)")


@pytest.mark.bench
def test_bench_primitives_smoke(capsys):
    bench = load("benchmarks/bench_primitives.py")
    result = bench.main(
        [
            "--batch",
            "2",
            "--seq",
            "2",
            "--hidden",
            "3",
            "--n-qubits",
            "2",
            "--steps",
            "1",
            "--warmup",
            "0",
        ]
    )
    assert result["batched_calls"] == 2  # one estimator call per time step
    assert result["stock_calls"] > result["batched_calls"]
    assert result["stock_pubs"] > 100 * result["batched_pubs"]
    assert result["batched_step_s"] > 0 and result["stock_step_s"] > 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ratio (stock step / batched step)")


@pytest.mark.bench
def test_bench_scale_smoke(capsys):
    bench_scale = load("benchmarks/bench_scale.py")
    result = bench_scale.main(
        ["--train-qubits", "5", "13", "--throughput-qubits", "13", "--rows", "2", "--hidden", "3"]
    )
    from qlstm_qiskit import QLSTM

    # the method the cost model chooses for one row of one step (batch 1, sequence 1)
    chosen = [QLSTM(1, 3, n_qubits=n).cell_l0.executor.choose(1, 1) for n in (5, 13)]
    # the product kernel at any qubit count when only a permutation follows its layer
    assert [row["method"] for row in result["train"]] == chosen == ["product", "product"]
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
    # Z-strings of the permuted product state: the product kernel holds no 2**20 array
    assert model.cell_l0.executor.choose(32, 8) == "product"
    assert QLSTM(1, 17, n_qubits=22, seed=0).cell_l0.executor.choose(32, 8) == "adjoint"
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(2, 1, 1)
    with torch.no_grad():  # the same values as the adjoint method's
        reference = QLSTM(1, 17, n_qubits=20, seed=0).set_backend("statevector", method="adjoint")
        reference.load_state_dict(model.state_dict())
        torch.testing.assert_close(model(x)[0], reference(x)[0], rtol=0, atol=1e-5)
    output, _ = model(x)  # two steps: weight_hh sees a non-zero h
    output.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


@pytest.mark.bench
def test_bench_peers_smoke(quick_report):
    """The speed section's quick run (every peer: --peers defaults to all of them), from the
    session's quick report (the `quick_report` fixture of conftest.py)."""
    bench = load("benchmarks/bench_peers.py")
    argv = ["--batch", "2", "--seq", "2", "--hidden", "3", "--steps", "1", "--warmup", "0"]
    assert bench.QUICK_ARGS == argv and set(bench.parse_args(argv).peers) == set(bench.PEERS)
    assert quick_report.record("speed")["command"] == " ".join(
        ["python", "benchmarks/bench_peers.py", *argv]
    )
    peers = ["qlstm", "lstm", "aer", "stock"]
    if bench.pennylane_available():
        peers += ["pl-default", "pl-lightning"]
    result = quick_report.results("speed")
    assert set(result["results"]) == set(peers)
    for peer in peers:
        assert result["results"][peer]["step_ms"] > 0 and result["results"][peer]["ratio"] > 0
    assert result["results"]["qlstm"]["ratio"] == 1
    printed = quick_report.printed("speed")  # what main(QUICK_ARGS) printed
    assert printed[-1].startswith("ratio: peer step / qlstm step")


@pytest.mark.bench
def test_bench_peers_skips_pennylane_peers_when_missing(monkeypatch, capsys):
    bench = load("benchmarks/bench_peers.py")
    monkeypatch.setattr(bench, "pennylane_available", lambda: False)
    result = bench.main(
        [
            "--batch",
            "2",
            "--seq",
            "2",
            "--hidden",
            "3",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--peers",
            "qlstm",
            "pl-default",
        ]
    )
    assert set(result["results"]) == {"qlstm"}
    assert "PennyLane not installed" in result["skipped"]["pl-default"]
    assert "pl-default" in capsys.readouterr().out


@pytest.mark.parametrize("peer", ["pl-default", "pl-lightning"])
def test_pennylane_peer_runs_the_same_circuit_as_ours(peer):
    """The PennyLane QLSTM with our weights copied in gives our outputs: same circuit."""
    pytest.importorskip(
        "pennylane", reason="PennyLane peers need the bench extra: pip install -e '.[bench]'"
    )
    from qlstm_qiskit import QLSTM

    bench = load("benchmarks/bench_peers.py")
    device_name, diff_method = bench.PL_DEVICES[peer]
    torch.manual_seed(1)
    ours = QLSTM(1, 3, n_qubits=4, seed=3, dtype=torch.float64)
    with torch.no_grad():
        ours.cell_l0.weight_q.copy_(torch.randn_like(ours.cell_l0.weight_q))  # not near 0
    theirs = (
        bench.PennyLaneQLSTM(1, 3, 4, device_name=device_name, diff_method=diff_method)
        .double()
        .copy_from(ours)
    )
    x = torch.randn(3, 2, 1, dtype=torch.float64)
    expected, (h, c) = ours(x)
    output, (h2, c2) = theirs(x)
    assert output.shape == expected.shape
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(c2, c[0] if c.dim() == 3 else c, atol=1e-5, rtol=0)


def test_the_library_never_imports_pennylane():
    import subprocess
    import sys

    code = (
        "import sys, torch, qlstm_qiskit; import qlstm_qiskit.cli; "
        "qlstm_qiskit.QLSTM(1, 2, n_qubits=2)(torch.zeros(2, 1, 1)); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pennylane'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.bench
def test_bench_peers_times_pennylane_in_a_child_process_only():
    """The speed benchmark never imports PennyLane in its own process (a PennyLane step slows the
    other peers' later steps there); the PennyLane peer's time comes from a child."""
    pytest.importorskip("pennylane", reason="PennyLane peers need the bench extra")
    script = (
        "import sys, runpy; sys.argv = ['bench_peers.py']; "
        "bench = runpy.run_path('benchmarks/bench_peers.py', run_name='bench_peers'); "
        "result = bench['main'](['--batch', '2', '--seq', '2', '--hidden', '3', '--steps', '1', "
        "'--warmup', '0', '--peers', 'qlstm', 'pl-default']); "
        "print(sorted(result['results']), 'pennylane' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "['pl-default', 'qlstm'] False"
