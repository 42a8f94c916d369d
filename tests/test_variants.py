"""The cell variants (issue 18, item 1): ``cell="chen"`` (six VQCs), ``input_scaling=True`` and
``entangling="strong"``: their circuits, parameters, equations (against Qiskit's Statevector),
gradients, every backend, the CLI and config keys, and that today's default model is unchanged."""

import io

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from qlstm_qiskit import QLSTM, QLSTMCell, get_backend
from qlstm_qiskit.backends.devices import preview
from qlstm_qiskit.circuits import CircuitSpec, GateCircuit, entangler_pairs, gate_circuit
from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting.models import Forecaster, ModelConfig
from qlstm_qiskit.forecasting.sweep_file import read_experiment
from qlstm_qiskit.sim import CompiledCircuit

F64 = torch.float64
#: the tiny model of every variant test: 2 qubits, hidden 3 (inputs 2, T = 3, B = 2)
TINY = {"n_qubits": 2, "seed": 3, "dtype": F64}
VARIANTS = {
    "chen": {"cell": "chen"},
    "input_scaling": {"input_scaling": True},
    "strong": {"entangling": "strong", "n_qlayers": 2},
    "all": {"cell": "chen", "input_scaling": True, "entangling": "strong"},
}
#: the exact backends besides statevector: density matrices without noise, and Aer
EXACT_BACKENDS = {"density_matrix": {"noise_scale": 0.0}, "aer_statevector": {}}


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with circuit weights of order 1 and input scales away from 1 (so that every
    part of the circuit and every scale changes the outputs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("weight_q", "weight_q_map")):
                param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype))
            elif name.endswith(("input_scale", "input_scale_map")):
                param.copy_(0.5 + 1.5 * torch.rand(param.shape, generator=generator, dtype=F64))
    return model


# -- entangling="strong" ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n, layer, expected",
    [
        (1, 0, []),
        (2, 0, [(0, 1), (1, 0)]),
        (2, 5, [(0, 1), (1, 0)]),  # n - 1 = 1: range 1 in every layer
        (3, 0, [(0, 1), (1, 2), (2, 0)]),
        (3, 1, [(0, 2), (1, 0), (2, 1)]),
        (3, 2, [(0, 1), (1, 2), (2, 0)]),
        (4, 2, [(0, 3), (1, 0), (2, 1), (3, 2)]),
        (4, 3, [(0, 1), (1, 2), (2, 3), (3, 0)]),
    ],
)
def test_strong_entangler_ranges_follow_the_layer(n, layer, expected):
    assert entangler_pairs(n, "strong", layer) == expected


def test_strong_circuit_equals_a_hand_built_circuit_under_statevector():
    """n_qlayers=2, depth=2 on 3 qubits: layers 0..3 have CNOT ranges 1, 2, 1, 2."""
    spec = CircuitSpec(
        3, n_qlayers=2, depth=2, encoding="angle", rotation="ry", entangling="strong"
    )
    gate = GateCircuit(spec)
    rng = np.random.default_rng(4)
    inputs, weights = rng.uniform(-2, 2, spec.n_inputs), rng.uniform(-3, 3, spec.n_weights)
    hand = QuantumCircuit(3)
    angle, weight = iter(inputs), iter(weights)
    for _block in range(2):
        for q in range(3):
            hand.ry(next(angle), q)
        for reach in (1, 2):
            for q in range(3):
                hand.ry(next(weight), q)
            for q in range(3):
                hand.cx(q, (q + reach) % 3)
    values = {**dict(zip(gate.inputs, inputs, strict=True))}
    values.update(zip(gate.weights, weights, strict=True))
    ours = Statevector(gate.circuit.assign_parameters(values))
    expected = Statevector(hand)
    assert ours.equiv(expected)
    expectations = [expected.expectation_value(o).real for o in gate.observables]
    for method in ("dense", "gates", "adjoint"):
        compiled = CompiledCircuit(
            gate.circuit, gate.inputs, gate.weights, gate.observables, method=method
        )
        out = compiled.expectation(
            torch.tensor(inputs)[None, None], torch.tensor(weights)[None]
        ).numpy()[0, 0]
        np.testing.assert_allclose(out, expectations, atol=1e-10)


@pytest.mark.parametrize("name", list(EXACT_BACKENDS))
def test_every_backend_compiles_the_strong_circuit(name):
    spec = CircuitSpec(3, depth=2, entangling="strong")  # CNOT ranges 1, 2
    gate = gate_circuit(spec)
    generator = torch.Generator().manual_seed(5)
    inputs = gate.encode(torch.randn(2, 2, 3, generator=generator, dtype=F64))
    weights = torch.randn(2, spec.n_weights, generator=generator, dtype=F64)
    exact = get_backend("statevector").compile(gate).bind(weights).expectation(inputs)
    values = (
        get_backend(name, **EXACT_BACKENDS[name]).compile(gate).bind(weights).expectation(inputs)
    )
    torch.testing.assert_close(values.to(F64), exact, rtol=0, atol=1e-6)


# -- parameters and state_dict ----------------------------------------------------------------
GATE_SHAPES = {
    "weight_ih": (8, 2),
    "weight_hh": (8, 3),
    "bias_in": (8,),
    "weight_q": (4, 1, 1, 2, 3),
    "weight_out": (4, 3, 2),
    "bias_out": (4, 3),
}
CHEN_SHAPES = {
    "weight_in_map": (4, 3),
    "bias_in_map": (4,),
    "weight_q_map": (2, 1, 1, 2, 3),
    "weight_out_map": (2, 3, 2),
    "bias_out_map": (2, 3),
}


@pytest.mark.parametrize("cell", ["lstm", "chen"])
@pytest.mark.parametrize("input_scaling", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_names_and_shapes_are_the_documented_ones(cell, input_scaling, bias):
    expected = dict(GATE_SHAPES)
    if input_scaling:
        expected["input_scale"] = (4, 2)
    if cell == "chen":
        expected.update(CHEN_SHAPES)
        if input_scaling:
            expected["input_scale_map"] = (2, 2)
    if not bias:
        expected = {k: v for k, v in expected.items() if not k.startswith("bias")}
    model = QLSTM(2, 3, bias=bias, cell=cell, input_scaling=input_scaling, n_qubits=2)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {f"cell_l0.{k}": v for k, v in expected.items()}
    for scale in ("input_scale", "input_scale_map"):
        if scale in expected:
            assert torch.equal(model.state_dict()[f"cell_l0.{scale}"], torch.ones(expected[scale]))


def test_a_saved_default_model_loads_in_a_fresh_default_model_with_the_same_outputs():
    saved = QLSTM(2, 3, num_layers=2, **TINY)
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    fresh = QLSTM(2, 3, num_layers=2, n_qubits=2, seed=99, dtype=F64)
    x = torch.randn(3, 2, 2, dtype=F64)
    assert not torch.equal(fresh(x)[0], saved(x)[0])
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for a, b in zip(fresh(x), saved(x), strict=True):
        a, b = (a, b) if isinstance(a, torch.Tensor) else (torch.stack(a), torch.stack(b))
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "options, missing",
    [
        ({"input_scaling": True}, r'Missing key\(s\) in state_dict: "cell_l0.input_scale"'),
        ({"cell": "chen"}, r'Missing key\(s\) in state_dict: "cell_l0.weight_in_map"'),
    ],
)
def test_a_state_dict_without_a_variant_parameter_fails_to_load(options, missing):
    state = QLSTM(2, 3, **TINY).state_dict()
    with pytest.raises(RuntimeError, match=missing):
        QLSTM(2, 3, **TINY, **options).load_state_dict(state)


def test_an_untrained_scaled_model_equals_the_unscaled_one():
    x = torch.randn(3, 2, 2, dtype=F64)
    plain, scaled = QLSTM(2, 3, **TINY), QLSTM(2, 3, **TINY, input_scaling=True)
    torch.testing.assert_close(scaled(x)[0], plain(x)[0], rtol=0, atol=1e-12)
    with torch.no_grad():
        scaled.cell_l0.input_scale.mul_(1.5)
    assert not torch.allclose(scaled(x)[0], plain(x)[0], atol=1e-6)


# -- the equations, against Qiskit's Statevector ----------------------------------------------
def statevector_values(cell: QLSTMCell, angles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    gate = cell.gate_circuit
    values = dict(zip(gate.inputs, angles, strict=True))
    values.update(zip(gate.weights, weights, strict=True))
    state = Statevector(gate.circuit.assign_parameters(values))
    return np.array([state.expectation_value(o).real for o in gate.observables])


def hybrid_layer(cell, features, weight_q, weight_out, bias_out, scale) -> np.ndarray:
    """One VQC with its output projection, the arctan encoding written out by hand:
    ``W_out <Z>(s * [arctan f, arctan f^2]) + b_out``."""
    per_qubit = np.stack((np.arctan(features), np.arctan(features**2)), -1) * scale[:, None]
    angles = np.tile(per_qubit.ravel(), cell.spec.n_qlayers)
    return weight_out @ statevector_values(cell, angles, weight_q.ravel()) + bias_out


def reference_step(cell: QLSTMCell, x, h, c):
    """One step of one sequence in NumPy, circuits on Qiskit's Statevector: ``y, h, c``."""
    p = {k: v.detach().numpy() for k, v in cell.named_parameters()}
    n = cell.spec.n_qubits
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    z = p["weight_ih"] @ x + p["weight_hh"] @ h + p["bias_in"]
    scales = p.get("input_scale", np.ones((4, n)))
    i, f, g, o = (
        hybrid_layer(
            cell,
            z[k * n : (k + 1) * n],
            p["weight_q"][k],
            p["weight_out"][k],
            p["bias_out"][k],
            scales[k],
        )  # fmt: skip
        for k in range(4)
    )
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    m = sigmoid(o) * np.tanh(c)
    if cell.cell == "lstm":
        return m, m, c
    zm = p["weight_in_map"] @ m + p["bias_in_map"]
    scales = p.get("input_scale_map", np.ones((2, n)))
    h, y = (
        hybrid_layer(
            cell,
            zm[k * n : (k + 1) * n],
            p["weight_q_map"][k],
            p["weight_out_map"][k],
            p["bias_out_map"][k],
            scales[k],
        )  # fmt: skip
        for k in range(2)
    )
    return y, h, c


@pytest.mark.parametrize("variant", ["default", *VARIANTS])
def test_one_step_equals_the_equations_on_qiskit_statevector(variant):
    options = VARIANTS.get(variant, {})
    cell = perturbed(QLSTMCell(2, 3, **TINY, **options))
    generator = torch.Generator().manual_seed(6)
    x, h, c = (torch.randn(2, k, generator=generator, dtype=F64) for k in (2, 3, 3))
    y1, (h1, c1) = cell.forward_with_output(x, (h, c))
    assert torch.equal(cell(x, (h, c))[0], h1)
    for b in range(2):
        expected = reference_step(cell, x[b].numpy(), h[b].numpy(), c[b].numpy())
        for got, want in zip((y1[b], h1[b], c1[b]), expected, strict=True):
            np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-6)
    if cell.cell == "chen":
        assert not torch.allclose(y1, h1, atol=1e-3)  # the output is not the state


def test_chen_output_is_y_and_h_n_is_the_state():
    model = perturbed(QLSTM(2, 3, **TINY, cell="chen"))
    x = torch.randn(3, 2, 2, dtype=F64)
    output, (h_n, c_n) = model(x)
    cell = model.cell_l0
    h = c = torch.zeros(2, 3, dtype=F64)
    for t in range(3):  # QLSTM is its cell looped over time, output = y, state = (h, c)
        y, (h, c) = cell.forward_with_output(x[t], (h, c))
        torch.testing.assert_close(output[t], y, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=1e-12)
    assert not torch.allclose(output[-1], h_n[0], atol=1e-3)
    bound = cell.bind()
    y, h, c = cell.step_with_output(
        bound, cell.project_input(x[0]), *torch.zeros(2, 2, 3, dtype=F64)
    )
    torch.testing.assert_close(y, output[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gradcheck_every_parameter_of_each_variant_float64(variant):
    model = perturbed(QLSTM(2, 3, **TINY, **VARIANTS[variant]))
    x = torch.randn(3, 2, 2, dtype=F64, requires_grad=True)
    names = [name for name, _ in model.named_parameters()]
    inputs = [p.detach().clone().requires_grad_() for p in model.parameters()]

    def run(x, *tensors):
        out, (h, c) = torch.func.functional_call(
            model, dict(zip(names, tensors, strict=True)), (x,)
        )
        return out, h, c

    assert torch.autograd.gradcheck(run, (x, *inputs))
    out, h, c = run(x, *inputs)
    (out.sum() + h.sum() + c.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in inputs), names


def test_a_scaled_cell_runs_unfused_and_its_scale_gets_the_autograd_gradient():
    """The default circuit on statevector is fused (a product kernel); the scaled cell takes the
    autograd path, so the scale has a gradient, equal to a finite difference."""
    cell = perturbed(QLSTMCell(2, 3, **TINY, input_scaling=True))
    assert cell.bind().product_kernel() is not None  # the circuit could be fused
    x = torch.randn(3, 2, 2, dtype=F64)
    h = c = torch.zeros(2, 3, dtype=F64)

    def loss(scale):
        with torch.no_grad():
            cell.input_scale.copy_(scale)
        output, h_n, _c = cell.run(cell.project_input(x), h, c)
        return output.sum() + h_n.sum()

    scale = cell.input_scale.detach().clone()
    cell.zero_grad()
    loss(scale).backward()
    grad = cell.input_scale.grad.clone()
    step = 1e-6
    bump = torch.zeros_like(scale)
    bump[1, 0] = step
    with torch.no_grad():
        numeric = (loss(scale + bump) - loss(scale - bump)) / (2 * step)
    assert grad[1, 0].item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-8)


# -- every backend ----------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_exact_backend_gives_the_same_outputs(variant):
    model = perturbed(QLSTM(2, 3, **TINY, **VARIANTS[variant]))
    x = torch.randn(3, 2, 2, dtype=F64)
    with torch.no_grad():
        expected = model(x)
        for name, options in EXACT_BACKENDS.items():
            out, (h, c) = model.set_backend(name, **options)(x)
            for got, want in zip((out, h, c), (expected[0], *expected[1]), strict=True):
                torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_chen_makes_two_primitive_calls_per_time_step():
    model = perturbed(QLSTM(2, 3, **TINY, cell="chen", backend="aer_statevector"))
    executor = model.cell_l0.executor
    x = torch.randn(3, 2, 2, dtype=F64)
    out, (h, c) = model(x)
    (out.sum() + h.sum()).backward()  # gradient rows ride in the forward calls
    gates, maps = executor.connector(4).neural_network, executor.connector(2).neural_network
    assert (gates.calls, maps.calls) == (3, 3)
    assert all(p.grad is not None for p in model.parameters())


def test_the_cost_preview_counts_the_chen_cells_second_call():
    x = torch.linspace(-1, 1, 24, dtype=F64).reshape(8, 3, 1)
    jobs = {}
    for cell in ("lstm", "chen"):
        model = QLSTM(1, 2, n_qubits=2, seed=0, dtype=F64, batch_first=True, cell=cell)
        model.set_backend("fake_manila", shots=1000, seed=1)
        with torch.no_grad(), preview(model) as cost:
            model(x)
        jobs[cell] = (cost.jobs, cost.circuits)
    assert jobs == {"lstm": (3, 3 * 4 * 8), "chen": (6, 3 * (4 + 2) * 8)}


def test_every_variant_at_once_trains_on_a_fake_device():
    backend = get_backend("fake_manila", shots=200, seed=2)
    model = perturbed(QLSTM(2, 3, **TINY, **VARIANTS["all"], backend=backend))
    x = torch.randn(2, 2, 2, dtype=F64)
    out, (h, c) = model(x)
    (out.pow(2).sum() + h.sum()).backward()
    assert torch.isfinite(out).all() and out.shape == (2, 2, 3)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert backend.estimator.submitted == 2 * 2  # two jobs per time step, gradients included


# -- options, errors, inspection --------------------------------------------------------------
@pytest.mark.parametrize("owner", [QLSTM, QLSTMCell])
@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"cell": "gru"}, ValueError, r"cell must be one of 'lstm', 'chen', got 'gru'"),
        ({"cell": None}, ValueError, r"cell must be one of 'lstm', 'chen', got None"),
        ({"input_scaling": 1}, TypeError, r"input_scaling must be a bool, got int 1"),
        (
            {"entangling": "strongly"},
            ValueError,
            r"entangling must be one of 'ring', 'linear', 'none', 'strong', got 'strongly'",
        ),
    ],
)
def test_bad_variant_options_name_the_argument_and_the_allowed_values(owner, options, error, match):
    with pytest.raises(error, match=rf"^{owner.__name__}: {match}$"):
        owner(2, 3, n_qubits=2, **options)


def test_circuits_draw_and_repr_of_the_chen_cell():
    model = QLSTM(1, 3, n_qubits=2, cell="chen", input_scaling=True, entangling="strong")
    circuits = model.circuits()
    assert list(circuits) == ["input", "forget", "cell", "output", "state", "output_map"]
    assert [c.name for c in circuits.values()] == list(circuits)
    assert "Ry(x[0])" in str(model.draw("output_map"))
    with pytest.raises(ValueError, match=r"draw: gate must be one of input, .*, state, output_map"):
        model.draw("hidden")
    assert list(QLSTM(1, 3, n_qubits=2).circuits()) == ["input", "forget", "cell", "output"]
    assert "cell='chen', input_scaling=True, n_qubits=2, entangling='strong'" in repr(model)
    assert "cell=" not in repr(QLSTM(1, 3)) and "input_scaling" not in repr(QLSTM(1, 3))
    cell = model.cell_l0
    with pytest.raises(ValueError, match=r"QLSTMCell.step: cell='chen' .* use step_with_output"):
        cell.step(cell.bind(), torch.zeros(1, 8), torch.zeros(1, 3), torch.zeros(1, 3))


# -- the forecaster, the CLI and the config keys ----------------------------------------------
def test_model_config_passes_the_variant_and_old_configs_load_with_the_defaults():
    old = ModelConfig(hidden_size=2, circuit=CircuitSpec(n_qubits=2)).to_dict()
    del old["cell"], old["input_scaling"]  # a checkpoint written before the variants
    assert ModelConfig.from_dict(old) == ModelConfig(hidden_size=2, circuit=CircuitSpec(2))
    config = ModelConfig(hidden_size=2, circuit=CircuitSpec(2), cell="chen", input_scaling=True)
    model = Forecaster(ModelConfig.from_dict(config.to_dict()))
    assert model.lstm.cell == "chen" and model.lstm.input_scaling
    assert "cell" not in ModelConfig(kind="lstm").to_dict()


def test_train_flags_build_the_variant(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    argv = ["train", "--dataset", "sine", "--n-points", "12", "--hidden-size", "2"]
    argv += ["--n-qubits", "2", "--no-progress", "--epochs", "1", "--run-dir", str(run_dir)]
    argv += ["--cell", "chen", "--input-scaling", "--entangling", "strong"]
    assert main(argv) == 0, capsys.readouterr().err
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    config = state["models"]["qlstm"]
    assert (config["cell"], config["input_scaling"]) == ("chen", True)
    assert config["circuit"]["entangling"] == "strong"
    assert main(["train", "--model", "lstm", "--cell", "chen"]) == 1
    assert "--cell would be ignored" in capsys.readouterr().err


SWEEP_TRAIN = """
[train]
dataset = "sine"
n_points = 12
window = 3
hidden_size = 2
n_qubits = 2
epochs = 1
{extra}
[sweep]
backends = ["statevector"]
"""


def test_a_sweep_train_table_takes_the_variant_keys(tmp_path):
    path = tmp_path / "experiment.toml"
    extra = 'cell = "chen"\ninput_scaling = true\nentangling = "strong"'
    path.write_text(SWEEP_TRAIN.format(extra=extra))
    settings = read_experiment(path).train
    assert (settings["cell"], settings["input_scaling"], settings["entangling"]) == (
        "chen",
        True,
        "strong",
    )


@pytest.mark.parametrize(
    "extra, error, match",
    [
        ('cell = "gru"', ValueError, r"\[train\] cell must be one of 'lstm', 'chen', got 'gru'"),
        ("input_scaling = 1", TypeError, r"\[train\] input_scaling must be bool, got int 1"),
        ("depth = true", TypeError, r"\[train\] depth must be int, got bool True"),
    ],
)
def test_a_bad_variant_key_in_a_sweep_file_is_named(tmp_path, extra, error, match):
    path = tmp_path / "experiment.toml"
    path.write_text(SWEEP_TRAIN.format(extra=extra))
    with pytest.raises(error, match=match):
        read_experiment(path)
