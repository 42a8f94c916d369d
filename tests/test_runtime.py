"""``ibm_<device>`` on the IBM runtime's Estimator: the executor-based one where the installed
qiskit-ibm-runtime has it, the legacy ``EstimatorV2`` otherwise (``.ci/run`` runs this file once
more against the lowest supported runtime). IBM Quantum cannot be reached from here: the service
is the stand-in of runtime_standin.py, whose devices are fake devices, so that the real runtime
Estimator runs its jobs in local mode."""

import ast
import importlib
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from qlstm_qiskit import CircuitSpec, get_backend
from qlstm_qiskit.backends.jobs import KEY_TAG
from qlstm_qiskit.backends.ledger import Ledger
from qlstm_qiskit.circuits import gate_circuit

pytest.importorskip("qiskit_ibm_runtime")
from runtime_standin import StandInService  # noqa: E402

from qlstm_qiskit.backends.runtime_estimator import (  # noqa: E402
    PRIMITIVES,
    estimator_class,
    installed_primitive,
)

REPO = Path(__file__).resolve().parents[1]
SPEC = CircuitSpec(n_qubits=2)
#: what the installed runtime should give, from its module layout alone
EXPECTED = (
    "executor"
    if importlib.util.find_spec("qiskit_ibm_runtime.executor_estimator") is not None
    else "legacy"
)


def values_of(backend, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(4, SPEC.n_weights, generator=generator, dtype=torch.float64) * 2 * math.pi
    inputs = torch.rand(4, batch, SPEC.n_inputs, generator=generator, dtype=torch.float64) * 3
    with torch.no_grad():
        exact = get_backend("statevector").compile(gate_circuit(SPEC)).bind(weights)
        values = backend.compile(gate_circuit(SPEC)).bind(weights).expectation(inputs)
        return values.numpy(), exact.expectation(inputs).numpy()


def test_the_installed_runtime_decides_the_primitive_by_module_path():
    backend = get_backend("ibm_manila", service=StandInService(), shots=300)
    assert backend.primitive == installed_primitive() == EXPECTED and not backend.local
    module, name, _, _ = PRIMITIVES[EXPECTED]
    runtime_estimator = backend.estimator.estimator
    assert type(runtime_estimator) is getattr(importlib.import_module(module), name)
    assert runtime_estimator.backend() is backend.device


def test_device_options_are_mapped_onto_the_runtime_options():
    backend = get_backend(
        "ibm_manila",
        service=StandInService(),
        shots=300,
        resilience_level=0,
        twirling=True,
        dynamical_decoupling="XY4",
        max_execution_time=120,
        run_name="my-run",
        job_tags=["extra"],
    )
    options = backend.estimator.estimator.options
    assert options.default_shots == 300 and options.resilience_level == 0
    assert options.twirling.enable_gates is True and options.twirling.enable_measure is True
    assert options.dynamical_decoupling.enable is True
    assert options.dynamical_decoupling.sequence_type == "XY4"
    assert options.max_execution_time == 120
    assert list(options.environment.job_tags) == ["my-run", "extra"]
    assert "service" not in backend.options()  # never shown (nor stored)


def test_bad_runtime_options_are_refused_by_the_runtime_options_class():
    with pytest.raises(ValueError, match=r"backend 'ibm_manila': invalid runtime estimator"):
        get_backend("ibm_manila", service=StandInService(), twirling={"strategy": "sideways"})


@pytest.mark.parametrize("execution", ["job", "batch", "session"])
def test_execution_modes(execution):
    backend = get_backend("ibm_manila", service=StandInService(), shots=100, execution=execution)
    runtime_estimator = backend.estimator.estimator
    mode = backend.estimator.mode
    if execution == "job":
        assert mode is None
    else:
        module = importlib.import_module(f"qiskit_ibm_runtime.{execution}")
        assert isinstance(mode, getattr(module, execution.capitalize()))
        assert runtime_estimator.mode is mode
    backend.close()
    assert backend.estimator.mode is None


def test_a_job_carries_its_ledger_key_and_the_ledger_its_estimate_and_usage(tmp_path, monkeypatch):
    service = StandInService(usage_per_job=2.5)
    service.record_submissions(monkeypatch, estimator_class(EXPECTED))
    backend = get_backend(
        "ibm_manila",
        service=service,
        shots=400,
        resilience_level=0,
        ledger=str(tmp_path),
        run_name="r1",
    )
    values, exact = values_of(backend)
    assert np.abs(values - exact).max() < 5 / math.sqrt(400) + 0.15  # shots and device noise
    submitted, done = Ledger(tmp_path).lines
    key = submitted["key"]
    assert submitted["tags"] == ["r1", KEY_TAG + key] and not submitted["local"]
    assert submitted["primitive"] == EXPECTED
    assert submitted["estimated_seconds"] > 2.0  # 2 s per job, plus executions
    assert done["usage_seconds"] == 2.5  # job.usage() of the finished job
    (job,) = service.jobs(job_tags=["r1"])
    assert job.job_id() == submitted["job_id"] and KEY_TAG + key in job.tags
    # the tag is set per job: a second job carries its own key, not the first one's
    values_of(backend, seed=1)
    tags = [e["tags"] for e in Ledger(tmp_path).lines if e["status"] == "submitted"]
    assert len({t[-1] for t in tags}) == 2


def test_a_service_never_reaches_a_checkpointed_option():
    from qlstm_qiskit.forecasting.models import check_storable_options

    with pytest.raises(ValueError, match=r"'service' \(a QiskitRuntimeService\) holds credentials"):
        check_storable_options("train", {"service": StandInService()})


def test_every_runtime_name_is_imported_by_its_module_path():
    """No ``from qiskit_ibm_runtime import X`` and no ``qiskit_ibm_runtime.X`` attribute of the
    top-level package in the library: IBM plans to repoint top-level names."""
    for path in (REPO / "qlstm_qiskit").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "qiskit_ibm_runtime", f"{path}:{node.lineno}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert node.value.id not in ("rt", "qiskit_ibm_runtime") or node.attr in (
                    "__version__",
                ), f"{path}:{node.lineno}: {node.value.id}.{node.attr}"


def test_the_ledger_of_an_ibm_run_holds_no_credentials(tmp_path, monkeypatch):
    token = "standin-token-9c1e-never-written"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    service = StandInService()
    service.record_submissions(monkeypatch, estimator_class(EXPECTED))
    backend = get_backend("ibm_manila", service=service, shots=100, ledger=str(tmp_path))
    values_of(backend, batch=1)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes()
    assert all(json.dumps(e) for e in Ledger(tmp_path).lines)
