"""backends.noise_channels against Qiskit Aer itself (no mocks): a density matrix evolved
instruction by instruction (the gate, then the channel of instruction_channels) equals Aer's
density-matrix simulation with the same noise model, on profile, hand-made and fake-device models;
readout assignment matrices against the readout errors and Aer's sampled counts; noise scaling;
compact circuits; where the noise comes from."""

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, transpile
from qiskit.circuit.library import RXGate, XGate
from qiskit.quantum_info import (
    DensityMatrix,
    Operator,
    PauliList,
    SparsePauliOp,
    SuperOp,
    random_unitary,
)
from qiskit_aer import AerSimulator
from qiskit_aer.noise import (
    NoiseModel,
    QuantumError,
    ReadoutError,
    amplitude_damping_error,
    depolarizing_error,
    pauli_error,
    phase_damping_error,
    reset_error,
)
from qiskit_aer.noise.errors import PauliLindbladError

from qlstm_qiskit.backends.device_noise import device_noise_model
from qlstm_qiskit.backends.noise import noise_model
from qlstm_qiskit.backends.noise_channels import (
    compact,
    instruction_channels,
    readout_assignments,
    scaled_channel,
)
from qlstm_qiskit.backends.profile_files import builtin_dir, load_profile
from qlstm_qiskit.circuits import CircuitSpec, gate_circuit

pytest.importorskip("qiskit_ibm_runtime")
from qlstm_qiskit.backends.devices import cached_pass_manager  # noqa: E402
from qlstm_qiskit.backends.ibm_runtime import fake_device  # noqa: E402

TOL = 1e-9
BASIS = ["rz", "sx", "x", "cx"]


def reference(small, channels) -> DensityMatrix:
    """|0..0> evolved by each instruction's ideal superoperator, then its channel."""
    assert len(channels) == len(small.circuit.data)
    rho = DensityMatrix.from_label("0" * small.circuit.num_qubits)
    index = {bit: i for i, bit in enumerate(small.circuit.qubits)}
    for instruction, channel in zip(small.circuit.data, channels, strict=True):
        qubits = [index[bit] for bit in instruction.qubits]
        rho = rho.evolve(SuperOp(instruction.operation), qargs=qubits)
        if channel is not None:
            assert channel.shape == (4 ** len(qubits),) * 2
            rho = rho.evolve(SuperOp(channel), qargs=qubits)
    return rho


def aer_density(circuit, model, qubits) -> np.ndarray:
    """Aer's noisy density matrix of ``circuit`` reduced to ``qubits`` (in that order)."""
    circuit = circuit.copy()
    circuit.save_density_matrix(qubits=list(qubits))
    result = AerSimulator(method="density_matrix", noise_model=model).run(circuit).result()
    return np.asarray(result.data()["density_matrix"])


def check_against_aer(circuit, model, observables=()):
    """Compact ``circuit`` (bound), and check our evolution against Aer's; returns the compact
    circuit and its channels."""
    small = compact(circuit, list(observables))
    channels = instruction_channels(model, small)
    ours = reference(small, channels)
    theirs = aer_density(circuit, model, small.physical)
    np.testing.assert_allclose(ours.data, theirs, atol=TOL, rtol=0)
    for observable in small.observables:
        expected = np.real(np.trace(observable.to_matrix() @ theirs))
        assert abs(ours.expectation_value(observable).real - expected) < TOL
    return small, channels


def random_bound(circuit, seed):
    values = np.random.default_rng(seed).uniform(-math.pi, math.pi, circuit.num_parameters)
    return circuit.assign_parameters(dict(zip(circuit.parameters, values, strict=True)))


def profile_model(name):
    profile = load_profile(builtin_dir() / f"{name}.toml")
    return noise_model(profile.noise, profile.options["basis_gates"])


DEVICES = ("fake_manila", "fake_brisbane")


@pytest.fixture(scope="module")
def devices():
    """name -> (fake device, its noise model), built once."""
    return {name: (fake_device(name), device_noise_model(fake_device(name))) for name in DEVICES}


def isa(device, n_qubits, seed=0):
    """A bound ISA gate circuit of ``device`` and its laid-out observables."""
    gate = gate_circuit(CircuitSpec(n_qubits=n_qubits))
    transpiled = cached_pass_manager(device, 1).run(gate.circuit)
    observables = [o.apply_layout(transpiled.layout) for o in gate.observables]
    return random_bound(transpiled, seed), observables


# -- channels against Aer -----------------------------------------------------------------------
@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_profile_noise_matches_aer_density_matrix(n_qubits):
    model = profile_model("aer_noisy_exact")
    gate = gate_circuit(CircuitSpec(n_qubits=n_qubits))
    circuit = transpile(random_bound(gate.circuit, n_qubits), basis_gates=BASIS)
    small, channels = check_against_aer(circuit, model, gate.observables)
    names = [i.operation.name for i in small.circuit.data]
    assert all((c is None) == (n == "rz") for n, c in zip(names, channels, strict=True))
    assert small.physical == tuple(range(n_qubits))


def test_random_circuit_with_idle_qubits_matches_aer():
    from qiskit.circuit.random import random_circuit

    circuit = QuantumCircuit(5)
    circuit.compose(random_circuit(3, 6, max_operands=2, seed=7), [4, 0, 2], inplace=True)
    circuit = transpile(circuit, basis_gates=BASIS, optimization_level=0)
    small, _ = check_against_aer(circuit, profile_model("aer_noisy"))
    assert small.physical == (0, 2, 4)


@pytest.mark.parametrize("name", DEVICES)
@pytest.mark.parametrize("n_qubits", [2, 3])
def test_fake_device_noise_matches_aer_density_matrix(devices, name, n_qubits):
    device, model = devices[name]
    circuit, observables = isa(device, n_qubits, seed=n_qubits)
    small, channels = check_against_aer(circuit, model, observables)
    assert len(small.physical) == n_qubits and sum(c is not None for c in channels) > n_qubits


def test_hand_made_model_matches_aer_and_aer_matching_rules():
    """Local errors win over all-qubit ones, errors on one instruction and qubits compose in the
    order added, gates are matched by label, qubit order matters, PauliLindblad errors, reset,
    Kraus, unitary and standard-gate error terms, terms below Aer's threshold dropped."""
    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx", "h", "rx"])
    depolarizing = depolarizing_error(0.05, 1)
    model.add_all_qubit_quantum_error(depolarizing, ["sx", "x"], warnings=False)
    damping, rotation = amplitude_damping_error(0.2), QuantumError(Operator(RXGate(0.4)))
    model.add_quantum_error(damping, ["x"], [1], warnings=False)
    model.add_quantum_error(rotation, ["x"], [1], warnings=False)
    pauli = pauli_error([("XY", 0.1), ("IZ", 0.2), ("II", 0.7)])
    model.add_quantum_error(pauli, ["cx"], [0, 1], warnings=False)
    pair = amplitude_damping_error(0.1).tensor(phase_damping_error(0.3))
    model.add_all_qubit_quantum_error(pair, ["cx"], warnings=False)
    term = QuantumCircuit(1)
    term.h(0)
    term.rx(0.3, 0)
    model.add_quantum_error(QuantumError([(term, 0.3), (QuantumCircuit(1), 0.7)]), "h", [2])
    model.add_quantum_error(reset_error(0.1, 0.05), ["rx"], [0])
    model.add_quantum_error(QuantumError(random_unitary(2, seed=3)), ["rx"], [2])
    lindblad = PauliLindbladError(PauliList(["XZ", "YI"]), [0.05, 0.1])
    model.add_quantum_error(lindblad, ["cx"], [1, 2], warnings=False)
    model.add_quantum_error(depolarizing_error(0.3, 1), ["noisy"], [0])
    tiny = pauli_error([("X", 5e-11), ("Z", 0.1), ("I", 0.9 - 5e-11)])
    model.add_quantum_error(tiny, ["sx"], [2], warnings=False)
    circuit = QuantumCircuit(4)
    rng = np.random.default_rng(5)
    for _ in range(2):
        for q in range(3):
            circuit.h(q)
            circuit.rx(rng.uniform(0, 3), q)
            circuit.sx(q)
            circuit.x(q)
            circuit.rz(rng.uniform(0, 3), q)
        for control, target in ((0, 1), (1, 0), (1, 2), (2, 1), (0, 2)):
            circuit.cx(control, target)
        circuit.append(XGate(label="noisy"), [0])
        circuit.reset(1)
    small, channels = check_against_aer(circuit, model)
    assert small.physical == (0, 1, 2)
    by_key = {}
    for instruction, channel in zip(small.circuit.data, channels, strict=True):
        key = (instruction.operation.label or instruction.operation.name,) + tuple(
            small.circuit.find_bit(q).index for q in instruction.qubits
        )
        by_key[key] = channel
    assert np.allclose(by_key["x", 0], SuperOp(depolarizing).data)
    assert np.allclose(by_key["x", 1], SuperOp(damping).compose(SuperOp(rotation)).data)
    assert np.allclose(by_key["noisy", 0], SuperOp(depolarizing_error(0.3, 1)).data)
    assert np.allclose(by_key["cx", 0, 1], SuperOp(pauli).data)
    assert np.allclose(by_key["cx", 1, 0], SuperOp(pair).data)
    assert by_key["rz", 0] is None and by_key["h", 0] is None and by_key["reset", 1] is None
    # Aer drops the X term of probability 5e-11 and does not renormalise
    without_x = 0.1 * SuperOp(Operator.from_label("Z")).data + (0.9 - 5e-11) * np.eye(4)
    np.testing.assert_allclose(by_key["sx", 2], without_x, atol=1e-15)


def test_delay_and_wrong_arguments_raise():
    circuit = QuantumCircuit(1)
    circuit.delay(100, 0)
    model = profile_model("aer_noisy_exact")
    with pytest.raises(ValueError, match=r"instruction_channels: circuit must have no delay"):
        instruction_channels(model, compact(circuit, []))
    with pytest.raises(TypeError, match=r"instruction_channels: model must be a qiskit_aer"):
        instruction_channels("fake_manila", compact(circuit, []))
    with pytest.raises(ValueError, match=r"instruction_channels: scale must be >= 0.0, got -1"):
        instruction_channels(model, compact(circuit, []), scale=-1)


# -- readout ------------------------------------------------------------------------------------
def test_readout_assignments_are_the_transposed_readout_probabilities(devices):
    from qiskit_aer.noise.device import basic_device_readout_errors

    device, model = devices["fake_manila"]
    circuit, observables = isa(device, 3)
    small = compact(circuit, observables)
    errors = {tuple(q): e for q, e in basic_device_readout_errors(properties=device.properties())}
    for qubit, matrix in zip(small.physical, readout_assignments(model, small), strict=True):
        np.testing.assert_array_equal(matrix, np.asarray(errors[(qubit,)].probabilities).T)
    profile = load_profile(builtin_dir() / "aer_noisy.toml")
    table = profile.noise  # readout_p01 = P(read 1 | prepared 0), readout_p10 = P(0 | 1)
    model = noise_model(table, profile.options["basis_gates"])
    model.add_readout_error(ReadoutError([[0.7, 0.3], [0.1, 0.9]]), [1], warnings=False)
    p01, p10 = table["readout_p01"], table["readout_p10"]
    two = compact(QuantumCircuit(2), [SparsePauliOp("ZZ")])
    default, local = readout_assignments(model, two)
    np.testing.assert_allclose(default, [[1 - p01, p10], [p01, 1 - p10]])
    np.testing.assert_allclose(local, [[0.7, 0.1], [0.3, 0.9]])
    assert readout_assignments(profile_model("aer_noisy_exact"), two) == [None, None]
    assert readout_assignments(model, two, scale=0) == [None, None]


@pytest.mark.parametrize("source", ["fake_manila", "aer_noisy"])
def test_sampled_readout_agrees_with_the_assignment_matrices(devices, source):
    shots = 20000
    if source == "fake_manila":
        device, model = devices[source]
        circuit, observables = isa(device, 2, seed=11)
    else:
        model = profile_model(source)
        gate = gate_circuit(CircuitSpec(n_qubits=2))
        circuit = transpile(random_bound(gate.circuit, 11), basis_gates=BASIS)
        observables = gate.observables
    small = compact(circuit, observables)
    rho = reference(small, instruction_channels(model, small))
    measured = circuit.copy()
    measured.add_register(ClassicalRegister(len(small.physical)))
    measured.measure(list(small.physical), list(range(len(small.physical))))
    simulator = AerSimulator(method="density_matrix", noise_model=model, seed_simulator=3)
    counts = simulator.run(measured, shots=shots).result().get_counts()
    assignments = readout_assignments(model, small)
    for q, matrix in enumerate(assignments):
        exact = rho.probabilities([q])  # [P(0), P(1)] before readout
        noisy = matrix @ exact
        sampled = sum(n * (1 if key[::-1][q] == "0" else -1) for key, n in counts.items()) / shots
        assert abs(sampled - (noisy[0] - noisy[1])) < 5 / math.sqrt(shots)
        assert abs(exact[0] - exact[1] - (noisy[0] - noisy[1])) > 1e-3  # readout does matter


# -- scaling ------------------------------------------------------------------------------------
def test_scaled_channel_zero_one_and_exact_for_depolarizing():
    channel = SuperOp(depolarizing_error(0.1, 2)).data
    np.testing.assert_allclose(scaled_channel(channel, 0, "test"), np.eye(16), atol=0)
    np.testing.assert_array_equal(scaled_channel(channel, 1, "test"), channel)
    doubled = SuperOp(depolarizing_error(0.2, 2)).data
    np.testing.assert_allclose(scaled_channel(channel, 2, "test"), doubled, atol=1e-14)
    damping = SuperOp(amplitude_damping_error(0.3)).data
    half = SuperOp(amplitude_damping_error(0.15)).data
    np.testing.assert_allclose(scaled_channel(damping, 0.5, "test")[0, 3], half[0, 3])


def test_unphysical_scales_raise_with_the_largest_physical_scale():
    channel = SuperOp(depolarizing_error(0.9, 1)).data  # physical up to lambda = 4/3
    scale = (4 / 3) / 0.9
    assert np.allclose(scaled_channel(channel, scale, "x"), SuperOp(depolarizing_error(4 / 3, 1)))
    with pytest.raises(ValueError, match=rf"^depol: scale must be at most {scale:.6g} .*got 2$"):
        scaled_channel(channel, 2, "depol")
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        scaled_channel(np.eye(3), 2, "x")
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(1.0, 1), ["sx"])
    model.add_all_qubit_readout_error(ReadoutError([[0.9, 0.1], [0.2, 0.8]]))
    circuit = QuantumCircuit(1)
    circuit.sx(0)
    small = compact(circuit, [])
    with pytest.raises(
        ValueError,
        match=r"^instruction_channels: noise scale for the 'sx' error on qubits \(0,\): scale "
        r"must be at most 1.33333 to keep the channel completely positive, got 2$",
    ):
        instruction_channels(model, small, scale=2)
    assert instruction_channels(model, small, scale=0) == [None]
    (matrix,) = readout_assignments(model, small, scale=2)
    np.testing.assert_allclose(matrix, [[0.8, 0.4], [0.2, 0.6]])
    with pytest.raises(
        ValueError,
        match=r"^readout_assignments: noise scale for the readout error of qubit 0: scale must "
        r"be at most 5 to keep the assignment probabilities within \[0, 1\], got 6$",
    ):
        readout_assignments(model, small, scale=6)


def test_scaled_profile_channels_equal_the_doubled_profile():
    table = {"depolarizing_1q": 0.002, "depolarizing_2q": 0.02}
    doubled = {key: 2 * value for key, value in table.items()}
    gate = gate_circuit(CircuitSpec(n_qubits=2))
    small = compact(transpile(random_bound(gate.circuit, 1), basis_gates=BASIS), [])
    scaled = instruction_channels(noise_model(table, BASIS), small, scale=2)
    expected = instruction_channels(noise_model(doubled, BASIS), small)
    for ours, theirs in zip(scaled, expected, strict=True):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_allclose(ours, theirs, atol=1e-14)


# -- compact ------------------------------------------------------------------------------------
def test_compact_isa_circuit_of_a_127_qubit_device(devices):
    device, _ = devices["fake_brisbane"]
    gate = gate_circuit(CircuitSpec(n_qubits=3))
    transpiled = cached_pass_manager(device, 1).run(gate.circuit)
    observables = [o.apply_layout(transpiled.layout) for o in gate.observables]
    small = compact(transpiled, observables)
    touched = {
        transpiled.find_bit(q).index
        for i in transpiled.data
        if i.operation.name != "barrier"
        for q in i.qubits
    }
    assert transpiled.num_qubits == 127 and small.physical == tuple(sorted(touched))
    assert small.circuit.num_qubits == 3
    assert set(small.circuit.parameters) == set(transpiled.parameters)  # unbound, as they were
    assert "barrier" not in small.circuit.count_ops()
    assert len(small.circuit.data) == sum(i.operation.name != "barrier" for i in transpiled.data)
    layout = transpiled.layout.final_index_layout()
    for q, observable in enumerate(small.observables):  # Z of logical qubit q
        assert observable.num_qubits == 3
        assert observable == SparsePauliOp.from_sparse_list(
            [("Z", [small.physical.index(layout[q])], 1.0)], 3
        )


def test_compact_keeps_observed_idle_qubits_and_checks_observables():
    circuit = QuantumCircuit(4)
    circuit.h(2)
    circuit.barrier()
    observable = SparsePauliOp(["XIIY", "IIZI"], [0.5, -1j])  # X on 3, Y on 0, Z on 1
    small = compact(circuit, [observable])
    assert small.physical == (0, 1, 2, 3)
    small = compact(circuit, [SparsePauliOp(["IYII", "IZII"], [2.0, 3.0])])
    assert small.physical == (2,) and small.observables == [SparsePauliOp(["Y", "Z"], [2.0, 3.0])]
    small = compact(circuit, [SparsePauliOp("YIII")])
    assert small.physical == (2, 3) and small.observables == [SparsePauliOp("YI")]
    with pytest.raises(ValueError, match=r"compact: observables\[0\] must act on the circuit's 4"):
        compact(circuit, [SparsePauliOp("ZZ")])
    with pytest.raises(TypeError, match=r"compact: observables\[0\] must be a SparsePauliOp"):
        compact(circuit, ["ZZZZ"])


# -- noise sources ------------------------------------------------------------------------------
