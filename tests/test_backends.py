"""Named backends, profiles, user objects and the primitive path (real Aer, no mocks)."""

import copy
import math

import numpy as np
import pytest
import torch
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimator

from qlstm_qiskit import QLSTM, CircuitSpec, QLSTMCell, get_backend, list_backends
from qlstm_qiskit.backends import resolve_backend
from qlstm_qiskit.backends.estimators import CountingEstimator
from qlstm_qiskit.backends.primitive import PrimitiveBackend
from qlstm_qiskit.backends.statevector import StatevectorBackend
from qlstm_qiskit.circuits import gate_circuit

SMALL = {"n_qubits": 2, "seed": 1, "dtype": torch.float64}
BUILTIN = (
    "statevector",
    "aer_statevector",
    "aer_shots",
    "aer_noisy",
    "aer_noisy_exact",
    "aer_readout",
)


def counting_estimator():
    """Aer's exact estimator, counting its ``run`` calls."""
    return CountingEstimator(AerEstimator(options={"default_precision": 0.0}))


TWO_QUBITS = CircuitSpec(n_qubits=2)


def expectations(backend, spec=TWO_QUBITS, batch=3, seed=0):
    """The executor's values for fixed random inputs and weights, as a float64 array."""
    generator = torch.Generator().manual_seed(seed)
    circuit = gate_circuit(spec)
    weights = torch.rand(4, spec.n_weights, generator=generator, dtype=torch.float64) * 2 * math.pi
    inputs = torch.rand(4, batch, spec.n_inputs, generator=generator, dtype=torch.float64) * 3
    with torch.no_grad():
        return backend.compile(circuit).bind(weights).expectation(inputs).numpy()


def run_step(model, x):
    """Outputs and every parameter's gradient of one forward + backward."""
    model.zero_grad()
    output, (h_n, c_n) = model(x)
    (output.sin().sum() + c_n.square().sum()).backward()
    return output.detach().clone(), {n: p.grad.clone() for n, p in model.named_parameters()}


def write_profile(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(text)
    return folder


USER_PROFILE = """description = "my shots"
kind = "aer"
computes = "sampled"
gradient = "spsa"
[options]
shots = 100
seed = 5
"""


# -- registry and profiles --------------------------------------------------------------------
def test_list_backends_describes_the_builtin_profiles():
    backends = list_backends()
    assert set(BUILTIN) <= set(backends)
    assert all(isinstance(d, str) and d and "\n" not in d for d in backends.values())


def test_get_backend_builds_every_builtin_profile():
    assert isinstance(get_backend("statevector"), StatevectorBackend)
    for name in BUILTIN[1:]:
        backend = get_backend(name)
        assert isinstance(backend, PrimitiveBackend) and backend.name == name
    assert get_backend("aer_statevector").computes == "exact"
    assert get_backend("aer_shots").computes == "sampled"
    assert get_backend("aer_noisy").computes == "noisy"
    assert get_backend("aer_statevector", shots=10).computes == "sampled"
    assert get_backend("aer_shots", gradient="spsa", seed=3).options()["gradient"] == "spsa"


@pytest.mark.parametrize(
    "name, overrides, error, message",
    [
        (
            "aer_magic",
            {},
            ValueError,
            r"get_backend: unknown backend 'aer_magic'; valid names: aer_noisy, .*statevector",
        ),
        (
            "aer_shots",
            {"shotz": 3},
            ValueError,
            r"unknown option\(s\) 'shotz' for backend 'aer_shots'; valid options: gradient, "
            r"method, "
            r"device, shots, seed, basis_gates, optimization_level, spsa_samples, spsa_epsilon",
        ),
        (
            "aer_shots",
            {"gradient": "adjoint"},
            ValueError,
            r"get_backend: gradient must be one of 'param_shift', 'spsa' for a 'aer' backend, "
            r"got 'adjoint'",
        ),
        (
            "statevector",
            {"gradient": "param_shift"},
            ValueError,
            r"gradient must be one of 'autograd' for a 'statevector' backend, got 'param_shift'",
        ),
        (
            "aer_shots",
            {"shots": 0},
            ValueError,
            r"get_backend: shots must be in the range 1..10000000, got 0",
        ),
        ("aer_shots", {"shots": 1.5}, TypeError, r"get_backend: shots must be an int, got float"),
        (
            "aer_shots",
            {"seed": -1},
            ValueError,
            r"get_backend: seed must be in the range 0..\d+, got -1",
        ),
        (
            "aer_shots",
            {"method": "mps"},
            ValueError,
            r"method must be one of 'statevector', "
            r"'density_matrix', 'automatic', got 'mps'",
        ),
        ("aer_readout", {"shots": None}, ValueError, r"readout errors need shots"),
        (
            "aer_statevector",
            {"gradient": "spsa", "spsa_epsilon": float("nan")},
            ValueError,
            r"get_backend: spsa_epsilon must be a finite number, got nan",
        ),
        (
            "aer_statevector",
            {"gradient": "spsa", "spsa_epsilon": 0},
            ValueError,
            r"spsa_epsilon must be in the range \(0.0, 3.14",
        ),
        (
            "aer_statevector",
            {"spsa_samples": 8},
            ValueError,
            r"get_backend: spsa_samples apply only with gradient='spsa', got "
            r"gradient='param_shift'",
        ),
        (
            "aer_statevector",
            {"seed": 1},
            ValueError,
            r"get_backend: seed applies only to sampled backends \(shots\) or gradient='spsa'",
        ),
        (
            "aer_statevector",
            {"basis_gates": "cx"},
            TypeError,
            r"basis_gates must be a non-empty "
            r"list",
        ),
        (
            "aer_noisy_exact",
            {"basis_gates": ["rz", "sx", "bogus", "cx"]},
            ValueError,
            r"basis_gates must be among .*got bogus",
        ),
    ],
)
def test_get_backend_errors(name, overrides, error, message):
    with pytest.raises(error, match=message):
        get_backend(name, **overrides)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            'description = "x"\nkind = "aer"\ncomputes = "exact"\ngradient = '
            '"param_shift"\ncolour = 1',
            r"unknown key\(s\) 'colour'; allowed: description, kind, computes, gradient, "
            r"options, noise",
        ),
        (
            'description = "x"\nkind = "gpu"\ncomputes = "exact"\ngradient = "param_shift"',
            r"kind must be one of 'statevector', 'aer', 'density', 'device', got 'gpu'",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "exact"\ngradient = "param_shift"\n'
            "[options]\nfoo = 1",
            r"unknown option\(s\) 'foo'; allowed: method, device, shots",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            '[options]\nbasis_gates = ["rz", "sx", "cx"]\n[noise]\ndepol = 0.1',
            r"unknown noise key\(s\) 'depol'; allowed: depolarizing_1q",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "exact"\ngradient = "param_shift"\n'
            "[options]\nshots = 10",
            r"computes must be 'sampled' for these options and noise",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            "[noise]\ndepolarizing_1q = 0.1",
            r"gate noise .* needs basis_gates",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            '[options]\nbasis_gates = ["rz", "sx", "cx"]\n[noise]\nt1_ns = 10.0\nt2_ns = 30.0\n'
            "time_1q_ns = 5.0",
            r"noise.t2_ns must be at most 2 \* t1_ns",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            '[options]\nbasis_gates = ["rz", "sx", "cx"]\n[noise]\ntime_1q_ns = 50.0',
            r"thermal relaxation needs noise.t1_ns and t2_ns together with at least one gate time",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            '[options]\nbasis_gates = ["rz", "sx", "cx"]\n[noise]\nt1_ns = 1e5\nt2_ns = 1e5',
            r"thermal relaxation needs .* got t1_ns=100000.0, gate times none",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            '[options]\nmethod = "statevector"\nbasis_gates = ["rz", "sx", "cx"]\n[noise]\n'
            "depolarizing_1q = 0.01",
            r"exact values with gate noise need method 'density_matrix'",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            "[options]\nshots = 10\n[noise]\nreadout_p01 = nan",
            r"noise.readout_p01 must be a finite number, got nan",
        ),
        (
            'description = "x"\nkind = "aer"\ncomputes = "noisy"\ngradient = "param_shift"\n'
            "[options]\nshots = 10\n[noise]\nreadout_p01 = 1.5",
            r"noise.readout_p01 must be in the range "
            r"\[0.0, 1.0\], got 1.5",
        ),
        (
            'description = "x"\nkind = "statevector"\ncomputes = "exact"\ngradient = "autograd"\n'
            "[noise]\nreadout_p01 = 0.1",
            r"a 'statevector' profile takes no \[noise\] table",
        ),
        ('description = "x"\nkind = ', r"cannot read it as TOML"),
    ],
)
def test_profile_file_errors(tmp_path, text, message):
    write_profile(tmp_path, "bad", text)
    with pytest.raises(ValueError, match=r"backend profile '.*bad.toml': " + message):
        get_backend("bad", profile_dir=tmp_path)


def test_missing_package_error_gives_the_pip_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "qiskit_aer", None)  # as if it were not installed
    with pytest.raises(
        ImportError,
        match=r"backend 'aer_statevector': needs the package "
        r"'qiskit_aer', .*install it with: pip install "
        r"qiskit-aer",
    ):
        get_backend("aer_statevector")


def test_user_profiles_from_argument_and_environment(tmp_path, monkeypatch):
    first = write_profile(tmp_path / "a", "my_shots", USER_PROFILE)
    second = write_profile(tmp_path / "b", "aer_shots", USER_PROFILE.replace("100", "200"))
    assert "my_shots" not in list_backends()
    assert list_backends(profile_dir=first)["my_shots"] == "my shots"
    backend = get_backend("my_shots", profile_dir=str(first))
    assert backend.options()["shots"] == 100 and backend.gradient == "spsa"
    monkeypatch.setenv("QLSTM_QISKIT_BACKENDS", f"{first}{__import__('os').pathsep}{second}")
    assert {"my_shots", "statevector"} <= set(list_backends())
    assert get_backend("aer_shots").options()["shots"] == 200  # a user profile replaces a builtin
    with pytest.raises(ValueError, match=r"profile_dir must be an existing folder"):
        list_backends(profile_dir=tmp_path / "missing")


# -- one set of weights, many backends --------------------------------------------------------
@pytest.mark.parametrize("circuit", [{}, {"encoding": "angle", "rotation": "ry"}])
def test_switching_statevector_to_aer_statevector_keeps_weights_outputs_and_gradients(circuit):
    model = QLSTM(2, 3, num_layers=2, bidirectional=True, **SMALL, **circuit)
    with torch.no_grad():  # weights far from 0, so that gradients are not tiny
        for name, param in model.named_parameters():
            if "weight_q" in name:
                param.normal_(0, 1.5)
    x = torch.randn(3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out_sv, grads_sv = run_step(model, x)
    state = copy.deepcopy(model.state_dict())
    assert model.set_backend("aer_statevector") is model
    out_aer, grads_aer = run_step(model, x)
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert out_aer.dtype == torch.float64
    torch.testing.assert_close(out_aer, out_sv, atol=1e-6, rtol=0)
    for name in grads_sv:
        torch.testing.assert_close(grads_aer[name], grads_sv[name], atol=1e-6, rtol=0, msg=name)
    model.set_backend("statevector")
    torch.testing.assert_close(run_step(model, x)[0], out_sv, atol=1e-12, rtol=0)


@pytest.mark.parametrize("batch", [2, 4])
def test_one_estimator_call_per_time_step_of_a_training_step(batch):
    estimator = counting_estimator()
    steps = 3
    model = QLSTM(1, 3, backend=estimator, **SMALL)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.randn(steps, batch, 1, dtype=torch.float64)
    before = copy.deepcopy(model.state_dict())
    output, _ = model(x)
    output.square().mean().backward()
    optimizer.step()
    assert estimator.calls == steps  # target T; the bound is 2 T
    assert all(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        model(x)
    assert estimator.calls == 2 * steps


def test_backward_without_a_cached_forward_makes_one_call():
    estimator = counting_estimator()
    backend = get_backend("aer_statevector")
    executor = PrimitiveBackend(estimator, name="counting", computes="exact").compile(
        gate_circuit(CircuitSpec(n_qubits=2))
    )
    network = executor.network
    rows = np.random.default_rng(0).uniform(-1, 1, (3, network.num_inputs))
    network.needs_gradients = False
    network.forward(rows, None)
    grad, _ = network.backward(rows, None)
    assert estimator.calls == 2 and grad.shape == (3, network.output_shape[0], network.num_inputs)
    network.needs_gradients = True  # two forwards of equal rows: each backward finds its rows
    network.forward(rows, None)
    network.forward(rows, None)
    for _ in range(2):
        np.testing.assert_allclose(network.backward(rows, None)[0], grad, atol=1e-12)
    assert estimator.calls == 4 and network.pending_jacobians == 0
    reference = backend.compile(gate_circuit(CircuitSpec(n_qubits=2))).network
    reference.needs_gradients = True
    reference.forward(rows, None)
    np.testing.assert_allclose(reference.backward(rows, None)[0], grad, atol=1e-12)


# -- what each backend computes ---------------------------------------------------------------
def test_aer_statevector_equals_statevector():
    np.testing.assert_allclose(
        expectations(get_backend("aer_statevector")),
        expectations(get_backend("statevector")),
        atol=1e-9,
    )


def test_aer_shots_samples_the_requested_shots_within_shot_noise():
    shots = 2000
    exact = expectations(get_backend("statevector"))
    sampled = expectations(get_backend("aer_shots", shots=shots, seed=11))
    assert np.abs(sampled - exact).max() < 5 / math.sqrt(shots)
    assert np.abs(sampled - exact).max() > 0.1 / math.sqrt(shots)  # real sampling noise
    counts = sampled * shots  # <Z> = (n0 - n1) / shots: whole numbers of the parity of shots
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
    assert np.all(np.round(counts) % 2 == shots % 2)
    again = expectations(get_backend("aer_shots", shots=shots, seed=11))
    np.testing.assert_array_equal(again, sampled)
    other = expectations(get_backend("aer_shots", shots=shots, seed=12))
    assert not np.array_equal(other, sampled)


def test_sampling_estimator_rejects_a_precision():
    estimator = get_backend("aer_shots").estimator
    network = get_backend("aer_statevector").compile(gate_circuit(CircuitSpec(n_qubits=2))).network
    pub = (network.circuit, network.observables, np.zeros((1, 2, network.n_params)))
    with pytest.raises(
        ValueError,
        match=r"SamplingEstimator: precision must be None \(the shot "
        r"count, 1024, is fixed\), got 0.1",
    ):
        estimator.run([pub], precision=0.1)
    evs = estimator.run([pub]).result()[0].data.evs
    assert evs.shape == (2, 1, 2) and np.all(np.abs(evs) <= 1)


def test_noisy_expectation_values_contract_toward_zero():
    ideal = expectations(get_backend("aer_statevector"))
    noisy = expectations(get_backend("aer_noisy_exact"))
    assert np.abs(noisy - ideal).max() > 1e-3
    assert np.abs(noisy).sum() < 0.99 * np.abs(ideal).sum()
    again = expectations(get_backend("aer_noisy_exact"))
    np.testing.assert_array_equal(again, noisy)  # exact density-matrix values: deterministic


def test_readout_errors_change_sampled_results_as_predicted():
    shots = 4096
    ideal = expectations(get_backend("statevector"))
    readout = expectations(get_backend("aer_readout", seed=3))
    p01, p10 = 0.05, 0.1  # the profile's; Z read through the error: affine map of <Z>
    predicted = (p10 - p01) + (1 - p01 - p10) * ideal
    assert np.abs(readout - predicted).max() < 5 / math.sqrt(shots)
    assert np.abs(readout - ideal).max() > 6 / math.sqrt(shots)


def test_full_noise_profile_runs_and_differs_from_ideal():
    ideal = expectations(get_backend("statevector"), batch=2)
    noisy = expectations(get_backend("aer_noisy", seed=1, shots=2000), batch=2)
    assert np.abs(noisy - ideal).mean() > 0.02 and np.abs(noisy).max() <= 1


def test_param_shift_on_a_transpiled_noisy_circuit_matches_finite_differences():
    spec = CircuitSpec(n_qubits=2)
    executor = get_backend("aer_noisy_exact").compile(gate_circuit(spec))
    network = executor.network
    rows = np.random.default_rng(1).uniform(-2, 2, (2, network.num_inputs))
    network.needs_gradients = True
    network.forward(rows, None)
    grad = network.backward(rows, None)[0]
    network.needs_gradients = False
    eps = 1e-5
    for k in (0, 3, network.num_inputs - 1):
        step = np.zeros_like(rows)
        step[:, k] = eps
        numeric = (network.forward(rows + step, None) - network.forward(rows - step, None)) / (
            2 * eps
        )
        np.testing.assert_allclose(grad[:, :, k], numeric, atol=1e-6)


# -- gradients --------------------------------------------------------------------------------
def test_spsa_is_seeded_and_points_along_the_gradient():
    x = torch.randn(2, 3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model = QLSTM(1, 3, **SMALL)
    exact = run_step(model, x)[1]
    model.set_backend(
        "aer_statevector", gradient="spsa", seed=7, spsa_samples=64, spsa_epsilon=1e-3
    )
    first = run_step(model, x)[1]
    model.set_backend(
        "aer_statevector", gradient="spsa", seed=7, spsa_samples=64, spsa_epsilon=1e-3
    )
    second = run_step(model, x)[1]
    for name in exact:
        torch.testing.assert_close(first[name], second[name], atol=0, rtol=0)
    a, b = exact["cell_l0.weight_q"].flatten(), first["cell_l0.weight_q"].flatten()
    assert torch.dot(a, b) / (a.norm() * b.norm()) > 0.9


# -- user objects -----------------------------------------------------------------------------
def test_backend_and_estimator_objects_are_accepted():
    x = torch.randn(2, 2, 1, dtype=torch.float64)
    model = QLSTM(1, 3, **SMALL)
    exact = model(x)[0].detach()
    model.set_backend(AerEstimator(options={"default_precision": 0.0}))
    assert model.backend.computes == "estimator"
    torch.testing.assert_close(model(x)[0].detach(), exact, atol=1e-6, rtol=0)
    model.set_backend(AerSimulator(), shots=4000, seed=3)
    assert model.backend.computes == "sampled" and model.backend.name == "aer_simulator"
    sampled = model(x)[0].detach()
    assert 0 < (sampled - exact).abs().max() < 0.1
    assert QLSTM(1, 3, backend=AerSimulator(), **SMALL).backend.options()["shots"] == 1024


@pytest.mark.filterwarnings("ignore:Qiskit backend .* has no QubitProperties")
def test_backend_object_with_a_coupling_map_lays_out_the_observables():
    from qiskit.providers.fake_provider import GenericBackendV2
    from qiskit.transpiler import CouplingMap

    spec, shots = CircuitSpec(n_qubits=3), 4000
    device = GenericBackendV2(
        num_qubits=5, seed=3, noise_info=False, coupling_map=CouplingMap.from_line(5)
    )
    backend = resolve_backend("test", device, {"shots": shots, "seed": 2})
    isa = backend.compile(gate_circuit(spec)).network.circuit
    assert isa.num_qubits == 5 and isa.layout is not None  # ISA: device width, routed
    exact = expectations(get_backend("statevector"), spec=spec)
    assert np.abs(expectations(backend, spec=spec) - exact).max() < 5 / math.sqrt(shots)


@pytest.mark.parametrize(
    "backend, options, error, message",
    [
        (
            AerEstimator(),
            {"shots": 10},
            ValueError,
            r"QLSTM.set_backend: option\(s\) 'shots' do not apply to a BaseEstimatorV2; valid "
            r"options: "
            r"gradient, seed, spsa_samples, spsa_epsilon",
        ),
        (
            AerSimulator(),
            {"method": "statevector"},
            ValueError,
            r"option\(s\) 'method' do not apply to a BackendV2; valid options: gradient, shots",
        ),
        (AerSimulator(), {"gradient": "finite"}, ValueError, r"gradient must be one of"),
        (AerEstimator(), {"seed": 3}, ValueError, r"seed applies only to sampled backends"),
        (
            object(),
            {},
            TypeError,
            r"QLSTM.set_backend: backend must be a backend name \(one of "
            r"aer_noisy, .*\), a QuantumBackend, a Qiskit BackendV2 or a "
            r"BaseEstimatorV2, got object",
        ),
    ],
)
def test_backend_object_errors(backend, options, error, message):
    with pytest.raises(error, match=message):
        QLSTM(1, 3, **SMALL).set_backend(backend, **options)


def test_model_shots_argument_reaches_a_named_sampling_backend():
    model = QLSTM(1, 2, n_qubits=2, backend="aer_shots", shots=200, seed=0)
    assert model.backend.options()["shots"] == 200
    assert all(cell.backend is model.backend for cell in model.cells())
    cell = QLSTMCell(1, 2, n_qubits=2, backend="aer_shots", shots=300)
    assert cell.backend.options()["shots"] == 300


@pytest.mark.parametrize("backend", ["aer_shots", AerSimulator()])
def test_a_seed_reproduces_the_shot_noise_stream_without_repeating_it(backend):
    x = torch.randn(2, 2, 1, generator=torch.Generator().manual_seed(0))

    def two_calls():
        model = QLSTM(1, 2, n_qubits=2, seed=0).set_backend(backend, shots=200, seed=5)
        with torch.no_grad():
            return model(x)[0], model(x)[0]

    first, second = two_calls()
    assert not torch.equal(first, second)  # every call samples afresh
    again = two_calls()
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])  # the seed reproduces


def test_a_user_backend_says_whether_it_is_noisy():
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(0.01, 1), ["sx"])
    assert resolve_backend("t", AerSimulator(), {}).computes == "sampled"
    assert resolve_backend("t", AerSimulator(noise_model=noise), {}).computes == "noisy"
