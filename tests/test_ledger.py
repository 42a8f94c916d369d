"""Jobs on (fake) devices: one job per time step for a dataset, splitting over the per-job limit,
cost previews, the job ledger and resuming a killed run without resubmitting finished jobs."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from tiny_run import TINY

from qlstm_qiskit import QLSTM, CircuitSpec, get_backend
from qlstm_qiskit.backends.cost import QUICK_SECONDS_PER_EXECUTION, SECONDS_PER_JOB
from qlstm_qiskit.backends.ledger import Ledger
from qlstm_qiskit.backends.runtime_estimator import estimator_class, installed_primitive
from qlstm_qiskit.circuits import gate_circuit
from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting.inference import predict_dataset, preview_dataset, preview_work

pytest.importorskip("qiskit_ibm_runtime")
from runtime_standin import StandInService  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T = 3  # time steps (the window)


def subprocess_env(**extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ledger") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--run-dir", str(run_dir)]) == 0
    return run_dir


def model_on(backend, seed=0):
    return QLSTM(
        1, 2, n_qubits=2, seed=seed, dtype=torch.float64, batch_first=True, backend=backend
    )


def dataset(n=12):
    return torch.linspace(-1, 1, n * T, dtype=torch.float64).reshape(n, T, 1)


def test_a_dataset_is_one_job_per_time_step():
    model = model_on(get_backend("fake_manila", shots=100, seed=1))
    output = predict_dataset(model, dataset())
    assert output.shape == (12, T, 2) and model.backend.estimator.submitted == T
    predict_dataset(model, dataset(), batch_size=5)  # three batches: three jobs a step
    assert model.backend.estimator.submitted == T + 3 * T


def test_a_step_is_split_only_over_the_per_job_limit():
    exact = predict_dataset(model_on("statevector"), dataset())
    backend = get_backend("fake_manila", shots=100, seed=1, max_executions=1000)  # 10 rows a job
    model = model_on(backend)
    cost = preview_dataset(model, dataset())
    rows = 4 * 12  # gates x sequences, per step
    assert cost.jobs == T * math.ceil(rows / 10) and max(cost.per_job) == 10
    output = predict_dataset(model, dataset())
    assert backend.estimator.submitted == cost.jobs
    assert (output - exact).abs().max() < 0.3  # noisy, 100 shots; the split changes no shape


def test_dry_run_counts_jobs_circuits_shots_and_submits_nothing(tmp_path):
    backend = get_backend("fake_manila", shots=100, ledger=str(tmp_path / "ledger"))
    cost = preview_dataset(model_on(backend), dataset())
    assert (cost.jobs, cost.circuits, cost.shots) == (T, T * 4 * 12, 100)
    assert cost.requested_executions == T * 4 * 12 * 100
    # resilience_level 1 (the runtime's default): 100 shots twirled as 2 x 64 = 128, plus
    # 32 x 64 readout-calibration executions a job: 48 x 128 + 2048 = 8192 a job
    assert cost.executions == T * (48 * 128 + 2048)
    # this short circuit: IBM's quick form is the estimate, 2 s + 0.35 ms an execution a job
    assert cost.qpu_seconds == pytest.approx(
        T * SECONDS_PER_JOB + cost.executions * QUICK_SECONDS_PER_EXECUTION
    )
    report = cost.report()
    assert "jobs:      3" in report and "QPU time:" in report and "nothing submitted" in report
    assert backend.estimator.submitted == 0 and not (tmp_path / "ledger/ledger.jsonl").exists()


def test_the_ledger_records_before_waiting_and_reads_finished_jobs_back(tmp_path):
    options = {"shots": 200, "seed": 2, "ledger": str(tmp_path / "ledger"), "run_name": "r1"}
    first = model_on(get_backend("fake_manila", **options))
    values = predict_dataset(first, dataset())
    again = model_on(get_backend("fake_manila", **options))
    assert torch.equal(predict_dataset(again, dataset()), values)
    assert again.backend.estimator.submitted == 0 and again.backend.estimator.reused == T
    ledger = Ledger(tmp_path / "ledger")
    assert ledger.submitted == T
    lines = [
        json.loads(line) for line in (tmp_path / "ledger/ledger.jsonl").read_text().splitlines()
    ]
    for key in {line["key"] for line in lines}:
        states = [line for line in lines if line["key"] == key]
        assert [s["status"] for s in states] == ["submitted", "done"]  # id written first
        submitted, done = states
        assert submitted["job_id"] and submitted["tags"] == ["r1"] and submitted["local"]
        assert submitted["computes"]["pubs"][0]["rows"] == 4 * 12 and submitted["time"]
        assert (tmp_path / "ledger" / done["result"]).is_file()


def _one_qubit_pub():
    theta = Parameter("t")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    return (circuit, [SparsePauliOp("Z")], [[0.3], [1.1]])


def _ibm_values(service, ledger):
    """One estimator call of a 2-qubit gate circuit on ``ibm_manila`` of the stand-in service
    (the real runtime Estimator in local mode) with a ledger; returns (values, backend)."""
    backend = get_backend(
        "ibm_manila", service=service, shots=200, resilience_level=0, ledger=str(ledger)
    )
    spec = CircuitSpec(n_qubits=2)
    circuit = backend.compile(gate_circuit(spec))
    weights = torch.full((4, spec.n_weights), 0.4, dtype=torch.float64)
    inputs = torch.full((4, 2, spec.n_inputs), 0.9, dtype=torch.float64)
    with torch.no_grad():
        return circuit.bind(weights).expectation(inputs).numpy(), backend


def _forget_results(ledger: Path) -> None:
    """The ledger as a crash right after submission leaves it: no ``done`` lines."""
    path = ledger / "ledger.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines if e["status"] != "done"))


def test_a_pending_job_is_reattached_by_id_or_resubmitted_locally(tmp_path, monkeypatch):
    service = StandInService()
    service.record_submissions(monkeypatch, estimator_class(installed_primitive()))
    first, backend = _ibm_values(service, tmp_path / "ibm")
    assert backend.estimator.submitted == 1
    (job_id,) = [e["job_id"] for e in Ledger(tmp_path / "ibm").lines if e["status"] == "submitted"]
    _forget_results(tmp_path / "ibm")
    again, backend = _ibm_values(service, tmp_path / "ibm")
    assert service.asked == [job_id]
    assert (backend.estimator.reattached, backend.estimator.submitted) == (1, 0)
    np.testing.assert_array_equal(again, first)  # the job's own result, read back
    # local jobs cannot be retrieved by id: submitted again
    model = QLSTM(1, 2, n_qubits=2, seed=0, dtype=torch.float64)
    model.set_backend("fake_manila", shots=100, seed=1, ledger=str(tmp_path / "fake"))
    x = torch.zeros(1, 1, 1, dtype=torch.float64)
    with torch.no_grad():
        model(x)
    _forget_results(tmp_path / "fake")
    model.set_backend("fake_manila", shots=100, seed=1, ledger=str(tmp_path / "fake"))
    with torch.no_grad():
        model(x)
    assert (model.backend.estimator.reattached, model.backend.estimator.submitted) == (0, 1)


def test_a_corrupt_ledger_is_an_error_but_a_cut_last_line_is_ignored(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"key": "a", "status": "submitted", "job_id": "1"}\n{"key": "b", "sta')
    assert Ledger(tmp_path).submitted == 1
    path.write_text('nonsense\n{"key": "a", "status": "submitted", "job_id": "1"}\n')
    with pytest.raises(ValueError, match=r"job ledger .*ledger.jsonl: line 1 is not JSON"):
        Ledger(tmp_path)


def predict_argv(checkpoint, ledger, out):
    return [
        "predict",
        str(checkpoint),
        "--backend",
        "fake_manila:seed=4",
        "--shots",
        "200",
        "--ledger",
        str(ledger),
        "--out",
        str(out),
    ]


#: the command line in a process that dies (exit status 75, no clean-up) right after the first
#: job's result is recorded in the ledger: a crash between two jobs
DIES_AFTER_FIRST_RESULT = """
import os, sys
from qlstm_qiskit.backends.ledger import Ledger
from qlstm_qiskit.backends.runtime_estimator import estimator_class, installed_primitive
from qlstm_qiskit.circuits import gate_circuit
from qlstm_qiskit.cli import main
record = Ledger.record
def record_then_die(self, entry):
    record(self, entry)
    if entry["status"] == "done":
        os._exit(75)
Ledger.record = record_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_predict_resumes_and_submits_T_jobs_in_all(checkpoint, tmp_path, capsys):
    assert main(predict_argv(checkpoint, tmp_path / "whole", tmp_path / "whole.csv")) == 0
    argv = predict_argv(checkpoint, tmp_path / "ledger", tmp_path / "resumed.csv")
    killed = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_FIRST_RESULT, *argv],
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert killed.returncode == 75, killed.stderr  # exited right after the first result
    assert Ledger(tmp_path / "ledger").submitted == 1 and not (tmp_path / "resumed.csv").exists()
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fake_manila jobs: 2 submitted, 1 read back from the ledger" in out
    assert f"{T} submitted in all" in out and Ledger(tmp_path / "ledger").submitted == T
    assert (tmp_path / "resumed.csv").read_text() == (tmp_path / "whole.csv").read_text()


def test_cli_dry_run_prints_the_cost_and_writes_nothing(checkpoint, tmp_path, capsys):
    code = main(
        [
            "predict",
            str(checkpoint),
            "--backend",
            "fake_manila",
            "--dry-run",
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "cost preview for fake_manila" in out and "jobs:      3" in out
    for line in ("overhead:", "rep_delay: 250 us", "circuit:", "shots run:", "model:", "quick:"):
        assert line in out  # the breakdown
    assert "billing:   execution=job" in out
    assert list(tmp_path.iterdir()) == []
    code = main(
        [
            "train",
            *TINY,
            "--epochs",
            "2",
            "--backend",
            "fake_manila",
            "--dry-run",
            "--run-dir",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "cost preview for fake_manila" in out and not (tmp_path / "run").exists()


def test_max_qpu_seconds_refuses_a_run_over_the_budget(checkpoint, tmp_path, capsys):
    out = tmp_path / "p.csv"
    command = ["predict", str(checkpoint), "--backend", "fake_manila", "--out", str(out)]
    code = main([*command, "--max-qpu-seconds", "5"])
    err = capsys.readouterr().err
    # 3 jobs: at least 3 x 2 s of per-job overhead, more than 5 s
    assert code == 1 and "exceeds --max-qpu-seconds 5; nothing was submitted" in err
    assert "estimated QPU time" in err and list(tmp_path.iterdir()) == []  # no ledger, no csv
    code = main(
        ["train", *TINY, "--epochs", "1", "--backend", "fake_manila", "--max-qpu-seconds", "1"]
        + ["--run-dir", str(tmp_path / "run")]
    )
    assert code == 1 and "nothing was submitted" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_max_qpu_seconds_allows_a_run_under_the_budget(checkpoint, tmp_path, capsys):
    out = tmp_path / "p.csv"
    command = ["predict", str(checkpoint), "--backend", "fake_manila:seed=1", "--shots", "100"]
    code = main([*command, "--out", str(out), "--max-qpu-seconds", "1000"])
    captured = capsys.readouterr()
    assert code == 0 and out.is_file() and "fake_manila jobs: 3 submitted" in captured.out
    assert "cost preview" not in captured.out  # a local device: no question, no preview shown


def test_max_qpu_seconds_must_be_positive_and_needs_a_device(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "p.csv")
    code = main(
        [
            "predict",
            str(checkpoint),
            "--backend",
            "fake_manila",
            "--out",
            out,
            "--max-qpu-seconds",
            "0",
        ]
    )
    assert code == 1 and "--max-qpu-seconds: the budget must be > 0 seconds, got 0.0" in (
        capsys.readouterr().err
    )
    code = main(["predict", str(checkpoint), "--out", out, "--max-qpu-seconds", "10"])
    assert code == 1 and "--max-qpu-seconds apply only to device backends" in (
        capsys.readouterr().err
    )


def test_device_flags_need_a_device_backend(checkpoint, tmp_path, capsys):
    code = main(["predict", str(checkpoint), "--shots", "10", "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "--shots apply only to device backends" in err


def test_the_token_never_reaches_a_file(tmp_path):
    token = "qlstm-fake-token-5b1e0c2d9a"
    env = subprocess_env(QISKIT_IBM_TOKEN=token, QISKIT_IBM_INSTANCE="fake-instance")
    commands = [
        [
            "train",
            *TINY,
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--run-dir",
            "run",
            "--backend",
            "fake_manila:seed=1",
            "--shots",
            "100",
            "--execution",
            "batch",
        ],
        ["predict", "run", "--out", "p.csv", "--run-name", "tokencheck"],
    ]
    for number, argv in enumerate(commands):
        with open(tmp_path / f"log{number}.txt", "w") as log:
            result = subprocess.run(
                [sys.executable, "-m", "qlstm_qiskit", *argv],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        assert result.returncode == 0, (tmp_path / f"log{number}.txt").read_text()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {
        "checkpoint.pt",
        "metrics.json",
        "loss.png",
        "prediction.png",
        "ledger.jsonl",
        "p.csv",
        "log0.txt",
    } <= names
    assert any(p.suffix == ".npz" for p in written)
    assert all(token.encode() not in p.read_bytes() for p in written)


def test_real_devices_ask_before_submitting(monkeypatch, capsys):
    import argparse
    import io

    from qlstm_qiskit.cli.device_flags import NotConfirmed, confirm_or_preview

    model = model_on(get_backend("ibm_manila", service=StandInService(), shots=100))
    assert model.backend.real
    args = argparse.Namespace(dry_run=False, yes=False)

    def cost():
        return preview_work(model, lambda: predict_dataset(model, dataset()))

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    with pytest.raises(NotConfirmed, match="not confirmed: nothing was submitted"):
        confirm_or_preview(args, [model], cost)
    out = capsys.readouterr().out
    assert "cost preview for ibm_manila" in out and out.rstrip().endswith("Proceed? [y/N]")
    assert "no usage limit on this instance" in out  # the stand-in's plan sets none
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert confirm_or_preview(args, [model], cost) is True
    args.yes = True
    capsys.readouterr()
    assert confirm_or_preview(args, [model], cost) is True and capsys.readouterr().out == ""
    assert model.backend.estimator.submitted == 0


def test_a_failed_reattached_job_or_a_missing_result_is_computed_again(tmp_path, monkeypatch):
    service = StandInService()
    service.record_submissions(monkeypatch, estimator_class(installed_primitive()))
    first, backend = _ibm_values(service, tmp_path)
    (entry,) = [e for e in Ledger(tmp_path).lines if e["status"] == "submitted"]
    _forget_results(tmp_path)
    service.stored[entry["job_id"]]._status = "ERROR"  # the job failed on the device
    service.stored[entry["job_id"]]._job = None
    again, backend = _ibm_values(service, tmp_path)
    assert (backend.estimator.reattached, backend.estimator.submitted) == (1, 1)
    statuses = [e["status"] for e in Ledger(tmp_path).lines if e["key"] == entry["key"]]
    assert statuses == ["submitted", "failed", "submitted", "done"]
    assert np.abs(again - first).max() < 0.5  # sampled again: the same values within shots
    result_file = tmp_path / Ledger(tmp_path).finished(entry["key"])["result"]
    content = result_file.read_bytes()
    result_file.write_bytes(content[:20])  # changed after it was written: never used as it is
    with pytest.raises(ValueError, match=r"does not match the SHA-256 its done line records"):
        _ibm_values(service, tmp_path)
    result_file.unlink()  # moved away, as the message says: that job is computed again
    third, backend = _ibm_values(service, tmp_path)
    assert (backend.estimator.reused, backend.estimator.submitted) == (0, 1)
    assert np.isfinite(third).all()


def test_routing_is_the_same_in_every_process(tmp_path):
    """A circuit that needs routing on a large device gets the same ISA circuit (and so the same
    ledger keys) in every process: the transpiler is seeded."""
    code = (
        "from qiskit_ibm_runtime.fake_provider import FakeBrisbane\n"
        "from qlstm_qiskit.circuits import gate_circuit\n"
        "from qlstm_qiskit.circuits import CircuitSpec\n"
        "from qlstm_qiskit.backends.transpile import cached_pass_manager\n"
        "isa = cached_pass_manager(FakeBrisbane(), 1).run("
        "gate_circuit(CircuitSpec(n_qubits=4)).circuit)\n"
        "print(isa.layout.final_index_layout(), isa.count_ops())\n"
    )
    layouts = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env=subprocess_env(PYTHONHASHSEED=str(seed)),
            cwd=tmp_path,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(layouts) == 1, layouts
