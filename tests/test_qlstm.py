"""QLSTM / QLSTMCell against torch.nn.LSTM's contract; weights, state and determinism."""

import io
import itertools

import pytest
import torch
from torch import nn

from qlstm_qiskit import QLSTM, QLSTMCell, get_backend

SMALL = {"n_qubits": 2}


@pytest.mark.parametrize(
    "batch_first,bidirectional,num_layers,batched,with_hx",
    list(itertools.product([False, True], [False, True], [1, 2], [True, False], [False, True])),
)
def test_shapes_equal_torch_lstm(batch_first, bidirectional, num_layers, batched, with_hx):
    args = dict(
        input_size=3,
        hidden_size=5,
        num_layers=num_layers,
        batch_first=batch_first,
        bidirectional=bidirectional,
    )
    reference, model = nn.LSTM(**args), QLSTM(**args, **SMALL, seed=0)
    steps, batch, directions = 4, 2, 2 if bidirectional else 1
    if batched:
        x = torch.randn((batch, steps, 3) if batch_first else (steps, batch, 3))
        state_shape = (directions * num_layers, batch, 5)
    else:
        x = torch.randn(steps, 3)
        state_shape = (directions * num_layers, 5)
    hx = (torch.randn(state_shape), torch.randn(state_shape)) if with_hx else None
    expected_out, (expected_h, expected_c) = reference(x, hx)
    out, (h, c) = model(x, hx)
    assert out.shape == expected_out.shape
    assert h.shape == expected_h.shape and c.shape == expected_c.shape
    assert out.dtype == x.dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("batched", [True, False])
def test_cell_shapes_equal_torch_lstm_cell(batched):
    x = torch.randn(3, 4) if batched else torch.randn(4)
    expected_h, expected_c = nn.LSTMCell(4, 6)(x)
    h, c = QLSTMCell(4, 6, **SMALL, seed=0)(x)
    assert h.shape == expected_h.shape and c.shape == expected_c.shape


def test_qlstm_is_its_cell_looped_over_time():
    model = QLSTM(2, 3, **SMALL, seed=1, dtype=torch.float64)
    x = torch.randn(5, 4, 2, dtype=torch.float64)
    out, (h_n, c_n) = model(x)
    h = c = torch.zeros(4, 3, dtype=torch.float64)
    for t in range(5):
        h, c = model.cell_l0(x[t], (h, c))
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=1e-12)


def test_bidirectional_reverse_half_reads_backwards():
    model = QLSTM(2, 3, bidirectional=True, **SMALL, seed=2, dtype=torch.float64)
    x = torch.randn(4, 1, 2, dtype=torch.float64)
    out, (h_n, _) = model(x)
    h = c = torch.zeros(1, 3, dtype=torch.float64)
    for t in reversed(range(4)):
        h, c = model.cell_l0_reverse(x[t], (h, c))
        torch.testing.assert_close(out[t, :, 3:], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[1], h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_inversward_is_the_forward_model_on_the_reversed_sequence(bidirectional):
    plain = QLSTM(
        2, 3, num_layers=2, bidirectional=bidirectional, **SMALL, seed=3, dtype=torch.float64
    )
    inverse = QLSTM(
        2,
        3,
        num_layers=2,
        bidirectional=bidirectional,
        inversward=True,
        **SMALL,
        dtype=torch.float64,
    )
    inverse.load_state_dict(plain.state_dict())
    x = torch.randn(6, 2, 2, dtype=torch.float64)
    out, (h, c) = inverse(x)
    expected_out, (expected_h, expected_c) = plain(x.flip(0))
    # output[t] stays aligned with input[t]; the final state is the one after input[0]
    torch.testing.assert_close(out, expected_out.flip(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(h, expected_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, expected_c, rtol=0, atol=1e-12)
    assert not torch.allclose(out, plain(x)[0])


def test_state_dict_keys_are_documented_names():
    model = QLSTM(3, 5, num_layers=2, bidirectional=True, n_qubits=2, depth=2, n_qlayers=3)
    names = ["weight_ih", "weight_hh", "bias_in", "weight_q", "weight_out", "bias_out"]
    cells = ["cell_l0", "cell_l0_reverse", "cell_l1", "cell_l1_reverse"]
    assert list(model.state_dict()) == [f"{c}.{n}" for c in cells for n in names]
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["cell_l0.weight_ih"] == (8, 3) and shapes["cell_l1.weight_ih"] == (8, 10)
    assert shapes["cell_l0.weight_hh"] == (8, 5) and shapes["cell_l0.bias_in"] == (8,)
    assert shapes["cell_l0.weight_q"] == (4, 3, 2, 2, 3)
    assert shapes["cell_l0.weight_out"] == (4, 5, 2) and shapes["cell_l0.bias_out"] == (4, 5)
    no_bias = QLSTM(3, 5, bias=False, **SMALL)
    assert list(no_bias.state_dict()) == [
        "cell_l0.weight_ih",
        "cell_l0.weight_hh",
        "cell_l0.weight_q",
        "cell_l0.weight_out",
    ]


def test_save_load_round_trip_reproduces_outputs_exactly():
    model = QLSTM(2, 4, num_layers=2, **SMALL, seed=5)
    x = torch.randn(3, 2, 2)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = QLSTM(2, 4, num_layers=2, **SMALL, seed=99)
    assert not torch.equal(restored(x)[0], model(x)[0])
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(restored(x)[0], model(x)[0])


def test_every_parameter_changes_after_one_optimizer_step():
    model = QLSTM(2, 3, num_layers=2, bidirectional=True, **SMALL, seed=6)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out, (h, c) = model(torch.randn(4, 3, 2))
    (out.square().mean() + h.sum() + c.sum()).backward()
    optimizer.step()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
        assert not torch.equal(param.detach(), before[name]), name


def test_seed_makes_construction_and_results_deterministic():
    x = torch.randn(3, 2, 2)
    a, b, c = (QLSTM(2, 3, **SMALL, seed=s) for s in (7, 7, 8))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert torch.equal(a(x)[0], b(x)[0])
    assert not torch.equal(a.cell_l0.weight_q, c.cell_l0.weight_q)


def test_gradcheck_whole_model_float64():
    model = QLSTM(2, 2, bidirectional=True, n_qubits=2, n_qlayers=2, seed=8, dtype=torch.float64)
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    params = dict(model.named_parameters())
    names = ["cell_l0.weight_q", "cell_l0_reverse.weight_ih", "cell_l0.weight_out"]

    def run(x, *tensors):
        out, (h, c) = torch.func.functional_call(
            model, {**params, **dict(zip(names, tensors, strict=True))}, (x,)
        )
        return out, h, c

    inputs = [params[n].detach().clone().requires_grad_() for n in names]
    assert torch.autograd.gradcheck(run, (x, *inputs))


def test_states_follow_input_dtype_and_float64_runs():
    model = QLSTM(1, 3, **SMALL, dtype=torch.float64)
    out, (h, c) = model(torch.randn(2, 1, 1, dtype=torch.float64))
    assert out.dtype == h.dtype == c.dtype == torch.float64


def test_set_backend_keeps_weights_and_results():
    model = QLSTM(2, 3, n_qubits=3, n_qlayers=2, seed=9, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    expected = model(x)[0]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.set_backend("statevector", method="gates") is model
    assert "method='gates'" in repr(model)
    torch.testing.assert_close(model(x)[0], expected, rtol=0, atol=1e-12)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    model.set_backend(get_backend("statevector", method="dense"))
    torch.testing.assert_close(model(x)[0], expected, rtol=0, atol=1e-12)


def test_circuits_and_draw():
    model = QLSTM(1, 3, n_qubits=3, depth=2)
    circuits = model.circuits()
    assert list(circuits) == ["input", "forget", "cell", "output"]
    assert [c.name for c in circuits.values()] == list(circuits)
    assert all(c.num_qubits == 3 and c.num_parameters == 6 + 18 for c in circuits.values())
    drawing = str(model.draw("forget"))
    assert "Ry(x[0])" in drawing and "Rz(w[0])" in drawing


def test_extra_repr_shows_non_default_arguments_and_backend():
    text = repr(QLSTM(1, 4, num_layers=2, batch_first=True, n_qubits=3, encoding="angle"))
    assert text.startswith(
        "QLSTM(\n  1, 4, num_layers=2, batch_first=True, n_qubits=3, "
        "encoding='angle', backend=StatevectorBackend("
    )
    assert "bidirectional" not in text.splitlines()[1]


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="dropout > 0 .* num_layers=1"):
        QLSTM(1, 2, dropout=0.5, **SMALL)
