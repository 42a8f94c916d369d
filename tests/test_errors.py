"""Bad input: every case names what was wrong and what was expected."""

import pytest
import torch

from qlstm_qiskit import QLSTM, QLSTMCell, get_backend

SMALL = {"n_qubits": 2}

CONSTRUCTOR_CASES = [
    ({"input_size": 0}, ValueError, r"QLSTM: input_size must be in the range >= 1, got 0"),
    ({"input_size": 2.5}, TypeError, r"QLSTM: input_size must be an int, got float 2.5"),
    ({"hidden_size": -3}, ValueError, r"QLSTM: hidden_size must be in the range >= 1, got -3"),
    ({"num_layers": 0}, ValueError, r"QLSTM: num_layers must be in the range >= 1, got 0"),
    ({"bias": "yes"}, TypeError, r"QLSTM: bias must be a bool, got str 'yes'"),
    ({"batch_first": 1}, TypeError, r"QLSTM: batch_first must be a bool, got int 1"),
    ({"dropout": 1.5}, ValueError, r"QLSTM: dropout must be in the range \[0, 1\], got 1.5"),
    ({"bidirectional": None}, TypeError, r"QLSTM: bidirectional must be a bool"),
    ({"inversward": "true"}, TypeError, r"QLSTM: inversward must be a bool"),
    ({"n_qubits": 0}, ValueError, r"QLSTM: n_qubits must be in the range 1..25, got 0"),
    ({"n_qubits": 26}, ValueError, r"QLSTM: n_qubits must be in the range 1..25, got 26"),
    ({"n_qlayers": 6}, ValueError, r"QLSTM: n_qlayers must be in the range 1..5, got 6"),
    ({"depth": 0}, ValueError, r"QLSTM: depth must be in the range 1..30, got 0"),
    ({"depth": 31}, ValueError, r"QLSTM: depth must be in the range 1..30, got 31"),
    (
        {"encoding": "amplitude"},
        ValueError,
        r"QLSTM: encoding must be one of 'angle', 'arctan', got 'amplitude'",
    ),
    ({"rotation": "u3"}, ValueError, r"QLSTM: rotation must be one of 'rot', 'rx', 'ry', 'rz'"),
    (
        {"entangling": "full"},
        ValueError,
        r"QLSTM: entangling must be one of 'ring', 'linear', 'none', 'strong', got 'full'",
    ),
    ({"measure": "W"}, ValueError, r"QLSTM: measure must be one of 'Z', 'X', 'Y', got 'W'"),
    (
        {"backend": "aer_magic"},
        ValueError,
        r"get_backend: unknown backend 'aer_magic'; valid names: aer_noisy, .*aer_statevector, "
        r"density_matrix, statevector",
    ),
    ({"backend": 3}, TypeError, r"QLSTM: backend must be a backend name .* got int"),
    ({"seed": -1}, ValueError, r"QLSTM: seed must be in the range 0..9223372036854775807, got -1"),
    ({"shots": 0}, ValueError, r"QLSTM: shots must be in the range >= 1, got 0"),
    (
        {"shots": 100},
        ValueError,
        r"unknown option\(s\) 'shots' for backend 'statevector'; valid options: gradient, method",
    ),
    (
        {"dtype": torch.int64},
        TypeError,
        r"QLSTM: dtype must be torch.float32 or torch.float64, got torch.int64",
    ),
]


@pytest.mark.parametrize("overrides,error,message", CONSTRUCTOR_CASES)
def test_constructor_errors(overrides, error, message):
    args = {"input_size": 2, "hidden_size": 3, **SMALL, **overrides}
    with pytest.raises(error, match=message):
        QLSTM(**args)


FORWARD_CASES = [
    (
        lambda: [[1.0, 2.0]],
        None,
        TypeError,
        r"QLSTM.forward: input must be a torch.Tensor, got list",
    ),
    (
        lambda: torch.zeros(4, 3, 2, dtype=torch.float64),
        None,
        TypeError,
        r"input must have dtype torch.float32 \(the model's dtype\), got torch.float64",
    ),
    (
        lambda: torch.zeros(4, 3, 2, dtype=torch.int64),
        None,
        TypeError,
        r"input must have dtype torch.float32",
    ),
    (
        lambda: torch.zeros(2),
        None,
        ValueError,
        r"input must have 2 or 3 dimensions, got shape \(2,\)",
    ),
    (
        lambda: torch.zeros(4, 3, 5),
        None,
        ValueError,
        r"input must have last dimension input_size=2, got shape \(4, 3, 5\)",
    ),
    (lambda: torch.zeros(0, 3, 2), None, ValueError, r"at least one time step"),
    (
        lambda: torch.zeros(4, 3, 2),
        torch.zeros(1, 3, 3),
        TypeError,
        r"hx must be a tuple \(h_0, c_0\), got Tensor",
    ),
    (
        lambda: torch.zeros(4, 3, 2),
        (torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)),
        ValueError,
        r"h_0 must have shape \(1, 3, 3\), got \(1, 2, 3\)",
    ),
    (
        lambda: torch.zeros(4, 3, 2),
        (torch.zeros(1, 3, 3), torch.zeros(3, 3)),
        ValueError,
        r"c_0 must have 3 dimensions, got shape \(3, 3\)",
    ),
    (
        lambda: torch.zeros(4, 2),
        (torch.zeros(1, 1, 3), torch.zeros(1, 1, 3)),
        ValueError,
        r"h_0 must have 2 dimensions",
    ),
]


@pytest.mark.parametrize("make_input,hx,error,message", FORWARD_CASES)
def test_forward_errors(make_input, hx, error, message):
    model = QLSTM(2, 3, **SMALL)
    with pytest.raises(error, match=message):
        model(make_input(), hx)


def test_cell_and_backend_errors():
    cell = QLSTMCell(2, 3, **SMALL)
    with pytest.raises(
        ValueError,
        match=r"QLSTMCell.forward: input must have last dimension "
        r"input_size=2, got shape \(4, 1\)",
    ):
        cell(torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"QLSTMCell.forward: h_0 must have shape \(4, 3\)"):
        cell(torch.zeros(4, 2), (torch.zeros(5, 3), torch.zeros(4, 3)))
    with pytest.raises(
        ValueError,
        match=r"QLSTMCell.draw: gate must be one of input, forget, "
        r"cell, output, got 'update'",
    ):
        cell.draw("update")
    with pytest.raises(
        ValueError,
        match=r"get_backend: method must be one of 'auto', "
        r"'dense', 'gates', 'adjoint', 'fused', got 'fast'",
    ):
        get_backend("statevector", method="fast")
    with pytest.raises(
        ValueError,
        match=r"get_backend: unknown option\(s\) 'shots' for backend "
        r"'statevector'; valid options: gradient, method",
    ):
        get_backend("statevector", shots=100)
    with pytest.raises(
        ValueError,
        match=r"backend options \['method'\] given with a backend "
        r"object",
    ):
        QLSTM(2, 3, **SMALL).set_backend(get_backend("statevector"), method="gates")
