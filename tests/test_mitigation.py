"""Error mitigation as a backend option (``mitigate="readout"``, ``"zne"``, ``"readout+zne"``) on
real Aer, fake devices and the density-matrix backend, no mocks: readout mitigation removes the
readout bias to within shot noise; ZNE reduces the gate-noise error by a measured factor; the
density backend's mitigation is exact (against Aer's density matrices); one estimator call per
time step; gradients of the mitigated values; folded circuits stay ISA and equal the original;
the cost preview counts the extra circuits; the option errors."""

import math
import warnings

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Operator, SparsePauliOp

from qlstm_qiskit import QLSTM, CircuitSpec, get_backend
from qlstm_qiskit.backends.estimators import CountingEstimator
from qlstm_qiskit.backends.mitigation import (
    ReadoutCorrection,
    calibration_circuits,
    extrapolation_coefficients,
    fold_two_qubit_gates,
    readout_terms,
)
from qlstm_qiskit.backends.noise_channels import compact
from qlstm_qiskit.circuits import gate_circuit

pytest.importorskip("qiskit_ibm_runtime")  # the fake devices

SPEC = CircuitSpec(n_qubits=2)
#: values the density backend claims exact, against Aer's exact density-matrix values
TOL = 1e-6
#: gate noise of the density_matrix profile's table, without its readout errors
GATE_NOISE = """depolarizing_1q = 0.001
depolarizing_2q = 0.01
t1_ns = 100000.0
t2_ns = 80000.0
time_1q_ns = 50.0
time_2q_ns = 300.0
"""


def arguments(spec=SPEC, batch=8, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(4, spec.n_weights, generator=generator, dtype=dtype) * 2 * math.pi
    inputs = torch.rand(4, batch, spec.n_inputs, generator=generator, dtype=dtype) * 3
    return weights, inputs


def expectations(backend, spec=SPEC, batch=8, seed=0):
    """``(4, batch, n_qubits)`` values of fixed random inputs and weights."""
    weights, inputs = arguments(spec, batch, seed)
    with torch.no_grad():
        return backend.compile(gate_circuit(spec)).bind(weights).expectation(inputs).numpy()


@pytest.fixture(scope="module")
def exact():
    return expectations(get_backend("statevector"))


# -- readout ----------------------------------------------------------------------------------
def test_readout_mitigation_brings_aer_readout_within_shot_noise_of_exact(exact):
    shots = 4096
    raw = expectations(get_backend("aer_readout", shots=shots, seed=3))
    mitigated = expectations(get_backend("aer_readout", shots=shots, seed=3, mitigate="readout"))
    assert np.abs(raw - exact).max() > 8 / math.sqrt(shots)  # p01 0.05, p10 0.1: a bias
    assert abs(np.mean(raw - exact - (0.1 - 0.05 - 0.15 * exact))) < 1 / math.sqrt(shots)
    assert np.abs(mitigated - exact).max() < 5 / math.sqrt(shots)
    assert abs(np.mean(mitigated - exact)) < 1 / math.sqrt(shots)  # no bias left


def test_readout_mitigation_reduces_the_bias_on_fake_manila(exact):
    raw = expectations(get_backend("fake_manila", shots=8192, seed=3))
    mitigated = expectations(get_backend("fake_manila", shots=8192, seed=3, mitigate="readout"))
    # measured: mean |error| 0.037 unmitigated, 0.014 mitigated (gate noise remains)
    assert np.abs(mitigated - exact).mean() < 0.5 * np.abs(raw - exact).mean()


def test_the_correction_inverts_tensor_product_readout_exactly():
    p01, p10, coefficient = np.array([0.05, 0.2]), np.array([0.1, 0.03]), np.array([1.0, -2.0])
    zero = coefficient * (1 - 2 * p01)  # <c Z> read on |0> and on |1>
    one = coefficient * (2 * p10 - 1)
    true = np.array([[0.3, -0.9], [-1.0, 0.5]]) * coefficient  # (rows, outputs)
    measured = (p10 - p01) * coefficient + (1 - p01 - p10) * true
    correction = ReadoutCorrection(zero, one, coefficient)
    np.testing.assert_allclose(correction.apply(measured, axis=-1), true, atol=1e-12)
    torch_values = correction.apply(torch.tensor(measured.T), axis=0)
    np.testing.assert_allclose(torch_values.numpy(), true.T, atol=1e-12)
    with pytest.raises(ValueError, match=r"assignment fidelity 1 - p01 - p10 = 0.05"):
        ReadoutCorrection([0.5], [0.4], [1.0])


def test_density_readout_mitigation_is_exact_inversion(tmp_path):
    for name, kind, extra in (
        ("gates_only", "aer", 'method = "density_matrix"'),
        ("gates_readout", "density", ""),
    ):
        readout = "readout_p01 = 0.02\nreadout_p10 = 0.04\n" if kind == "density" else ""
        (tmp_path / f"{name}.toml").write_text(
            f'description = "{name}"\nkind = "{kind}"\ncomputes = "noisy"\n'
            f'gradient = "{"autograd" if kind == "density" else "param_shift"}"\n'
            f'[options]\nbasis_gates = ["rz", "sx", "x", "cx"]\n{extra}\n'
            f"[noise]\n{GATE_NOISE}{readout}"
        )
    reference = expectations(get_backend("gates_only", profile_dir=tmp_path))  # Aer, exact
    raw = expectations(get_backend("gates_readout", profile_dir=tmp_path))
    mitigated = expectations(get_backend("gates_readout", profile_dir=tmp_path, mitigate="readout"))
    assert np.abs(raw - reference).max() > 0.01
    np.testing.assert_allclose(mitigated, reference, atol=TOL)
    shots = 20_000  # sampled: shot noise / (1 - p01 - p10) around the same values
    sampled = expectations(
        get_backend("gates_readout", profile_dir=tmp_path, mitigate="readout", shots=shots, seed=1)
    )
    assert np.abs(sampled - reference).max() < 5 / (0.94 * math.sqrt(shots))
    assert np.abs(sampled - reference).max() > 0.1 / math.sqrt(shots)


# -- ZNE --------------------------------------------------------------------------------------
def test_zne_reduces_the_gate_noise_error_by_a_measured_factor(exact):
    raw = np.abs(expectations(get_backend("aer_noisy_exact")) - exact).mean()
    linear = expectations(get_backend("aer_noisy_exact", mitigate="zne"))
    richardson = expectations(
        get_backend("aer_noisy_exact", mitigate="zne", zne_extrapolation="richardson")
    )
    # measured (exact values, so deterministic): mean |error| 0.0244 -> 0.0087 (linear, 2.8x),
    # 0.0063 (Richardson, 3.9x); the rest is one-qubit gate noise, which folding leaves alone
    assert raw / np.abs(linear - exact).mean() > 2.5
    assert raw / np.abs(richardson - exact).mean() > 3.5


def test_density_zne_equals_aer_zne_on_the_same_folded_circuits():
    aer = expectations(get_backend("aer_noisy_exact", mitigate="zne", zne_scales=[1, 3, 7]))
    density = get_backend(
        "density_matrix", noise_from="aer_noisy_exact", mitigate="zne", zne_scales=[1, 3, 7]
    )
    np.testing.assert_allclose(expectations(density), aer, atol=TOL)


def test_extrapolation_coefficients():
    np.testing.assert_allclose(
        extrapolation_coefficients((1, 3, 5), "linear"), [13 / 12, 1 / 3, -5 / 12], atol=1e-12
    )
    np.testing.assert_allclose(
        extrapolation_coefficients((1, 3, 5), "richardson"), [15 / 8, -5 / 4, 3 / 8], atol=1e-12
    )
    scales = np.array([1.0, 3.0, 5.0, 7.0])
    line, parabola = 0.7 - 0.05 * scales, 0.7 - 0.05 * scales + 0.004 * scales**2
    assert extrapolation_coefficients(scales, "linear") @ line == pytest.approx(0.7)
    assert extrapolation_coefficients(scales, "richardson") @ parabola == pytest.approx(0.7)
    assert extrapolation_coefficients(scales, "linear") @ parabola != pytest.approx(0.7)


@pytest.mark.parametrize("device", ["fake_manila", "fake_brisbane"])
def test_folded_isa_circuits_use_the_basis_and_equal_the_original(device):
    backend = get_backend(device, mitigate="readout+zne")
    plan = backend.compile(gate_circuit(SPEC)).network.mitigation
    basis = set(backend.device.target.operation_names)
    original = plan.circuits[0]
    values = dict(
        zip(original.parameters, np.linspace(-2, 2, original.num_parameters), strict=True)
    )
    reference = compact(original.assign_parameters(values), [])
    two_qubit = sum(original.count_ops().get(g, 0) for g in ("cx", "ecr"))
    assert two_qubit >= 2
    for scale, folded in zip((1, 3, 5), plan.circuits, strict=True):
        assert set(folded.count_ops()) - {"barrier"} <= basis
        assert sum(folded.count_ops().get(g, 0) for g in ("cx", "ecr")) == scale * two_qubit
        assert folded.layout == original.layout and folded.parameters == original.parameters
        small = compact(folded.assign_parameters(values), [], keep=reference.physical)
        assert Operator(small.circuit).equiv(Operator(reference.circuit))
    for calibration in plan.calibration:  # on the ISA circuit's qubits, in the basis
        assert set(calibration.count_ops()) <= basis
        assert calibration.num_qubits == original.num_qubits


def test_folding_errors():
    theta = Parameter("t")
    circuit = QuantumCircuit(2)
    circuit.rzz(theta, 0, 1)
    with pytest.raises(ValueError, match=r"cannot fold the parameterized gate rzz"):
        fold_two_qubit_gates(circuit, 3)
    swap = QuantumCircuit(2)
    swap.iswap(0, 1)
    with pytest.raises(ValueError, match=r"the inverse of 'iswap' is 'iswap_dg', not a basis"):
        fold_two_qubit_gates(swap, 3, basis={"iswap", "rz", "sx"})
    assert Operator(fold_two_qubit_gates(swap, 3)).equiv(Operator(swap))
    with pytest.raises(ValueError, match=r"scale must be an odd int >= 1, got 2"):
        fold_two_qubit_gates(swap, 2)
    with pytest.raises(ValueError, match=r"prepares \|1> with x or sx"):
        calibration_circuits(swap, [0], basis={"rz", "cz"})
    with pytest.raises(ValueError, match=r"one single-qubit Z term.*observables\[1\]"):
        readout_terms([SparsePauliOp("IZ"), SparsePauliOp("ZZ")], "test")


# -- calls and gradients ----------------------------------------------------------------------
def test_one_estimator_call_per_time_step_with_mitigation():
    backend = get_backend("aer_readout", shots=256, seed=1, mitigate="readout+zne")
    estimator = backend.estimator = CountingEstimator(backend.estimator)
    steps = 3
    model = QLSTM(1, 3, backend=backend, n_qubits=2, seed=1, dtype=torch.float64)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.randn(steps, 4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    output, _ = model(x)
    output.square().mean().backward()
    optimizer.step()
    assert estimator.calls == steps
    assert estimator.pubs == steps * (3 + 2)  # three scales, two calibration circuits
    assert all(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_mitigated_param_shift_gradients_match_finite_differences_of_the_mitigated_values():
    network = get_backend("aer_noisy_exact", mitigate="zne").compile(gate_circuit(SPEC)).network
    rows = np.random.default_rng(1).uniform(-2, 2, (2, network.num_inputs))
    network.needs_gradients = True
    values = network.forward(rows, None)
    grad = network.backward(rows, None)[0]
    network.needs_gradients = False
    np.testing.assert_allclose(network.forward(rows, None), values, atol=1e-12)
    eps = 1e-5
    for k in (0, 3, network.num_inputs - 1):
        step = np.zeros_like(rows)
        step[:, k] = eps
        numeric = (network.forward(rows + step, None) - network.forward(rows - step, None)) / (
            2 * eps
        )
        np.testing.assert_allclose(grad[:, :, k], numeric, atol=1e-6)


def test_sampled_mitigated_gradients_are_the_exact_ones_within_shot_noise():
    shots = 10_000
    rows = np.random.default_rng(2).uniform(-2, 2, (1, 4 * (SPEC.n_inputs + SPEC.n_weights)))
    grads = {}
    for name, options in (
        ("exact", {}),
        ("raw", {"shots": shots, "seed": 4}),
        ("mitigated", {"shots": shots, "seed": 4, "mitigate": "readout"}),
    ):
        backend = get_backend("aer_statevector" if name == "exact" else "aer_readout", **options)
        network = backend.compile(gate_circuit(SPEC)).network
        network.needs_gradients = True
        network.forward(rows, None)
        grads[name] = network.backward(rows, None)[0]
    # each shift-rule entry: (v+ - v-) / 2 of independent rows, std <= 1 / (0.85 sqrt(2 shots))
    tolerance = 5 / (0.85 * math.sqrt(2 * shots))
    nonzero = np.abs(grads["exact"]) > 1e-9
    assert np.abs(grads["mitigated"] - grads["exact"])[nonzero].max() < tolerance
    ratio = np.sum(grads["raw"] * grads["exact"]) / np.sum(grads["exact"] ** 2)
    assert ratio == pytest.approx(0.85, abs=0.01)  # unmitigated: scaled by 1 - p01 - p10
    fit = np.sum(grads["mitigated"] * grads["exact"]) / np.sum(grads["exact"] ** 2)
    assert fit == pytest.approx(1.0, abs=0.01)


def test_density_mitigated_gradients_pass_gradcheck():
    backend = get_backend("density_matrix", noise_from="fake_manila", mitigate="readout+zne")
    executor = backend.compile(gate_circuit(SPEC))
    weights, inputs = arguments(batch=2, seed=3)
    weights.requires_grad_(True)
    inputs.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda w, x: executor.bind(w).expectation(x), (weights, inputs), atol=1e-7
    )


def test_a_mitigated_run_resumes_from_its_ledger(tmp_path):
    def run():
        backend = get_backend(
            "fake_manila", shots=500, seed=2, mitigate="readout+zne", ledger=str(tmp_path)
        )
        values = expectations(backend, batch=2)
        backend.close()
        return values, backend.estimator

    first, estimator = run()
    assert estimator.submitted == 1
    again, estimator = run()
    assert estimator.submitted == 0 and estimator.reused == 1
    np.testing.assert_array_equal(again, first)


# -- descriptions, cost preview, ibm ----------------------------------------------------------
def test_backends_show_the_resolved_options_and_still_say_what_they_compute():
    backend = get_backend("aer_noisy", mitigate="readout+zne")
    text = repr(backend)
    assert "mitigate='readout+zne', zne_scales=(1, 3, 5), zne_extrapolation='linear'" in text
    assert backend.computes == "noisy"
    assert get_backend("aer_shots", mitigate="zne").computes == "sampled"
    density = get_backend("density_matrix", mitigate="readout")
    assert density.options()["mitigate"] == "readout" and "zne_scales" not in density.options()


def test_the_cost_preview_counts_the_folded_and_calibration_circuits():
    from qlstm_qiskit.forecasting.inference import preview_dataset

    x = torch.linspace(-1, 1, 24, dtype=torch.float64).reshape(8, 3, 1)
    previews = {}
    for mode in (None, "readout", "readout+zne"):
        model = QLSTM(1, 2, n_qubits=2, batch_first=True, seed=0, dtype=torch.float64)
        model.set_backend("fake_manila", shots=1000, seed=1, mitigate=mode)
        assert model.backend.options().get("resilience_level") == (None if mode is None else 0)
        previews[mode] = preview_dataset(model, x)
    plain, readout, both = previews.values()
    assert plain.jobs == readout.jobs == both.jobs == 3  # still one job per time step
    assert readout.circuits == plain.circuits + 3 * 2  # two calibration circuits a job
    assert both.circuits == 3 * plain.circuits + 3 * 2  # and every circuit at 3 scales
    # runtime default (level 1: TREX) without mitigate, level 0 with it
    assert plain.executions > plain.requested_executions
    assert both.executions == both.requested_executions
    longer = both.job_costs[0]
    # the scale-5 circuits are the longest; each row is priced at its own circuit's length
    assert longer.duration > plain.job_costs[0].duration and longer.duration > longer.mean_duration
    report = both.report()
    assert "resilience_level 0 (set: mitigate= mitigates client side instead)" in report
    assert "2-qubit gate folding scales (1, 3, 5)" in report
    assert "readout calibration, 2 circuits" in report


def test_ibm_devices_take_mitigate_with_the_runtime_mitigation_off():
    from runtime_standin import StandInService

    service = StandInService()
    backend = get_backend("ibm_manila", service=service, shots=2000, mitigate="readout")
    assert backend.options()["resilience_level"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = expectations(backend, batch=2)
    assert values.shape == (4, 2, 2) and np.isfinite(values).all()
    assert backend.estimator.submitted == 1


# -- option errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, options, error, message",
    [
        ("aer_noisy", {"mitigate": "pec"}, ValueError, r"mitigate must be one of 'readout', "),
        ("aer_statevector", {"mitigate": "zne"}, ValueError, r"computes exact noiseless values"),
        ("statevector", {"mitigate": "zne"}, ValueError, r"'statevector' computes exact values"),
        (
            "density_matrix",
            {"mitigate": "zne", "noise_scale": 0},
            ValueError,
            r"backend 'density_matrix' computes exact noiseless values",
        ),
        ("aer_noisy_exact", {"mitigate": "readout"}, ValueError, r"needs sampled values"),
        ("aer_noisy", {"zne_scales": [1, 3]}, ValueError, r"zne_scales apply only with"),
        (
            "aer_noisy",
            {"mitigate": "readout", "zne_extrapolation": "linear"},
            ValueError,
            r"zne_extrapolation apply only with mitigate='zne' or 'readout\+zne', got "
            r"mitigate='readout'",
        ),
        ("aer_noisy", {"mitigate": "zne", "zne_scales": [1, 2, 3]}, ValueError, r"odd ints"),
        ("aer_noisy", {"mitigate": "zne", "zne_scales": [3]}, ValueError, r"at least 2"),
        ("aer_noisy", {"mitigate": "zne", "zne_scales": [1, 1]}, ValueError, r"distinct"),
        ("aer_noisy", {"mitigate": "zne", "zne_scales": [1, 17]}, ValueError, r"1\.\.15"),
        ("aer_noisy", {"mitigate": "zne", "zne_scales": "135"}, TypeError, r"list of odd"),
        ("aer_noisy", {"mitigate": "zne", "zne_scales": [1, 3.0]}, TypeError, r"list of odd"),
        (
            "aer_noisy",
            {"mitigate": "zne", "zne_extrapolation": "cubic"},
            ValueError,
            r"zne_extrapolation must be one of 'linear', 'richardson', got 'cubic'",
        ),
        (
            "fake_manila",
            {"mitigate": "zne", "resilience_level": 2},
            ValueError,
            r"resilience_level=2 asks IBM's runtime to mitigate too",
        ),
        (
            "ibm_manila",
            {"mitigate": "readout", "resilience_level": 1},
            ValueError,
            r"use one: mitigate with resilience_level=0",
        ),
    ],
)
def test_option_errors(name, options, error, message):
    with pytest.raises(error, match=message):
        get_backend(name, **options)


def test_mitigate_none_is_accepted_everywhere():  # e.g. the unmitigated points of a sweep
    for name in ("statevector", "aer_statevector", "aer_noisy", "density_matrix", "fake_manila"):
        assert "mitigate" not in get_backend(name, mitigate=None).options()


def test_the_mitigation_example_runs_with_a_tiny_budget(capsys):
    from test_example import load

    example = load("examples/mitigation.py")
    table = example.main(["--backends", "aer_readout", "density_matrix", "--batch", "2"])
    assert set(table) == {"aer_readout", "density_matrix"}
    assert set(table["density_matrix"]) == {"none", "readout", "zne", "readout+zne"}
    assert table["density_matrix"]["readout+zne"] < table["density_matrix"]["none"]
    assert "aer_readout" in capsys.readouterr().out


def test_a_profile_digest_changes_only_when_mitigation_is_set():
    from qlstm_qiskit.backends.profile_files import load_profiles
    from qlstm_qiskit.backends.profiles import Profile

    profile = load_profiles(None)[0]["aer_noisy"]
    unset = {k: v for k, v in profile.options.items() if not k.startswith(("mitigate", "zne_"))}
    before = Profile(profile.name, "", profile.kind, profile.gradient, unset, profile.noise)
    assert profile.digest() == before.digest()  # checkpoints of older versions still match
    assert profile.with_overrides("test", {"mitigate": "zne"}).digest() != profile.digest()
