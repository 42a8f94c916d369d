"""The density_matrix backend against Qiskit Aer itself (no mocks): exact noisy values equal Aer's
density-matrix simulation with the same noise model (a profile's table, fake_manila,
fake_brisbane) on the product and the evolution path; readout through the assignment matrices;
autograd gradients (gradcheck, parameter shift on Aer); noise scaling; sampled values; QLSTM on
the backend; the errors; chunked evolution."""

import copy
import importlib.util
import math

import numpy as np
import pytest
import torch
from qiskit import transpile
from qiskit_aer import AerSimulator
from qiskit_aer.noise import (
    NoiseModel,
    ReadoutError,
    amplitude_damping_error,
    depolarizing_error,
    pauli_error,
    phase_damping_error,
)
from torch.utils.checkpoint import checkpoint

import qlstm_qiskit.sim.density as density
from qlstm_qiskit import QLSTM, get_backend, list_backends
from qlstm_qiskit.backends.density import DensityMatrixBackend
from qlstm_qiskit.backends.device_noise import device_noise_model
from qlstm_qiskit.backends.noise import noise_model, scaled_noise
from qlstm_qiskit.backends.profile_files import builtin_dir, load_profile
from qlstm_qiskit.circuits import CircuitSpec, gate_circuit

#: exact values against Aer (float64 on both sides, or Aer's float32 TorchConnector output)
TOL = 1e-6
DEVICES = ("fake_manila", "fake_brisbane")
HAS_RUNTIME = importlib.util.find_spec("qiskit_ibm_runtime") is not None
needs_runtime = pytest.mark.skipif(
    not HAS_RUNTIME,
    reason="fake devices need qiskit-ibm-runtime",
)

# (n_qubits, n_qlayers, encoding, entangling, measure): 1..5 qubits, each encoding 6 times, each
# entangler at least 3 times, each measurement 4 times; product and evolution paths both run
SPECS = [
    (1, 1, "arctan", "ring", "Z"),
    (1, 2, "angle", "none", "X"),
    (2, 1, "angle", "ring", "Y"),
    (2, 2, "arctan", "linear", "Z"),
    (2, 2, "arctan", "none", "Y"),
    (3, 1, "arctan", "linear", "X"),
    (3, 2, "angle", "ring", "Z"),
    (3, 2, "arctan", "ring", "Y"),
    (4, 1, "angle", "none", "Z"),
    (4, 2, "angle", "linear", "X"),
    (5, 1, "arctan", "ring", "X"),
    (5, 2, "angle", "ring", "Y"),
]
PRODUCT_SPEC = CircuitSpec(n_qubits=2)  # inputs only before the first CNOT
EVOLUTION_SPEC = CircuitSpec(n_qubits=2, n_qlayers=2)  # re-uploaded after the CNOTs


def spec_of(case) -> CircuitSpec:
    n_qubits, n_qlayers, encoding, entangling, measure = case
    return CircuitSpec(
        n_qubits=n_qubits,
        n_qlayers=n_qlayers,
        encoding=encoding,
        entangling=entangling,
        measure=measure,
    )


def case_id(case) -> str:
    return "-".join(map(str, case))


def product_expected(spec: CircuitSpec) -> bool:
    """Whether the inputs enter only before every CNOT (the product path)."""
    return spec.n_qlayers == 1 or spec.entangling == "none" or spec.n_qubits == 1


def random_arguments(spec, batch=2, seed=0, dtype=torch.float64):
    """Weights ``(4, n_weights)`` in [0, 2 pi) and inputs ``(4, batch, n_inputs)`` in [-3, 3)."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(4, spec.n_weights, generator=generator, dtype=torch.float64) * 2 * math.pi
    inputs = torch.rand(4, batch, spec.n_inputs, generator=generator, dtype=torch.float64) - 0.5
    return weights.to(dtype), (6 * inputs).to(dtype)


def values(backend, spec, batch=2, seed=0, dtype=torch.float64) -> torch.Tensor:
    """The executor's values for :func:`random_arguments`, without gradients."""
    weights, inputs = random_arguments(spec, batch, seed, dtype)
    with torch.no_grad():
        return backend.compile(gate_circuit(spec)).bind(weights).expectation(inputs)


def profile_noise(name: str) -> tuple[dict, list]:
    profile = load_profile(builtin_dir() / f"{name}.toml")
    return dict(profile.noise), list(profile.options["basis_gates"])


def write_profile(folder, name, noise: dict) -> None:
    table = "\n".join(f"{k} = {float(v)!r}" for k, v in noise.items())
    (folder / f"{name}.toml").write_text(
        'description = "test"\nkind = "density"\ncomputes = "noisy"\ngradient = "autograd"\n'
        '[options]\nbasis_gates = ["rz", "sx", "x", "cx"]\noptimization_level = 1\n'
        f"[noise]\n{table}\n"
    )


# -- values against Aer -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def aer_noisy_exact():
    """(density_matrix on aer_noisy_exact's noise, aer_noisy_exact itself)."""
    return (
        get_backend("density_matrix", noise_from="aer_noisy_exact"),
        get_backend("aer_noisy_exact"),
    )


@pytest.mark.parametrize("case", SPECS, ids=case_id)
def test_values_equal_aer_noisy_exact(aer_noisy_exact, case):
    ours, aer = aer_noisy_exact
    spec = spec_of(case)
    assert ours.compile(gate_circuit(spec)).program.product == product_expected(spec)
    theirs = values(aer, spec)
    torch.testing.assert_close(values(ours, spec), theirs, atol=TOL, rtol=0)
    ideal = values(get_backend("statevector"), spec)
    assert (theirs - ideal).abs().max() > 1e-3  # the noise is there


@pytest.fixture(scope="module")
def devices():
    """name -> (fake device, the noise model its simulator runs, density_matrix backend)."""
    from qlstm_qiskit.backends.transpile import cached_device

    found = {}
    for name in DEVICES:
        device = cached_device("fake", name)
        model = device_noise_model(device)
        found[name] = (device, model, get_backend("density_matrix", noise_from=name))
    return found


def aer_values(spec, transpiled, model, readout, weights, inputs) -> np.ndarray:
    """Aer's density-matrix values ``(4, B, n_qubits)`` of the transpiled gate circuit, each
    ``<Z>`` read on its laid-out qubit through that qubit's readout error (``readout``: qubit ->
    ``ReadoutError.probabilities``; Aer's saved states have no readout error, its assignment
    matrix acts on the saved diagonal).

    Saved one-qubit density matrices, not ``save_expectation_value``: with idle qubits truncated
    away, Aer (0.17, 0.18) evaluates a subsystem expectation value on the wrong qubits
    (Qiskit/qiskit-aer#2442)."""
    gate = gate_circuit(spec)
    qubits = []
    for observable in gate.observables:
        if transpiled.layout is not None:
            observable = observable.apply_layout(transpiled.layout)
        (term,) = observable.paulis
        assert not term.x.any() and term.z.sum() == 1
        qubits.append(int(np.flatnonzero(term.z)[0]))
    circuits = []
    for g in range(4):
        for b in range(inputs.shape[1]):
            bound = dict(zip(gate.weights, weights[g].tolist(), strict=True))
            bound.update(zip(gate.inputs, inputs[g, b].tolist(), strict=True))
            circuit = transpiled.assign_parameters(bound, strict=False)
            for k, q in enumerate(qubits):
                circuit.save_density_matrix(qubits=[q], label=f"rho{k}")
            circuits.append(circuit)
    result = AerSimulator(method="density_matrix", noise_model=model).run(circuits).result()
    out = np.empty((len(circuits), len(qubits)))
    for i in range(len(circuits)):
        for k, q in enumerate(qubits):
            (p0, p1) = np.diag(np.asarray(result.data(i)[f"rho{k}"])).real
            (_, p01), (p10, _) = readout.get(q, np.eye(2))  # [[P(0|0), P(1|0)], [P(0|1), P(1|1)]]
            out[i, k] = (1 - p01 - p10) * (p0 - p1) + (p10 - p01) * (p0 + p1)
    return out.reshape(4, inputs.shape[1], len(qubits))


def aer_device_values(device, model, spec, weights, inputs) -> np.ndarray:
    """:func:`aer_values` on the backend's seeded ISA circuit of a fake device, with its
    readout errors."""
    from qiskit_aer.noise.device import basic_device_readout_errors

    from qlstm_qiskit.backends.transpile import cached_pass_manager

    isa = cached_pass_manager(device, 1).run(gate_circuit(spec).circuit)  # cached: the backend's
    errors = basic_device_readout_errors(properties=device.properties())
    readout = {qubits[0]: np.asarray(error.probabilities) for qubits, error in errors}
    return aer_values(spec, isa, model, readout, weights, inputs)


@needs_runtime
@pytest.mark.parametrize("name", DEVICES)
@pytest.mark.parametrize("case", SPECS, ids=case_id)
def test_values_equal_aer_on_fake_device_isa_circuits(devices, name, case):
    device, model, backend = devices[name]
    spec = spec_of(case)
    executor = backend.compile(gate_circuit(spec))
    assert executor.program.product == (
        product_expected(spec) and len(executor.compact.physical) <= density.PRODUCT_MAX_QUBITS
    )
    weights, inputs = random_arguments(spec, seed=len(name))
    with torch.no_grad():
        ours = executor.bind(weights).expectation(inputs)
    theirs = aer_device_values(device, model, spec, weights, inputs)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=TOL, rtol=0)


HAND_MADE_READOUT = {0: [[0.95, 0.05], [0.1, 0.9]], None: [[0.97, 0.03], [0.02, 0.98]]}


def hand_made_model() -> NoiseModel:
    """Errors on the virtual ``rz`` too (so that the input rotations carry channels), a local
    error on qubit 1, relaxation on the CNOTs, readout errors local to qubit 0 and on all."""
    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    damping = amplitude_damping_error(0.02).compose(phase_damping_error(0.03))
    model.add_all_qubit_quantum_error(damping, ["rz"])
    model.add_all_qubit_quantum_error(depolarizing_error(0.01, 1), ["sx", "x"])
    model.add_quantum_error(pauli_error([("X", 0.02), ("I", 0.98)]), ["sx"], [1], warnings=False)
    pair = amplitude_damping_error(0.01).tensor(phase_damping_error(0.02))
    model.add_all_qubit_quantum_error(pair.compose(depolarizing_error(0.03, 2)), ["cx"])
    for qubit, probabilities in HAND_MADE_READOUT.items():
        if qubit is None:
            model.add_all_qubit_readout_error(ReadoutError(probabilities))
        else:
            model.add_readout_error(ReadoutError(probabilities), [qubit])
    return model


@pytest.mark.parametrize("case", [SPECS[i] for i in (2, 3, 6, 10)], ids=case_id)
def test_values_equal_aer_with_a_hand_made_noise_model(case):
    model = hand_made_model()
    spec = spec_of(case)
    executor = get_backend("density_matrix", noise_from=model).compile(gate_circuit(spec))
    assert executor.program.product == product_expected(spec)
    basis = ["rz", "sx", "x", "cx"]
    transpiled = transpile(gate_circuit(spec).circuit, basis_gates=basis, optimization_level=1)
    readout = {
        q: np.asarray(HAND_MADE_READOUT.get(q, HAND_MADE_READOUT[None]))
        for q in range(spec.n_qubits)
    }
    weights, inputs = random_arguments(spec, seed=9)
    with torch.no_grad():
        ours = executor.bind(weights).expectation(inputs)
    theirs = aer_values(spec, transpiled, model, readout, weights, inputs)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=TOL, rtol=0)


# -- readout --------------------------------------------------------------------------------------
def test_readout_is_the_assignment_map_of_the_exact_noisy_values(tmp_path):
    """Per qubit ``A = [[1 - p01, p10], [p01, 1 - p10]]`` on ``(P0, P1)``: ``<Z'> = (1 - p01 -
    p10) <Z> + (p10 - p01) tr rho``. (``tr rho`` falls short of 1 by about 1e-9, as in Aer: Aer
    drops error terms under 1e-10 without renormalising, and the engine does as Aer does.)"""
    noise, _ = profile_noise("density_matrix")
    p01, p10 = noise["readout_p01"], noise["readout_p10"]
    assert p01 > 0 and p10 > 0 and p01 != p10
    gate_only = {k: v for k, v in noise.items() if not k.startswith("readout_")}
    write_profile(tmp_path, "density_gate_noise", gate_only)
    without = get_backend("density_gate_noise", profile_dir=tmp_path)
    with_readout = get_backend("density_matrix")
    for spec in (PRODUCT_SPEC, EVOLUTION_SPEC, CircuitSpec(n_qubits=3, measure="X")):
        weights, inputs = random_arguments(spec, batch=3)
        circuit = gate_circuit(spec)
        with torch.no_grad():
            probabilities, exact = (
                without.compile(circuit).bind(weights).probabilities_and_values(inputs)
            )
            read = with_readout.compile(circuit).bind(weights).expectation(inputs)
        trace = probabilities.sum(-1, keepdim=True)
        assert (trace - 1).abs().max() < 1e-8
        expected = (1 - p01 - p10) * exact + (p10 - p01) * trace
        torch.testing.assert_close(read, expected, atol=1e-13, rtol=0)
        assert (read - exact).abs().max() > 1e-2


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "noise_from, spec, product",
    [
        (None, PRODUCT_SPEC, True),
        (None, EVOLUTION_SPEC, False),
        pytest.param("fake_brisbane", PRODUCT_SPEC, True, marks=needs_runtime),
        pytest.param("fake_brisbane", EVOLUTION_SPEC, False, marks=needs_runtime),
    ],
    ids=["product", "evolution", "brisbane-product", "brisbane-evolution"],
)
def test_gradcheck_in_float64(noise_from, spec, product):
    backend = get_backend("density_matrix", noise_from=noise_from)
    executor = backend.compile(gate_circuit(spec))
    assert executor.program.product is product
    weights, inputs = random_arguments(spec, batch=2, seed=3)
    weights.requires_grad_(True)
    inputs.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda w, x: executor.bind(w).expectation(x), (weights, inputs), atol=1e-7
    )


def evaluate(executor, spec, seed, batch=3):
    """Values and the gradients (weights, inputs) of a fixed weighted sum of them."""
    weights, inputs = random_arguments(spec, batch=batch, seed=seed)
    weights.requires_grad_(True)
    inputs.requires_grad_(True)
    out = executor.bind(weights).expectation(inputs)
    out.sin().sum().backward()
    return out.detach(), weights.grad, inputs.grad


@pytest.mark.parametrize(
    "noise_from, case",
    [
        (None, (3, 1, "arctan", "linear", "X")),
        pytest.param("fake_manila", (5, 1, "arctan", "ring", "X"), marks=needs_runtime),
    ],
    ids=["density_matrix", "fake_manila"],
)
def test_product_and_evolution_give_the_same_values_and_gradients(noise_from, case):
    spec = spec_of(case)
    results = []
    for product in (True, False):
        executor = get_backend("density_matrix", noise_from=noise_from).compile(gate_circuit(spec))
        assert executor.program.product
        executor.program.product = product  # the evolution evaluates any circuit
        results.append(evaluate(executor, spec, seed=5))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("spec", [PRODUCT_SPEC, EVOLUTION_SPEC], ids=["product", "evolution"])
def test_gradients_equal_parameter_shift_on_aer_noisy_exact(aer_noisy_exact, spec):
    """Aer's parameter-shift gradients through TorchConnector (float32 results)."""
    grads = []
    for backend in aer_noisy_exact:
        weights, inputs = random_arguments(spec, batch=2, seed=4)
        weights.requires_grad_(True)
        inputs.requires_grad_(True)
        out = backend.compile(gate_circuit(spec)).bind(weights).expectation(inputs)
        coefficients = torch.linspace(-1, 2, out.numel(), dtype=torch.float64).reshape(out.shape)
        (out * coefficients).sum().backward()
        grads.append((weights.grad, inputs.grad))
    (w_ours, x_ours), (w_aer, x_aer) = grads
    assert w_ours.abs().max() > 0.1 and x_ours.abs().max() > 0.1
    torch.testing.assert_close(w_ours, w_aer, atol=1e-5, rtol=0)
    torch.testing.assert_close(x_ours, x_aer, atol=1e-5, rtol=0)


def test_chunked_evolution_equals_one_chunk(monkeypatch):
    spec = CircuitSpec(n_qubits=3, n_qlayers=2)
    executor = get_backend("density_matrix").compile(gate_circuit(spec))
    assert not executor.program.product
    whole = evaluate(executor, spec, seed=6, batch=5)
    chunks = []

    def counted(function, *args, **kwargs):
        chunks.append(args[0].shape[1])
        return checkpoint(function, *args, **kwargs)

    monkeypatch.setattr(density, "checkpoint", counted)
    monkeypatch.setattr(density, "CHUNK_ELEMENTS", 2 * 4 * 8 * 8)  # two rows of 4 circuits
    chunked = evaluate(executor, spec, seed=6, batch=5)
    assert chunks == [2, 2, 1]
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


# -- noise scaling --------------------------------------------------------------------------------
@pytest.mark.parametrize("noise_from", [None, "aer_noisy", "fake_manila"])
def test_noise_scale_zero_equals_statevector(noise_from):
    if noise_from == "fake_manila" and not HAS_RUNTIME:
        pytest.skip("fake devices need qiskit-ibm-runtime")
    backend = get_backend("density_matrix", noise_from=noise_from, noise_scale=0)
    ideal = get_backend("statevector")
    for spec in (PRODUCT_SPEC, EVOLUTION_SPEC, CircuitSpec(n_qubits=3, measure="Y")):
        torch.testing.assert_close(values(backend, spec), values(ideal, spec), atol=1e-10, rtol=0)


@pytest.mark.parametrize("profile", ["density_matrix", "aer_noisy_exact"])
def test_noise_scale_two_equals_the_scaled_table(profile):
    noise, basis = profile_noise(profile)
    scaled = get_backend(
        "density_matrix", noise_scale=2, noise_from=None if profile == "density_matrix" else profile
    )
    model = noise_model(scaled_noise(noise, 2), basis)
    reference = get_backend("density_matrix", noise_from=model)
    plain = get_backend("density_matrix", noise_from=profile)
    for spec in (PRODUCT_SPEC, EVOLUTION_SPEC):
        doubled = values(scaled, spec)
        torch.testing.assert_close(doubled, values(reference, spec), atol=1e-10, rtol=0)
        assert (doubled - values(plain, spec)).abs().max() > 1e-3


# -- shots ----------------------------------------------------------------------------------------
def test_sampled_values_are_seeded_shot_noise_around_the_exact_values():
    shots = 2000
    spec = CircuitSpec(n_qubits=3, n_qlayers=2)
    exact = values(get_backend("density_matrix"), spec, batch=3)
    backend = get_backend("density_matrix", shots=shots, seed=11)
    assert backend.computes == "noisy"
    first, second = values(backend, spec, batch=3), values(backend, spec, batch=3)
    for sampled in (first, second):
        assert (sampled - exact).abs().max() < 5 / math.sqrt(shots)
        assert (sampled - exact).abs().max() > 0.1 / math.sqrt(shots)
        counts = (sampled * shots).numpy()  # <Z> = (n0 - n1) / shots
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
        assert np.all(np.round(counts) % 2 == shots % 2)
    assert not torch.equal(first, second)  # fresh shot noise per call
    again = values(get_backend("density_matrix", shots=shots, seed=11), spec, batch=3)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    other = values(get_backend("density_matrix", shots=shots, seed=12), spec, batch=3)
    assert not torch.equal(other, first)


@pytest.mark.parametrize("spec", [PRODUCT_SPEC, EVOLUTION_SPEC], ids=["product", "evolution"])
def test_sampled_values_have_the_exact_gradient(spec):
    grads = []
    for shots in (None, 500):
        backend = get_backend("density_matrix", shots=shots, seed=None if shots is None else 2)
        weights, inputs = random_arguments(spec, seed=8)
        weights.requires_grad_(True)
        inputs.requires_grad_(True)
        out = backend.compile(gate_circuit(spec)).bind(weights).expectation(inputs)
        (out * torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
        grads.append((weights.grad, inputs.grad))
    for exact, sampled in zip(*grads, strict=True):
        torch.testing.assert_close(sampled, exact, atol=1e-12, rtol=0)


# -- QLSTM on the backend -------------------------------------------------------------------------
def test_qlstm_trains_one_step_on_density_matrix():
    model = QLSTM(2, 3, n_qubits=2, backend="density_matrix", seed=1, dtype=torch.float64)
    x = torch.randn(3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    output, (h_n, c_n) = model(x)
    (output.square().mean() + c_n.square().mean()).backward()
    optimizer.step()
    assert all(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_statevector_weights_run_on_density_matrix_and_fake_manila():
    x = torch.randn(3, 2, 2, generator=torch.Generator().manual_seed(1))
    trained = QLSTM(2, 3, n_qubits=3, seed=2)
    optimizer = torch.optim.Adam(trained.parameters(), lr=0.05)
    trained(x)[0].square().mean().backward()
    optimizer.step()
    with torch.no_grad():
        ideal = trained(x)[0]
    model = QLSTM(2, 3, n_qubits=3, backend="density_matrix")
    assert model.state_dict().keys() == trained.state_dict().keys()
    model.load_state_dict(trained.state_dict())
    with torch.no_grad():
        noisy = model(x)[0]
    assert noisy.dtype == torch.float32 and noisy.shape == ideal.shape
    assert 1e-4 < (noisy - ideal).abs().max() < 0.2
    if not HAS_RUNTIME:
        return
    assert model.set_backend("density_matrix", noise_from="fake_manila") is model
    assert isinstance(model.backend, DensityMatrixBackend)
    with torch.no_grad():
        device = model(x)[0]
    assert device.dtype == torch.float32 and torch.isfinite(device).all()
    assert 1e-4 < (device - ideal).abs().max() < 0.5


def test_float32_executor_follows_float64_values():
    backend = get_backend("density_matrix")
    for spec in (PRODUCT_SPEC, EVOLUTION_SPEC):
        single = values(backend, spec, dtype=torch.float32)
        assert single.dtype == torch.float32
        torch.testing.assert_close(single.double(), values(backend, spec), atol=1e-5, rtol=0)


# -- errors and description -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (
            {"noise_from": "aer_magic"},
            ValueError,
            r"backend 'density_matrix': noise_from must be a profile with a \[noise\] table "
            r"\(one of aer_noisy, aer_noisy_exact, .*density_matrix.*\), a fake device name "
            r"\(fake_<device>\) or a qiskit_aer NoiseModel, got 'aer_magic'",
        ),
        (
            {"noise_from": "statevector"},
            ValueError,
            r"noise_from must be a profile with a \[noise\] table .* got 'statevector'",
        ),
        (
            {"noise_from": 3},
            TypeError,
            r"get_backend: noise_from must be a profile name, a fake device name "
            r"\(fake_<device>\) or a qiskit_aer NoiseModel, got int",
        ),
        (
            {"noise_from": "aer_noisy", "basis_gates": ["rz", "sx", "x", "cx"]},
            ValueError,
            r"get_backend: basis_gates applies only to the profile's own \[noise\] table; "
            r"noise_from='aer_noisy' brings its own",
        ),
        (
            {"noise_scale": -0.5},
            ValueError,
            r"get_backend: noise_scale must be >= 0.0, got -0.5",
        ),
        (
            {"noise_scale": "2"},
            TypeError,
            r"get_backend: noise_scale must be a number, got str",
        ),
        (
            {"seed": 3},
            ValueError,
            r"get_backend: seed applies only to sampled backends \(shots\)",
        ),
        (
            {"gradient": "param_shift"},
            ValueError,
            r"gradient must be one of 'autograd' for a 'density' backend, got 'param_shift'",
        ),
        (
            {"method": "statevector"},
            ValueError,
            r"unknown option\(s\) 'method' for backend 'density_matrix'; valid options: gradient, "
            r"noise_from, noise_scale, shots, seed, basis_gates, optimization_level",
        ),
    ],
)
def test_get_backend_errors(overrides, error, message):
    with pytest.raises(error, match=message):
        get_backend("density_matrix", **overrides)


@needs_runtime
def test_unknown_fake_device_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown fake device 'fake_nowhere'; valid .*fake_manila"
    ):
        get_backend("density_matrix", noise_from="fake_nowhere")


def test_more_qubits_than_the_engine_takes_names_aer_noisy():
    backend = get_backend("density_matrix")
    n = density.MAX_QUBITS + 1
    with pytest.raises(
        ValueError,
        match=rf"density_matrix: a {n}-qubit circuit .* above the engine's limit of "
        rf"{density.MAX_QUBITS} qubits; use the aer_noisy backend",
    ):
        backend.compile(gate_circuit(CircuitSpec(n_qubits=n, entangling="none")))


def test_repr_and_list_backends_say_what_it_computes():
    assert "density_matrix" in list_backends()
    backend = get_backend("density_matrix")
    assert backend.computes == "noisy"
    assert repr(backend) == (
        "DensityMatrixBackend(name='density_matrix', noise_scale=1.0, "
        "basis_gates=['rz', 'sx', 'x', 'cx'], optimization_level=1)"
    )
    noise, basis = profile_noise("aer_noisy")
    shown = get_backend(
        "density_matrix", noise_from=noise_model(noise, basis), shots=10, seed=4, noise_scale=0.5
    )
    assert repr(shown) == (
        "DensityMatrixBackend(name='density_matrix', noise_from='NoiseModel', noise_scale=0.5, "
        "shots=10, seed=4, optimization_level=1)"
    )
    named = get_backend("density_matrix", noise_from="aer_noisy_exact")
    assert "noise_from='aer_noisy_exact'" in repr(named) and "basis_gates" not in repr(named)


@pytest.mark.parametrize(
    ("options", "computes"),
    [
        ({}, "noisy"),
        ({"shots": 100}, "noisy"),
        ({"noise_scale": 0.0}, "exact"),
        ({"noise_scale": 0.0, "shots": 100}, "sampled"),
        ({"noise_from": "aer_noisy", "noise_scale": 0.0}, "exact"),
    ],
)
def test_computes_says_what_the_options_compute(options, computes):
    assert get_backend("density_matrix", **options).computes == computes
