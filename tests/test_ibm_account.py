"""The IBM Quantum account behind ``ibm_<device>``: the active instance's plan (no sessions on the
Open Plan), its remaining usage (shown with the cost preview, a run over it refused unless
``--force``) and ``ibm_least_busy``. IBM Quantum cannot be reached from here: the service is the
stand-in of runtime_standin.py (real fake devices named ``ibm_<device>``, the real runtime
Estimator in local mode)."""

import argparse

import numpy as np
import pytest
import torch

from qlstm_qiskit import QLSTM, get_backend, list_backends
from qlstm_qiskit.backends import ibm_account, ibm_runtime
from qlstm_qiskit.backends.ibm_account import (
    LEAST_BUSY,
    account_usage,
    active_plan,
    check_execution_mode,
)
from qlstm_qiskit.backends.ledger import Ledger
from qlstm_qiskit.backends.transpile import cached_device
from qlstm_qiskit.cli import main
from qlstm_qiskit.cli.device_flags import OverUsage, confirm_or_preview
from qlstm_qiskit.forecasting.inference import predict_dataset, preview_work

pytest.importorskip("qiskit_ibm_runtime")
from runtime_standin import StandInService  # noqa: E402

#: ibm name -> fake device (qubits): ibm_manila (5), ibm_lima (5), ibm_brisbane (127)
DEVICES = {"ibm_manila": "fake_manila", "ibm_lima": "fake_lima", "ibm_brisbane": "fake_brisbane"}
T = 3  # time steps of the datasets below


def model_on(backend):
    return QLSTM(1, 2, n_qubits=2, seed=0, dtype=torch.float64, batch_first=True, backend=backend)


def dataset(n=4):
    return torch.linspace(-1, 1, n * T, dtype=torch.float64).reshape(n, T, 1)


# -- the plan ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "plan, expected",
    [
        ("open", "open"),
        ("Open Plan", "open"),
        ("pay-as-you-go", "pay-as-you-go"),
        ("unknown", None),
    ],
)
def test_the_plan_is_the_active_instances(plan, expected):
    # the stand-in lists a second instance on the premium plan: only the active one counts
    assert active_plan(StandInService(plan=plan)) == expected


def test_an_active_instance_that_is_not_listed_has_no_plan(monkeypatch):
    service = StandInService(plan="pay-as-you-go")
    others = [{"crn": "crn:v1:other", "plan": "open", "name": "other", "tags": []}]
    monkeypatch.setattr(service, "instances", lambda: others)  # an instance not listed
    assert active_plan(service) is None
    assert check_execution_mode("owner", service, "session") is None  # the service decides


def test_a_session_on_the_open_plan_is_an_error_that_suggests_batch_or_job():
    with pytest.raises(
        ValueError,
        match=r"backend 'ibm_manila': execution='session' is not available on the Open Plan .*"
        r"use execution='batch' .* or execution='job'",
    ):
        get_backend("ibm_manila", service=StandInService(plan="open"), execution="session")


@pytest.mark.parametrize(
    "plan, execution, mode",
    [
        ("open", "job", None),
        ("open", "batch", "Batch"),
        ("pay-as-you-go", "session", "Session"),
        ("premium", "session", "Session"),
    ],
)
def test_execution_modes_the_plan_allows(plan, execution, mode):
    backend = get_backend("ibm_manila", service=StandInService(plan=plan), execution=execution)
    runtime_estimator = backend.estimator.estimator  # opens the Batch/Session
    assert type(backend.estimator.mode).__name__ == (mode or "NoneType")
    assert mode is None or runtime_estimator.mode is backend.estimator.mode
    backend.close()


def test_a_session_the_service_refuses_is_an_error_that_suggests_batch_or_job(monkeypatch):
    # the plan cannot be read here, so the session is requested and the service refuses it
    service = StandInService(plan="unknown")
    service.refuse_sessions(monkeypatch)
    backend = get_backend("ibm_manila", service=service, execution="session")
    with pytest.raises(
        ValueError,
        match=r"backend 'ibm_manila': IBM Quantum refused to open a Session \(RequestsApiError: "
        r".*403.*\); plans without this execution mode \(the Open Plan has no sessions\) take "
        r"execution='batch' or execution='job'",
    ) as info:
        _ = backend.estimator.estimator
    assert type(info.value.__cause__).__name__ == "RequestsApiError"
    assert backend.estimator.submitted == 0
    # a batch is not refused
    batch = get_backend("ibm_manila", service=service, execution="batch")
    assert batch.estimator.estimator is not None and type(batch.estimator.mode).__name__ == "Batch"


# -- ibm_least_busy -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pending, offline, min_qubits, expected",
    [
        ({"ibm_manila": 4, "ibm_lima": 1, "ibm_brisbane": 0}, {"ibm_brisbane"}, None, "ibm_lima"),
        ({"ibm_manila": 0, "ibm_lima": 1, "ibm_brisbane": 9}, set(), None, "ibm_manila"),
        ({"ibm_manila": 0, "ibm_lima": 1, "ibm_brisbane": 9}, set(), 6, "ibm_brisbane"),
    ],
)
def test_least_busy_is_the_operational_device_with_fewest_pending_jobs(
    pending, offline, min_qubits, expected
):
    service = StandInService(DEVICES, pending=pending, offline=offline)
    backend = get_backend(LEAST_BUSY, service=service, min_qubits=min_qubits, shots=100)
    assert backend.name == expected and backend.device is service.backend(expected)
    assert backend.requested == LEAST_BUSY and backend.options()["requested"] == LEAST_BUSY
    assert backend.service is service and backend.estimator.backend_name == expected
    # the same transpilations as the device named directly
    assert backend.pass_manager is get_backend(expected, service=service).pass_manager


def test_least_busy_jobs_are_keyed_by_the_resolved_device(tmp_path):
    service = StandInService(DEVICES, pending={"ibm_manila": 3, "ibm_lima": 0, "ibm_brisbane": 1})
    options = {"service": service, "shots": 100, "ledger": str(tmp_path), "resilience_level": 0}
    model = model_on(get_backend(LEAST_BUSY, **options))
    values = predict_dataset(model, dataset())
    assert model.backend.estimator.submitted == T
    lines = Ledger(tmp_path).lines
    assert {e["backend"] for e in lines if e["status"] == "submitted"} == {"ibm_lima"}
    assert not any(LEAST_BUSY in str(e) for e in lines)
    # a rerun on the device by its name reads every job back: same keys
    model.set_backend("ibm_lima", **options)
    assert torch.equal(predict_dataset(model, dataset()), values)
    assert model.backend.estimator.submitted == 0 and model.backend.estimator.reused == T


@pytest.mark.parametrize(
    "name, options, error, message",
    [
        ("ibm_manila", {"min_qubits": 5}, ValueError, r"min_qubits applies only to ibm_least_busy"),
        ("fake_manila", {"min_qubits": 5}, ValueError, r"min_qubits applies only to ibm_least"),
        (LEAST_BUSY, {"min_qubits": 0}, ValueError, r"min_qubits must be >= 1, got 0"),
        (LEAST_BUSY, {"min_qubits": "5"}, TypeError, r"min_qubits must be an int >= 1 or None"),
        (LEAST_BUSY, {"min_qubits": True}, TypeError, r"min_qubits must be an int >= 1 or None"),
    ],
)
def test_min_qubits_errors(name, options, error, message):
    service = {"service": StandInService(DEVICES)} if name.startswith("ibm") else {}
    with pytest.raises(error, match=message):
        get_backend(name, **service, **options)


@pytest.mark.parametrize(
    "offline, min_qubits, message",
    [
        ((), 200, r"no operational IBM Quantum device with at least 200 qubits .*lower min_qubits"),
        (tuple(DEVICES), None, r"no operational IBM Quantum device for this account .*ibm_<dev"),
    ],
)
def test_least_busy_without_a_matching_device_is_an_error(offline, min_qubits, message):
    service = StandInService(DEVICES, offline=offline)
    with pytest.raises(ValueError, match=r"get_backend: ibm_least_busy: " + message):
        get_backend(LEAST_BUSY, service=service, min_qubits=min_qubits)


def test_backends_lists_ibm_least_busy(capsys):
    assert "least busy operational IBM Quantum device" in list_backends()[LEAST_BUSY]
    assert main(["backends"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(LEAST_BUSY)]
    assert len(lines) == 1 and "min_qubits" in lines[0]


# -- usage -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "limit, consumed, remaining, line",
    [
        (600, 595.5, 4.5, "remaining on this instance: 4.5 s of 600 s (595.5 s used)"),
        (600, 700, 0.0, "limit reached on this instance (700.0 s used)"),
        (None, 1234.0, None, "no usage limit on this instance (1234.0 s used)"),
    ],
)
def test_account_usage(limit, consumed, remaining, line):
    service = StandInService(usage_limit_seconds=limit, usage_consumed_seconds=consumed)
    usage = account_usage(service)
    assert usage.remaining_seconds == remaining and usage.limit_seconds == limit
    assert line in usage.describe()
    if remaining is None:
        assert usage.covers(1e9)
    else:
        assert usage.covers(remaining) and not usage.covers(remaining + 0.01)


def test_unreadable_usage_is_an_error(monkeypatch):
    service = StandInService()
    monkeypatch.setattr(service, "usage", lambda: 1 / 0)
    with pytest.raises(ValueError, match=r"could not read .*usage.*ZeroDivisionError"):
        account_usage(service)


def _confirm(model, **flags):
    args = argparse.Namespace(
        **{"dry_run": False, "yes": True, "force": False, "max_qpu_seconds": None, **flags}
    )
    return confirm_or_preview(args, [model], lambda: preview_work(model, lambda: _predict(model)))


def _predict(model):
    return predict_dataset(model, dataset())


def test_the_preview_shows_the_remaining_usage_and_a_run_over_it_is_refused(capsys):
    service = StandInService(usage_limit_seconds=600.0)
    model = model_on(get_backend("ibm_manila", service=service, shots=100))
    estimate = preview_work(model, lambda: _predict(model)).qpu_seconds
    assert estimate > 2 * T  # 2 s a job, and more
    service.usage_consumed_seconds = 600.0 - estimate - 1.0  # 1 s more than the estimate left
    assert _confirm(model, dry_run=True) is False
    out = capsys.readouterr().out
    assert f"remaining on this instance: {estimate + 1:.1f} s of 600 s" in out
    assert "cost preview for ibm_manila" in out
    service.usage_consumed_seconds = 600.0 - estimate + 1.0  # 1 s less than the estimate left
    for flags in ({}, {"dry_run": True}, {"yes": False}):
        with pytest.raises(OverUsage, match=r"exceeds what remains .*pass --force"):
            _confirm(model, **flags)
    assert model.backend.estimator.submitted == 0
    assert _confirm(model, force=True) is True
    assert _confirm(model, force=True, dry_run=True) is False
    assert f"remaining on this instance: {estimate - 1:.1f} s" in capsys.readouterr().out


def test_unreadable_usage_refuses_a_run_unless_forced(monkeypatch, capsys):
    service = StandInService()
    model = model_on(get_backend("ibm_manila", service=service, shots=100))
    monkeypatch.setattr(service, "usage", lambda: 1 / 0)
    with pytest.raises(OverUsage, match=r"could not read .*pass --force"):
        _confirm(model)
    assert _confirm(model, force=True) is True  # --yes --force: nothing to show or check
    assert _confirm(model, force=True, dry_run=True) is False
    assert "usage:     unknown (could not read" in capsys.readouterr().out


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("account") / "run"
    argv = ["train", "--dataset", "sine", "--n-points", "12", "--window", str(T)]
    argv += ["--hidden-size", "2", "--n-qubits", "2", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture
def account(monkeypatch):
    """The stand-in as the account the command line uses (the saved account's service)."""
    service = StandInService(
        DEVICES,
        pending={"ibm_manila": 2, "ibm_lima": 0, "ibm_brisbane": 5},
        usage_limit_seconds=600.0,
    )
    for module in (ibm_runtime, ibm_account):  # ibm_<device> and ibm_least_busy
        monkeypatch.setattr(module, "runtime_service", lambda: service)
    cached_device.cache_clear()  # ibm devices of the default account are cached by name
    yield service
    cached_device.cache_clear()


def test_predict_on_least_busy_shows_the_device_and_the_remaining_usage(
    checkpoint, account, tmp_path, capsys
):
    out = tmp_path / "p.csv"
    command = ["predict", str(checkpoint), "--backend", f"{LEAST_BUSY}:min_qubits=5"]
    command += ["--shots", "100", "--out", str(out)]
    assert main([*command, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "ibm_least_busy: the least busy operational device is ibm_lima" in printed
    assert "cost preview for ibm_lima" in printed
    assert "remaining on this instance: 600.0 s of 600 s (0.0 s used)" in printed
    assert list(tmp_path.iterdir()) == []
    account.usage_consumed_seconds = 599.0
    assert main([*command, "--yes"]) == 1
    assert "exceeds what remains on this IBM Quantum instance" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing submitted, no ledger
    assert main([*command, "--yes", "--force"]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and f"ibm_lima jobs: {T} submitted" in printed
    ledger = Ledger(tmp_path / "p-ledger")
    assert {e.get("backend") for e in ledger.lines} - {None} == {"ibm_lima"}
    values = np.loadtxt(out, delimiter=",", skiprows=1, usecols=-1)
    assert values.size > 0 and np.all(np.isfinite(values))


def test_force_needs_a_device_backend(checkpoint, tmp_path, capsys):
    command = ["predict", str(checkpoint), "--out", str(tmp_path / "p.csv"), "--force"]
    assert main(command) == 1
    assert "--force apply only to device backends" in capsys.readouterr().err
