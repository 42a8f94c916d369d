"""Job ledgers under concurrency and damage (issue 15): one writer at a time (a second process is
refused, never a job submitted twice), a torn last line repaired, writability checked before any
submission, results verified by their SHA-256 and confined to the ledger folder, malformed lines
named, and shots a device cannot take refused."""

import gc
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qlstm_qiskit import CircuitSpec, get_backend
from qlstm_qiskit.backends.ledger import Ledger
from qlstm_qiskit.circuits import gate_circuit
from qlstm_qiskit.cli import main

pytest.importorskip("qiskit_ibm_runtime")

REPO = Path(__file__).resolve().parents[1]
SPEC = CircuitSpec(n_qubits=2)
#: a process that runs one job on a ledger, says so, and keeps the backend (and its ledger) open
#: until its standard input closes
HOLDER = """
import sys, torch
from qlstm_qiskit import QLSTM
model = QLSTM(1, 2, n_qubits=2, seed=0, dtype=torch.float64)
model.set_backend("fake_manila", shots=100, seed=1, ledger=sys.argv[1])
with torch.no_grad():
    model(torch.zeros(1, 1, 1, dtype=torch.float64))
print("ready", flush=True)
sys.stdin.read()
"""


def values(backend, shift=0.0):
    """One estimator call (one job) of the 2-qubit gate circuit on ``backend``."""
    weights = torch.full((4, SPEC.n_weights), 0.4, dtype=torch.float64)
    inputs = torch.full((4, 2, SPEC.n_inputs), 0.9 + shift, dtype=torch.float64)
    with torch.no_grad():
        return backend.compile(gate_circuit(SPEC)).bind(weights).expectation(inputs).numpy()


def fake(ledger, **options):
    return get_backend("fake_manila", shots=200, seed=3, ledger=str(ledger), **options)


def test_a_second_process_on_a_held_ledger_is_refused_and_submits_nothing(tmp_path, capsys):
    ledger = tmp_path / "ledger"
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ledger)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        lines = (ledger / "ledger.jsonl").read_text()
        backend = fake(ledger)
        with pytest.raises(BlockingIOError, match=rf"job ledger .* in use by process {holder.pid}"):
            values(backend)
        assert backend.estimator.submitted == 0
        assert (ledger / "ledger.jsonl").read_text() == lines  # nothing written meanwhile
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    values(fake(ledger))  # let go when its process ended
    assert Ledger(ledger).submitted == 2


def test_a_backend_lets_go_of_its_ledger_when_closed_or_collected(tmp_path):
    code = (
        "import sys; from qlstm_qiskit.locks import hold\nwith hold(sys.argv[1], timeout=0): pass"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}

    def free() -> bool:  # can another process hold the ledger now?
        probe = [sys.executable, "-c", code, str(tmp_path)]
        return subprocess.run(probe, env=env, capture_output=True).returncode == 0

    backend = fake(tmp_path)
    values(backend)
    assert not free()
    backend.close()
    assert free()
    values(fake(tmp_path), shift=0.3)  # a backend nobody closes, dropped at once
    gc.collect()
    assert free()


def test_one_process_shares_its_own_ledger_between_backends(tmp_path):
    first = values(fake(tmp_path))
    again = fake(tmp_path)  # the same process: the lock is re-entrant
    np.testing.assert_array_equal(values(again), first)
    assert (again.estimator.reused, again.estimator.submitted) == (1, 0)


def test_a_torn_last_line_is_ignored_then_cut_off_with_a_warning(tmp_path):
    values(fake(tmp_path))
    path = tmp_path / "ledger.jsonl"
    whole = path.read_text()
    path.write_text(whole + '{"key": "ab12", "stat')  # a crash while a line was written
    assert len(Ledger(tmp_path).lines) == 2  # read without the torn line
    backend = fake(tmp_path)
    with pytest.warns(UserWarning, match=r"last line was cut short .* removed: b'\{\"key\""):
        values(backend, shift=0.1)  # a new job: its lines follow the whole ones
    text = path.read_text()
    assert text.startswith(whole) and text.endswith("\n") and "ab12" not in text
    assert len(Ledger(tmp_path).lines) == 4 and all(json.loads(x) for x in text.splitlines())


@pytest.mark.parametrize("blocker", ["results", "ledger.jsonl"])
def test_an_unwritable_ledger_is_refused_before_anything_is_submitted(tmp_path, blocker):
    # a file where the folder should be (or the reverse): unwritable even for root
    (tmp_path / blocker).mkdir() if blocker == "ledger.jsonl" else (tmp_path / blocker).touch()
    if blocker == "ledger.jsonl":  # found when the backend reads its ledger
        with pytest.raises(ValueError, match=r"ledger.jsonl: cannot read it .*Is a directory"):
            fake(tmp_path)
        return
    backend = fake(tmp_path)
    with pytest.raises(
        ValueError, match=r"job ledger .* cannot be written .*nothing was submitted"
    ):
        values(backend)
    assert backend.estimator.submitted == 0


def test_swapped_or_changed_results_are_errors_not_other_answers(tmp_path):
    first, second = values(fake(tmp_path)), values(fake(tmp_path), shift=0.2)
    done = [e for e in Ledger(tmp_path).lines if e["status"] == "done"]
    assert all(len(e["sha256"]) == 64 for e in done)
    a, b = (tmp_path / e["result"] for e in done)
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    with pytest.raises(ValueError, match=r"does not match the SHA-256 its done line records"):
        values(fake(tmp_path))
    a.write_bytes(a_bytes)
    b.write_bytes(b_bytes)  # put back: read back as they were
    np.testing.assert_array_equal(values(fake(tmp_path)), first)
    np.testing.assert_array_equal(values(fake(tmp_path), shift=0.2), second)


def test_a_result_path_outside_its_place_is_an_error(tmp_path):
    values(fake(tmp_path))
    path = tmp_path / "ledger.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[-1]["result"] = "../../elsewhere.npz"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    with pytest.raises(ValueError, match=r"names the result '../../elsewhere.npz'; a result must"):
        values(fake(tmp_path))


@pytest.mark.parametrize(
    "line, message",
    [
        ("[]", r"line 2: expected a JSON object with a string 'key', got \[\]"),
        ('{"status": "done"}', r"line 2: expected a JSON object with a string 'key'"),
        ('{"key": "k1"}', r"line 2: status must be one of submitted, done, failed, cancelled"),
        ("not json", r"line 2 is not JSON"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"key": "k0", "status": "submitted", "job_id": "x"}\n' + line + "\n{}\n")
    with pytest.raises(ValueError, match=rf"job ledger {path}: {message}"):
        Ledger(tmp_path)
    assert main(["jobs", str(tmp_path)]) == 1  # the command line says it in one line


def test_shots_a_device_or_a_job_cannot_take_are_refused():
    with pytest.raises(
        ValueError, match=r"at most the device.s max_shots 100,000, got 1,000,000,000,000"
    ):
        get_backend("fake_manila", shots=10**12)
    with pytest.raises(ValueError, match=r"max_executions 100 is below shots 1,000"):
        get_backend("fake_manila", shots=1000, max_executions=100)
    backend = get_backend("fake_manila", shots=100, seed=1, max_executions=100)  # a row a job
    assert math.isfinite(values(backend).sum()) and backend.estimator.submitted == 8
