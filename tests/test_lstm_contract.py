"""QLSTM's torch.nn.LSTM contract (issue 17, item 4): PackedSequence in and out, proj_size, empty
batches, no data-dependent checks in forward, torch.export and torch.compile. Shapes are checked
against an nn.LSTM built with the same arguments; values against per-sequence runs in float64."""

import itertools
from pathlib import Path

import pytest
import torch
from qiskit_aer.primitives import EstimatorV2 as AerEstimator
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence, pad_packed_sequence

from qlstm_qiskit import QLSTM, QLSTMCell
from qlstm_qiskit.backends.estimators import CountingEstimator

SMALL = {"n_qubits": 2}
F64 = torch.float64
LENGTHS = (3, 5, 1)  # unsorted: enforce_sorted=False reorders them
SAVED = Path(__file__).parent / "data" / "qlstm_saved_before_proj_size.pt"


def make_input(kind: str, batch_first: bool, generator: torch.Generator):
    """The input of one conformance case, in float32 (nn.LSTM's default dtype)."""
    if kind == "batched":
        shape = (2, 4, 3) if batch_first else (4, 2, 3)
        return torch.randn(shape, generator=generator)
    if kind == "unbatched":
        return torch.randn(4, 3, generator=generator)
    if kind == "empty_batch":
        return torch.zeros((0, 4, 3) if batch_first else (4, 0, 3))
    sequences = [torch.randn(n, 3, generator=generator) for n in LENGTHS]
    if kind == "packed_sorted":
        return pack_sequence(sorted(sequences, key=len, reverse=True))
    return pack_sequence(sequences, enforce_sorted=False)


KINDS = ("batched", "unbatched", "empty_batch", "packed_sorted", "packed_unsorted")


@pytest.mark.parametrize(
    "kind,batch_first,bidirectional,num_layers,proj_size",
    [
        (kind, batch_first, bidirectional, num_layers, proj_size)
        for kind, batch_first, bidirectional, num_layers, proj_size in itertools.product(
            KINDS, [False, True], [False, True], [1, 2], [0, 2]
        )
        if not (batch_first and kind in ("unbatched", "packed_sorted", "packed_unsorted"))
    ],
)
def test_shapes_equal_torch_lstm(kind, batch_first, bidirectional, num_layers, proj_size):
    args = dict(
        input_size=3,
        hidden_size=5,
        num_layers=num_layers,
        batch_first=batch_first,
        bidirectional=bidirectional,
        proj_size=proj_size,
    )
    reference, model = nn.LSTM(**args), QLSTM(**args, **SMALL, seed=0)
    x = make_input(kind, batch_first, torch.Generator().manual_seed(0))
    expected_out, (expected_h, expected_c) = reference(x)
    for hx in (None, (torch.randn(expected_h.shape), torch.randn(expected_c.shape))):
        out, (h, c) = model(x, hx)
        assert h.shape == expected_h.shape and c.shape == expected_c.shape
        if isinstance(x, PackedSequence):
            assert isinstance(out, PackedSequence)
            assert out.data.shape == expected_out.data.shape
            for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
                got, expected = getattr(out, field), getattr(expected_out, field)
                assert (got is None and expected is None) or torch.equal(got, expected), field
        else:
            assert out.shape == expected_out.shape


# -- PackedSequence: each sequence as if it ran alone -------------------------------------------
PACKED_CONFIGS = [
    {},
    {"bidirectional": True},
    {"num_layers": 2},
    {"inversward": True},
    {"bidirectional": True, "inversward": True, "num_layers": 2},
    {"proj_size": 2, "bidirectional": True},
    {"cell": "chen", "bidirectional": True},  # the output is y_t, not h_t
    {"cell": "chen", "input_scaling": True, "num_layers": 2, "inversward": True},
]


def packed_case(config, generator):
    model = QLSTM(2, 3, **config, **SMALL, seed=4, dtype=F64)
    sequences = [torch.randn(n, 2, generator=generator, dtype=F64) for n in LENGTHS]
    layers = model.num_layers * model.num_directions
    hx = (
        torch.randn(layers, len(LENGTHS), model.state_size, generator=generator, dtype=F64),
        torch.randn(layers, len(LENGTHS), 3, generator=generator, dtype=F64),
    )
    return model, sequences, hx


@pytest.mark.parametrize("config", PACKED_CONFIGS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("with_hx", [False, True])
def test_packed_sequences_run_as_if_alone(config, enforce_sorted, with_hx):
    model, sequences, hx = packed_case(config, torch.Generator().manual_seed(1))
    if enforce_sorted:
        order = sorted(range(len(sequences)), key=lambda b: -len(sequences[b]))
        sequences, hx = [sequences[b] for b in order], tuple(s[:, order] for s in hx)
    if not with_hx:
        hx = tuple(torch.zeros_like(state) for state in hx)
    packed = pack_sequence(sequences, enforce_sorted=enforce_sorted)
    out, (h_n, c_n) = model(packed, hx if with_hx else None)
    padded, lengths = pad_packed_sequence(out)  # (T, B, D R) in the original order
    assert lengths.tolist() == [len(s) for s in sequences]
    for b, sequence in enumerate(sequences):
        alone, (h_alone, c_alone) = model(sequence, (hx[0][:, b], hx[1][:, b]))
        torch.testing.assert_close(padded[: len(sequence), b], alone, rtol=0, atol=1e-10)
        torch.testing.assert_close(h_n[:, b], h_alone, rtol=0, atol=1e-10)
        torch.testing.assert_close(c_n[:, b], c_alone, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "config", [PACKED_CONFIGS[1], PACKED_CONFIGS[4], PACKED_CONFIGS[5], PACKED_CONFIGS[6]]
)
def test_packed_gradient_is_the_sum_of_the_per_sequence_gradients(config):
    model, sequences, hx = packed_case(config, torch.Generator().manual_seed(2))

    def loss(output, h_n, c_n):
        return output.square().sum() + h_n.sum() + 2 * c_n.sum()

    out, (h_n, c_n) = model(pack_sequence(sequences, enforce_sorted=False), hx)
    packed_grads = torch.autograd.grad(loss(out.data, h_n, c_n), list(model.parameters()))
    summed = [torch.zeros_like(p) for p in model.parameters()]
    for b, sequence in enumerate(sequences):
        alone, (h_alone, c_alone) = model(sequence, (hx[0][:, b], hx[1][:, b]))
        grads = torch.autograd.grad(loss(alone, h_alone, c_alone), list(model.parameters()))
        summed = [total + grad for total, grad in zip(summed, grads, strict=True)]
    for (name, _), got, expected in zip(
        model.named_parameters(), packed_grads, summed, strict=True
    ):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-9, msg=name)


# -- proj_size ----------------------------------------------------------------------------------
def test_projection_parameters_have_torch_lstm_names_and_shapes():
    args = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=2)
    reference, model = nn.LSTM(**args), QLSTM(**args, **SMALL)
    expected = {k: v.shape for k, v in reference.state_dict().items() if "weight_hr" in k}
    got = {k: v.shape for k, v in model.state_dict().items() if "weight_hr" in k}
    assert got == expected and len(got) == 4
    # the recurrent projection into the circuits takes proj_size features; layer 1 takes D * P
    assert model.cell_l0.weight_hh.shape == (8, 2) and model.cell_l1.weight_ih.shape == (8, 4)
    assert "proj_size=2" in repr(model) and "proj_size" not in repr(QLSTM(3, 5, **SMALL))
    assert not any("weight_hr" in k for k in QLSTM(3, 5, **SMALL).state_dict())


def test_projected_qlstm_is_its_cell_looped_with_the_projection():
    model = QLSTM(2, 3, proj_size=1, **SMALL, seed=6, dtype=F64)
    x = torch.randn(4, 2, 2, dtype=F64)
    out, (h_n, c_n) = model(x)
    h, c = torch.zeros(2, 1, dtype=F64), torch.zeros(2, 3, dtype=F64)
    for t in range(4):
        h, c = model.cell_l0(x[t], (h, c), weight_hr=model.weight_hr_l0)
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=1e-12)


def test_projected_model_gradcheck_in_float64():
    model = QLSTM(2, 3, proj_size=2, bidirectional=True, n_qubits=1, seed=8, dtype=F64)
    names = [name for name, _ in model.named_parameters()]
    x = torch.randn(2, 1, 2, dtype=F64)
    h0, c0 = torch.randn(2, 1, 2, dtype=F64), torch.randn(2, 1, 3, dtype=F64)

    def run(x, h0, c0, *params):
        values = dict(zip(names, params, strict=True))
        out, (h_n, c_n) = torch.func.functional_call(model, values, (x, (h0, c0)))
        return out, h_n, c_n

    inputs = (x, h0, c0, *(p.detach().clone() for p in model.parameters()))
    inputs = tuple(t.requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-6)


def test_a_model_saved_before_proj_size_loads_with_identical_outputs():
    """The file was written by the code before proj_size existed: same keys, same outputs."""
    saved = torch.load(SAVED, weights_only=True)
    model = QLSTM(2, 3, num_layers=2, bidirectional=True, **SMALL, dtype=F64)
    model.load_state_dict(saved["state_dict"], strict=True)
    assert list(model.state_dict()) == list(saved["state_dict"])
    out, (h_n, c_n) = model(saved["input"])
    torch.testing.assert_close(out, saved["output"], rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, saved["h_n"], rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n, saved["c_n"], rtol=0, atol=1e-12)


CONTRACT_ERRORS = [
    (
        lambda: QLSTM(3, 5, proj_size=2, cell="chen", **SMALL),
        ValueError,
        r"QLSTM: proj_size must be 0 with cell='chen' \(the chen cell maps sigma\(o\) tanh\(c\) "
        r"to h_t with a VQC, not with weight_hr\), got 2",
    ),
    (
        lambda: QLSTMCell(3, 5, proj_size=2, cell="chen", **SMALL),
        ValueError,
        r"QLSTMCell: proj_size must be 0 with cell='chen'",
    ),
    (
        lambda: QLSTM(3, 5, proj_size=5, **SMALL),
        ValueError,
        r"QLSTM: proj_size must be in the "
        r"range 0\.\.4 \(smaller than hidden_size=5\), got 5",
    ),
    (
        lambda: QLSTM(3, 5, proj_size=-1, **SMALL),
        ValueError,
        r"proj_size must be in the range >= 0, got -1",
    ),
    (
        lambda: QLSTM(3, 5, proj_size=2.0, **SMALL),
        TypeError,
        r"QLSTM: proj_size must be an int, got float 2.0",
    ),
    (
        lambda: QLSTMCell(3, 5, proj_size=True, **SMALL),
        TypeError,
        r"QLSTMCell: proj_size must be an int, got bool",
    ),
    (
        lambda: QLSTMCell(3, 5, proj_size=2, **SMALL)(torch.zeros(3)),
        TypeError,
        r"QLSTMCell: weight_hr must be a torch.Tensor of shape \(2, 5\) \(proj_size=2\), "
        r"got NoneType",
    ),
    (
        lambda: QLSTMCell(3, 5, proj_size=2, **SMALL)(torch.zeros(3), weight_hr=torch.zeros(5, 2)),
        ValueError,
        r"QLSTMCell: weight_hr must have shape \(2, 5\), got \(5, 2\)",
    ),
    (
        lambda: QLSTMCell(3, 5, **SMALL)(torch.zeros(3), weight_hr=torch.zeros(2, 5)),
        ValueError,
        r"QLSTMCell: weight_hr must be None when proj_size=0, got a tensor",
    ),
    (
        lambda: QLSTM(3, 5, proj_size=2, **SMALL)(
            torch.zeros(4, 3), (torch.zeros(1, 5), torch.zeros(1, 5))
        ),
        ValueError,
        r"QLSTM.forward: h_0 must have shape \(1, 2\), got \(1, 5\)",
    ),
    (
        lambda: QLSTM(3, 5, proj_size=2, **SMALL)(
            torch.zeros(4, 3), (torch.zeros(1, 2), torch.zeros(1, 2))
        ),
        ValueError,
        r"QLSTM.forward: c_0 must have shape \(1, 5\), got \(1, 2\)",
    ),
    (
        lambda: QLSTM(3, 5, **SMALL)(pack_sequence([torch.zeros(2, 4)])),
        ValueError,
        r"QLSTM.forward: input.data must have last dimension input_size=3, got shape \(2, 4\)",
    ),
    (
        lambda: QLSTM(3, 5, **SMALL)(pack_sequence([torch.zeros(2, 3, dtype=F64)])),
        TypeError,
        r"QLSTM.forward: input.data must have dtype torch.float32 \(the model's dtype\)",
    ),
    (
        lambda: QLSTM(3, 5, **SMALL)(
            pack_sequence([torch.zeros(2, 3)] * 2), (torch.zeros(1, 5), torch.zeros(1, 5))
        ),
        ValueError,
        r"QLSTM.forward: h_0 must have 3 dimensions, got shape \(1, 5\)",
    ),
    (
        lambda: QLSTM(3, 5, batch_first=True, **SMALL)(torch.zeros(2, 0, 3)),
        ValueError,
        r"QLSTM.forward: input must have at least one time step \(torch.nn.LSTM refuses an empty "
        r"sequence too\), got shape \(2, 0, 3\)",
    ),
    (lambda: QLSTM(3, 5, **SMALL)(torch.zeros(0, 3)), ValueError, r"at least one time step"),
]


@pytest.mark.parametrize("make,error,message", CONTRACT_ERRORS)
def test_contract_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


# -- empty batches ------------------------------------------------------------------------------
@pytest.mark.parametrize("proj_size", [0, 2])
def test_an_empty_batch_is_empty_and_gives_zero_gradients_like_torch_lstm(proj_size):
    reference = nn.LSTM(3, 5, bidirectional=True, proj_size=proj_size)
    model = QLSTM(3, 5, bidirectional=True, proj_size=proj_size, **SMALL)
    x = torch.zeros(4, 0, 3)
    expected_out, (expected_h, _) = reference(x)
    out, (h_n, c_n) = model(x)
    assert out.shape == expected_out.shape and h_n.shape == expected_h.shape
    (out.sum() + h_n.sum() + c_n.sum()).backward()
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters())


def test_cell_with_an_empty_batch_like_torch_lstm_cell():
    expected_h, expected_c = nn.LSTMCell(3, 5)(torch.zeros(0, 3))
    h, c = QLSTMCell(3, 5, **SMALL)(torch.zeros(0, 3), (torch.zeros(0, 5), torch.zeros(0, 5)))
    assert h.shape == expected_h.shape and c.shape == expected_c.shape


def test_a_primitive_backend_is_never_called_with_an_empty_batch():
    estimator = CountingEstimator(AerEstimator(options={"default_precision": 0.0}))
    model = QLSTM(1, 3, backend=estimator, **SMALL)
    out, (h_n, _) = model(torch.zeros(3, 0, 1))
    assert out.shape == (3, 0, 3) and h_n.shape == (1, 0, 3)
    assert estimator.calls == 0
    model(torch.zeros(3, 2, 1))
    assert estimator.calls == 3  # one call per time step once there are rows
    named = QLSTM(1, 3, backend="aer_statevector", **SMALL)
    assert named(torch.zeros(2, 0, 1))[0].shape == (2, 0, 3)


# -- no data-dependent checks; export and compile -----------------------------------------------
def test_nan_input_propagates_like_torch_lstm():
    x = torch.zeros(3, 2, 2)
    x[1, 0, 0] = float("nan")
    out, (h_n, _) = QLSTM(2, 3, **SMALL)(x)
    expected, _ = nn.LSTM(2, 3)(x)
    assert torch.equal(out.isnan(), expected.isnan())  # from step 1 on, sequence 0 only
    assert h_n[0, 0].isnan().all() and not h_n[0, 1].isnan().any()


def test_torch_export_matches_eager():
    model = QLSTM(2, 3, bidirectional=True, **SMALL, seed=9, dtype=F64).eval()
    x = torch.randn(4, 2, 2, dtype=F64)
    exported = torch.export.export(model, (x,)).module()
    with torch.no_grad():
        expected_out, (expected_h, expected_c) = model(x)
        out, (h_n, c_n) = exported(x)
    torch.testing.assert_close(out, expected_out, rtol=0, atol=1e-6)
    torch.testing.assert_close(h_n, expected_h, rtol=0, atol=1e-6)
    torch.testing.assert_close(c_n, expected_c, rtol=0, atol=1e-6)


def compiled_step_matches_eager(backend: str):
    model = QLSTM(2, 3, **SMALL, seed=10, dtype=F64)
    x = torch.randn(3, 2, 2, dtype=F64)

    def step(module):
        module.zero_grad()
        out, (h_n, _) = module(x)
        (out.square().sum() + h_n.sum()).backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()]

    expected_out, expected_grads = step(model)
    out, grads = step(torch.compile(model, backend=backend))
    torch.testing.assert_close(out, expected_out, rtol=0, atol=1e-6)
    for expected, got in zip(expected_grads, grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_torch_compile_forward_and_backward_match_eager():
    compiled_step_matches_eager("aot_eager")


@pytest.mark.slow
def test_torch_compile_with_inductor_matches_eager():
    compiled_step_matches_eager("inductor")
