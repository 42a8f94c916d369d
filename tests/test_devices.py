"""Fake device backends, simulated on their active qubits (FakeManilaV2: 5 qubits, CX basis;
FakeBrisbane: 127 qubits, ECR basis), credentials, and an opt-in hardware smoke test. The
``ibm_<device>`` path on the runtime's primitives is in test_runtime.py."""

import importlib.util
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from qlstm_qiskit import QLSTM, CircuitSpec, get_backend, list_backends
from qlstm_qiskit.backends.device_noise import device_noise_model
from qlstm_qiskit.backends.devices import DeviceBackend
from qlstm_qiskit.backends.ibm_runtime import SAVE_ACCOUNT_HINT, fake_device_names
from qlstm_qiskit.backends.local_device import ActiveQubitEstimator, restricted_noise_model
from qlstm_qiskit.circuits import gate_circuit

pytest.importorskip("qiskit_ibm_runtime")
from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2  # noqa: E402

SPEC = CircuitSpec(n_qubits=2)
SHOTS = 1000


def executor_values(backend, batch=3, seed=0):
    """The executor's values (one estimator call) and the exact statevector values, for fixed
    random inputs and weights."""
    generator = torch.Generator().manual_seed(seed)
    circuit = gate_circuit(SPEC)
    weights = torch.rand(4, SPEC.n_weights, generator=generator, dtype=torch.float64) * 2 * math.pi
    inputs = torch.rand(4, batch, SPEC.n_inputs, generator=generator, dtype=torch.float64) * 3
    with torch.no_grad():
        exact = get_backend("statevector").compile(circuit).bind(weights).expectation(inputs)
        values = backend.compile(circuit).bind(weights).expectation(inputs)
    return values.numpy(), exact.numpy()


def test_list_backends_names_every_fake_device_and_the_ibm_pattern():
    backends = list_backends()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        names = {b.name for b in FakeProviderForBackendV2().backends()}
    assert len(names) > 50 and names <= set(backends) and set(fake_device_names()) == names
    assert "ibm_<device>" in backends and "ibm_least_busy" in backends
    assert "fake_device" not in backends
    assert "ibm_device" not in backends


@pytest.mark.parametrize(
    "name, options, error, message",
    [
        (
            "fake_xyz",
            {},
            ValueError,
            r"unknown fake device 'fake_xyz'; valid fake devices: .*"
            r"fake_brisbane, .*fake_manila",
        ),
        (
            "fake_manila",
            {"shotz": 1},
            ValueError,
            r"unknown option\(s\) 'shotz' for backend "
            r"'fake_manila'; valid options: gradient, shots, seed, optimization_level, "
            r"resilience_level, twirling, dynamical_decoupling, job_tags, execution, "
            r"run_name, ledger, max_executions, max_execution_time, service, min_qubits",
        ),
        (
            "fake_manila",
            {"execution": "stream"},
            ValueError,
            r"execution must be one of 'job', 'batch', 'session', got 'stream'",
        ),
        ("fake_manila", {"shots": 0}, ValueError, r"shots must be in the range >= 1, got 0"),
        (
            "fake_manila",
            {"resilience_level": 3},
            ValueError,
            r"resilience_level must be in the range "
            r"0..2, got 3",
        ),
        ("fake_manila", {"twirling": "yes"}, TypeError, r"twirling must be a bool or a table"),
        (
            "fake_manila",
            {"twirling": {"num_randomizations": -4}},
            ValueError,
            r"invalid runtime estimator options",
        ),
        (
            "fake_manila",
            {"dynamical_decoupling": "XZ"},
            ValueError,
            r"dynamical_decoupling must be one of 'XX', 'XpXm', 'XY4', got 'XZ'",
        ),
        ("fake_manila", {"job_tags": [1]}, TypeError, r"job_tags must be a string or a list"),
        (
            "fake_manila",
            {"optimization_level": 4},
            ValueError,
            r"optimization_level must be in the "
            r"range 0..3",
        ),
        ("ibm_brisbane", {"seed": 1}, ValueError, r"seed applies only to fake devices"),
        (
            "fake_manila",
            {"max_execution_time": 0},
            ValueError,
            r"max_execution_time must be in the range >= 1, got 0",
        ),
        ("fake_manila", {"service": object()}, ValueError, r"service applies only to ibm_"),
        ("ibm_manila", {"service": "token"}, TypeError, r"service must be a qiskit_ibm_runtime"),
    ],
)
def test_device_option_errors(name, options, error, message):
    with pytest.raises(error, match=message):
        get_backend(name, **options)


def test_fake_manila_is_close_to_exact_within_noise_and_shots():
    backend = get_backend("fake_manila", shots=SHOTS, seed=3)
    assert isinstance(backend, DeviceBackend) and backend.computes == "noisy" and backend.local
    values, exact = executor_values(backend)
    assert values.shape == exact.shape == (4, 3, 2)
    # shot noise (std <= 1/sqrt(shots) per value) plus the device's gate and readout errors
    assert np.abs(values - exact).max() < 5 / math.sqrt(SHOTS) + 0.1
    assert not np.allclose(values, exact, atol=1e-3)  # sampled and noisy, never exact
    assert backend.estimator.submitted == 1
    network = backend.compile(gate_circuit(SPEC)).network  # the runtime samples exactly SHOTS
    pub = (network.circuit, network.observables, np.zeros((1, 1, network.circuit.num_parameters)))
    assert backend.estimator.estimator.run([pub]).result()[0].metadata["shots"] == SHOTS


def test_seeded_fake_device_samples_fresh_noise_per_job_reproducibly():
    """Every job gets a simulator seed of its own, derived from the job: two jobs with
    (almost) the same circuit values do not repeat the same shot noise, and the same job
    samples the same shots in a new backend object."""

    def sample(backend, shift):
        circuit = backend.compile(gate_circuit(SPEC))
        weights = torch.full((4, SPEC.n_weights), 0.3, dtype=torch.float64)
        inputs = torch.full((4, 2, SPEC.n_inputs), 0.7 + shift, dtype=torch.float64)
        with torch.no_grad():
            return circuit.bind(weights).expectation(inputs).numpy()

    backend = get_backend("fake_manila", shots=SHOTS, seed=3)
    first, nearby = sample(backend, 0.0), sample(backend, 1e-9)  # exact values equal to 1e-9
    assert backend.estimator.submitted == 2
    # one fixed seed gave identical samples here; fresh seeds differ by ~1/sqrt(shots)
    assert np.abs(first - nearby).max() > 3 / SHOTS
    again = sample(get_backend("fake_manila", shots=SHOTS, seed=3), 0.0)
    np.testing.assert_array_equal(again, first)  # reproducible across backend objects
    other_seed = sample(get_backend("fake_manila", shots=SHOTS, seed=4), 0.0)
    assert np.abs(other_seed - first).max() > 3 / SHOTS


def test_fake_brisbane_isa_circuits_in_ecr_basis_with_laid_out_observables():
    backend = get_backend("fake_brisbane", shots=SHOTS, seed=5)
    executor = backend.compile(gate_circuit(SPEC))
    isa = executor.network.circuit
    basis = set(backend.device.operation_names)
    assert "ecr" in basis and "cx" not in basis
    assert set(isa.count_ops()) - {"barrier"} <= basis and "ecr" in isa.count_ops()
    assert isa.num_qubits == 127  # the device's qubits, the gate circuit on two of them
    observables = [o for o in executor.network.observables.ravel()]
    expected = [o.apply_layout(isa.layout) for o in gate_circuit(SPEC).observables]
    assert all(o.num_qubits == 127 for o in observables) and observables == expected
    physical = isa.layout.final_index_layout()
    assert [o.paulis[0].z.nonzero()[0].tolist() for o in observables] == [[p] for p in physical]
    values, exact = executor_values(backend, batch=2)
    assert np.abs(values - exact).max() < 5 / math.sqrt(SHOTS) + 0.1


def test_transpilation_happens_once_per_circuit_and_device():
    model = QLSTM(1, 2, n_qubits=2, seed=0, dtype=torch.float64, backend="fake_manila")
    before = model.backend.pass_manager.transpiled
    x = torch.randn(2, 2, 1, dtype=torch.float64)
    with torch.no_grad():
        model(x)
        model(x)
    model.set_backend("fake_manila", shots=100)  # a new backend object, the same device
    with torch.no_grad():
        model(x)
    assert model.backend.pass_manager.transpiled - before <= 1
    assert model.backend.pass_manager.transpiled >= 1


def test_fake_devices_say_which_options_they_do_not_simulate():
    with pytest.warns(UserWarning) as caught:
        backend = get_backend(
            "fake_manila",
            shots=100,
            seed=1,
            resilience_level=1,
            twirling=True,
            dynamical_decoupling="XY4",
            execution="session",
        )
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(
        "backend 'fake_manila': not simulated on a fake device: resilience_level, twirling, "
        "dynamical_decoupling, execution"
    )
    assert backend.options()["resilience_level"] == 1  # they price the preview
    values, _ = executor_values(backend, batch=1)
    assert np.isfinite(values).all() and backend.estimator.mode is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say when nothing unsimulated is set
        get_backend("fake_manila", shots=100, twirling=False, execution="job")


def test_training_on_fake_manila_changes_every_parameter():
    torch.manual_seed(0)
    model = QLSTM(
        1,
        2,
        n_qubits=2,
        seed=0,
        dtype=torch.float64,
        backend=get_backend("fake_manila", shots=500, seed=2),
    )
    head = torch.nn.Linear(2, 1, dtype=torch.float64)
    x, y = torch.randn(2, 3, 1, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)
    parameters = [*model.parameters(), *head.parameters()]
    before = [p.detach().clone() for p in parameters]
    optimizer = torch.optim.Adam(parameters, lr=0.05)
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(head(model(x)[0][-1]), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert all(not torch.equal(b, p) for b, p in zip(before, parameters, strict=True))
    assert model.backend.estimator.submitted == 2 * 2  # one job per time step, gradients included


# -- credentials --------------------------------------------------------------------------------
def _no_saved_account():
    from qiskit_ibm_runtime import QiskitRuntimeService

    return not QiskitRuntimeService.saved_accounts()


def test_missing_credentials_say_how_to_save_an_account(monkeypatch):
    if not _no_saved_account():
        pytest.skip("this machine has a saved IBM Quantum account")
    for name in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        ValueError,
        match=r"credentials from the saved account did not work .*"
        r"QiskitRuntimeService.save_account\(channel=",
    ):
        get_backend("ibm_brisbane")


def test_environment_credentials_reach_the_service_and_the_token_is_never_shown(monkeypatch):
    token = "fake-token-7f3a9c-do-not-print"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "ibm_quantum_platform")
    monkeypatch.delenv("QISKIT_IBM_INSTANCE", raising=False)
    # a real QiskitRuntimeService construction, which fails at the network (no IBM access here)
    with pytest.raises(
        ValueError, match=r"environment variable QISKIT_IBM_TOKEN did not work"
    ) as info:
        get_backend("ibm_brisbane")
    assert token not in str(info.value) and SAVE_ACCOUNT_HINT in str(info.value)
    cause = info.value.__cause__
    assert cause is None or token not in str(cause)


def test_library_works_without_qiskit_ibm_runtime(tmp_path):
    code = (
        "import sys; sys.modules['qiskit_ibm_runtime'] = None\n"
        "import torch, qlstm_qiskit as q\n"
        "m = q.QLSTM(1, 2, n_qubits=2, backend='aer_statevector')\n"
        "print(m(torch.zeros(2, 1, 1))[0].shape)\n"
        "print(q.list_backends()['fake_<device>'])\n"
        "try:\n    q.get_backend('fake_manila')\n"
        "except ImportError as exc:\n    print('ImportError:', exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert 'needs qiskit-ibm-runtime: pip install "qlstm-qiskit[ibm]"' in result.stdout
    assert (
        "ImportError: fake devices: needs the package 'qiskit_ibm_runtime', which is not "
        'installed; install it with: pip install "qlstm-qiskit[ibm]"'
    ) in result.stdout


# -- real hardware (opt in: python -m pytest -m hardware) ----------------------------------------
@pytest.mark.hardware
def test_hardware_smoke():
    """One time step of a 2-qubit QLSTM on a real device (QLSTM_QISKIT_IBM_DEVICE, default
    ibm_least_busy: the least busy operational device of the account), 100 shots, one job."""
    if not os.environ.get("QISKIT_IBM_TOKEN") and _no_saved_account():
        pytest.skip("no IBM Quantum credentials (QISKIT_IBM_TOKEN or a saved account)")
    name = os.environ.get("QLSTM_QISKIT_IBM_DEVICE") or "ibm_least_busy"
    backend = get_backend(name, shots=100, run_name="qlstm-qiskit-smoke")
    assert backend.requested == name and backend.name.startswith("ibm_")
    assert backend.name != "ibm_least_busy"  # resolved to a device
    model = QLSTM(1, 1, n_qubits=2, seed=0, dtype=torch.float64, backend=backend)
    with torch.no_grad():
        output, _ = model(torch.zeros(1, 1, 1, dtype=torch.float64))
    assert torch.isfinite(output).all() and model.backend.estimator.submitted == 1


def test_the_runtime_is_bounded_and_the_installed_one_is_within_the_bounds():
    """setup.cfg bounds qiskit-ibm-runtime (below the first release that may drop the legacy
    EstimatorV2) in every extra that installs it, as RUNTIME_REQUIREMENT says; the installed
    version is inside the range."""
    import configparser
    from importlib.metadata import version

    from packaging.requirements import Requirement

    from qlstm_qiskit.backends.ibm_runtime import RUNTIME_REQUIREMENT

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    extras = config["options.extras_require"]
    declared = {
        name: [line for line in extras[name].splitlines() if "qiskit-ibm-runtime" in line]
        for name in extras
    }
    declared = {name: lines for name, lines in declared.items() if lines}
    assert set(declared) >= {"ibm", "test", "bench"}
    assert all(lines == [RUNTIME_REQUIREMENT] for lines in declared.values()), declared
    requirement = Requirement(RUNTIME_REQUIREMENT)
    assert any(spec.operator == "<" for spec in requirement.specifier)
    assert requirement.specifier.contains(version("qiskit-ibm-runtime"))


# -- active qubits only ---------------------------------------------------------------------------
def _touched(circuit) -> set[int]:
    return {
        circuit.find_bit(q).index
        for instruction in circuit.data
        if instruction.operation.name != "barrier"
        for q in instruction.qubits
    }


def test_fake_brisbane_simulates_only_the_active_qubits():
    backend = get_backend("fake_brisbane", shots=SHOTS, seed=5)
    values, _ = executor_values(backend, batch=2)
    isa = backend.compile(gate_circuit(SPEC)).network.circuit
    active = _touched(isa)
    inner = backend.estimator.estimator
    assert isinstance(inner, ActiveQubitEstimator) and isa.num_qubits == 127
    assert inner.simulated_qubits == tuple(sorted(active)) and len(active) < 10
    (simulator,) = inner._simulators.values()
    # every circuit that reached Aer had the active qubits only (4 gates x 2 rows)
    assert simulator.widths == [len(active)] * 8
    wide = isa.assign_parameters(np.zeros(isa.num_parameters))
    with pytest.raises(RuntimeError, match=r"has 127 qubits, more than the \d active qubits"):
        simulator.run(wide)


def test_restricted_noise_model_is_the_device_model_on_those_qubits():
    device = FakeProviderForBackendV2().backend("fake_manila")
    whole = device_noise_model(device).to_dict()["errors"]
    kept = (2, 1)  # renumbered in this order: device qubit 2 -> 0, 1 -> 1
    small = restricted_noise_model(device, kept).to_dict()["errors"]

    def table(errors, rename):
        found = {}
        for error in errors:
            for qubits in error["gate_qubits"]:
                if all(q in rename for q in qubits):
                    key = (tuple(error["operations"]), tuple(rename[q] for q in qubits))
                    found[key] = {k: v for k, v in error.items() if k not in ("id", "gate_qubits")}
        return found

    expected = table(whole, {q: i for i, q in enumerate(kept)})
    assert expected and table(small, {0: 0, 1: 1}) == expected
    assert {("cx", (0, 1)), ("measure", (1,))} <= {(k[0][0], k[1]) for k in expected}


@pytest.mark.skipif(
    importlib.util.find_spec("qiskit_ibm_runtime.estimator") is None,
    reason="this qiskit-ibm-runtime has no legacy EstimatorV2",
)
def test_active_qubit_sampling_equals_the_runtime_local_mode_on_the_whole_device():
    """Today's path (before the executor): the legacy runtime EstimatorV2 in local testing mode on
    the whole device. With the same seed, the active-qubit simulation gives the same values."""
    from qiskit_ibm_runtime.estimator import EstimatorV2

    from qlstm_qiskit.backends.estimators import shots_precision

    backend = get_backend("fake_brisbane", shots=SHOTS, seed=5)
    network = backend.compile(gate_circuit(SPEC)).network
    values = np.random.default_rng(0).uniform(0, 3, (3, network.circuit.num_parameters))
    pub = (network.circuit, network.observables, values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = EstimatorV2(
            mode=backend.device,
            options={
                "default_precision": shots_precision(SHOTS),
                "simulator": {"seed_simulator": 77},
            },
        )
    ours = ActiveQubitEstimator(backend.device, SHOTS)
    ours.seed_simulator = 77
    np.testing.assert_array_equal(
        ours.run([pub]).result()[0].data.evs, legacy.run([pub]).result()[0].data.evs
    )


def test_fake_device_values_agree_with_the_exact_noisy_values_within_shot_noise():
    shots = 20000
    backend = get_backend("fake_manila", shots=shots, seed=11)
    exact_noisy = get_backend("density_matrix", noise_from="fake_manila")
    values, _ = executor_values(backend, batch=3, seed=2)
    expected, _ = executor_values(exact_noisy, batch=3, seed=2)
    std = np.sqrt(np.clip(1 - expected**2, 1e-3, None) / shots)
    assert np.abs(values - expected).max() < 4.5 * std.max()
    assert np.abs((values - expected) / std).mean() < 1.2  # ~0.8 for unbiased shot noise


@pytest.mark.parametrize(
    "name",
    [
        "fake_manila",
        pytest.param("fake_torino", marks=pytest.mark.slow),  # ~17 s: 133 qubits, twice
        pytest.param("fake_kingston", marks=pytest.mark.slow),  # ~23 s
    ],
)
def test_the_device_noise_model_is_the_one_the_fake_device_simulates(name):
    """The model built from the calibration properties equals the fake device's own simulator
    model (the runtime's reference), also where qubit frequencies (fake_torino) or relaxation
    times (fake_kingston) are missing from the properties."""
    if name not in fake_device_names():
        pytest.skip(f"this qiskit-ibm-runtime has no {name}")
    device = FakeProviderForBackendV2().backend(name)

    def table(model):
        return sorted(
            (str(e["operations"]), str(e.get("gate_qubits")), str(e.get("probabilities")))
            + (str(e.get("instructions")),)
            for e in model.to_dict()["errors"]
        )

    assert table(device_noise_model(device)) == table(device._get_noise_model_from_backend_v2())


def test_devices_missing_calibration_values_still_run_on_their_active_qubits():
    """fake_torino's properties have no qubit frequencies, fake_kingston's (newer runtimes only)
    no T1 for qubit 146: Aer's from_backend_properties alone raises for them."""
    backend = get_backend("fake_torino", shots=SHOTS, seed=2)
    values, exact = executor_values(backend, batch=1)
    assert np.abs(values - exact).max() < 5 / math.sqrt(SHOTS) + 0.15
    assert len(backend.estimator.estimator.simulated_qubits) < 10
    if "fake_kingston" not in fake_device_names():
        return  # qiskit-ibm-runtime 0.40 has no fake_kingston
    kingston = FakeProviderForBackendV2().backend("fake_kingston")
    model = restricted_noise_model(kingston, (145, 146))
    assert {("measure", (1,)), ("sx", (1,))} <= {
        (e["operations"][0], tuple(q)) for e in model.to_dict()["errors"] for q in e["gate_qubits"]
    }
