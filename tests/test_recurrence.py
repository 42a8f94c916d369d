"""The fused, hand-differentiated recurrence equals the autograd loop it replaces."""

import pytest
import torch

from qlstm_qiskit import QLSTM, QLSTMCell
from qlstm_qiskit.recurrence import autograd_sequence, fused_sequence, run_sequence
from qlstm_qiskit.sim.product_binding import rotation_with_slope

CONFIGS = [
    # n_qubits, depth, encoding, rotation, entangling, measure, bias
    (4, 1, "arctan", "rot", "ring", "Z", True),  # the default circuit: a permutation follows
    (1, 1, "arctan", "rot", "ring", "Z", True),
    (2, 1, "angle", "ry", "linear", "Z", False),
    (3, 2, "arctan", "rx", "ring", "X", True),  # a weight-dependent unitary follows
    (5, 1, "arctan", "rz", "none", "Y", True),  # odd Kronecker levels; fixed basis change
    (3, 1, "angle", "rot", "none", "Z", True),  # nothing follows the product layer
    (9, 1, "arctan", "rot", "ring", "Z", True),  # halves of the Kronecker product; NumPy-bound
]


def run_both(cell: QLSTMCell, reverse: bool, steps: int = 3, batch: int = 2, quick=False):
    """Outputs and every gradient of both recurrences for the same random inputs (``quick``: the
    fused one on the engine's once-built kernel that binds the basis from the weights)."""
    generator = torch.Generator().manual_seed(7)
    projected = torch.randn(
        steps, batch, 4 * cell.spec.n_qubits, generator=generator, dtype=torch.float64
    )
    h0 = torch.randn(batch, cell.hidden_size, generator=generator, dtype=torch.float64)
    c0 = torch.randn(batch, cell.hidden_size, generator=generator, dtype=torch.float64)
    weights = torch.randn(steps, batch, cell.hidden_size, generator=generator, dtype=torch.float64)
    results = []
    for fused in (True, False):
        leaves = [tensor.clone().requires_grad_() for tensor in (projected, h0, c0)]
        cell.zero_grad()
        bound = cell.bind()
        circuit, cell_weights = cell.gate_circuit, cell.recurrence_weights()
        if fused and quick:
            engine = cell.executor.engine("dense")
            kernel, operands = engine.product_sequence_kernel(cell.weight_q.reshape(4, -1))
            assert type(operands[0].grad_fn).__name__ == "BoundBasisBackward"
            output, h, c = fused_sequence(kernel, operands, circuit, cell_weights, *leaves, reverse)
        elif fused:
            kernel, basis, unitary = bound.product_kernel()
            output, h, c = fused_sequence(
                kernel, (basis, unitary), circuit, cell_weights, *leaves, reverse
            )
        else:
            output, h, c = autograd_sequence(bound, circuit, cell_weights, *leaves, reverse)
        ((output * weights).sum() + (h * h).sum() + (c * c * c).sum()).backward()
        grads = [leaf.grad for leaf in leaves]
        grads += [
            param.grad
            for name, param in cell.named_parameters()
            if name not in ("weight_ih", "bias_in")
        ]  # not used: projected is given
        results.append(([output, h, c], grads))
    return results


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("quick", [False, True], ids=["torch-bound", "numpy-bound"])
def test_fused_recurrence_equals_autograd_loop(config, reverse, quick):
    if quick and config[1] > 1:
        pytest.skip("a weight-dependent unitary follows: the basis is bound in torch")
    if not quick and config[0] > 5:
        pytest.skip("beyond the dense engine's expanded start: only the NumPy-bound kernel")
    n_qubits, depth, encoding, rotation, entangling, measure, bias = config
    cell = QLSTMCell(
        2,
        3,
        bias,
        n_qubits=n_qubits,
        depth=depth,
        encoding=encoding,
        rotation=rotation,
        entangling=entangling,
        measure=measure,
        seed=3,
        dtype=torch.float64,
    )
    with torch.no_grad():
        cell.weight_q.normal_(0, 1.0)  # far from the 0.01 start: every path matters
    assert quick or cell.bind().product_kernel() is not None
    (fused_values, fused_grads), (loop_values, loop_grads) = run_both(cell, reverse, quick=quick)
    for fused, loop in zip(fused_values, loop_values, strict=True):
        torch.testing.assert_close(fused, loop, rtol=0, atol=1e-12)
    assert len(fused_grads) == len(loop_grads)
    for fused, loop in zip(fused_grads, loop_grads, strict=True):
        assert fused is not None and loop is not None
        torch.testing.assert_close(fused, loop, rtol=0, atol=1e-10)


def test_fused_recurrence_passes_gradcheck():
    cell = QLSTMCell(1, 2, n_qubits=3, depth=2, seed=1, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    projected = torch.randn(2, 2, 12, generator=generator, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 2, generator=generator, dtype=torch.float64, requires_grad=True)

    def run(projected, h0, c0, weight_q):
        kernel, basis, unitary = cell.executor.bind(weight_q.reshape(4, -1)).product_kernel()
        circuit, weights = cell.gate_circuit, cell.recurrence_weights()
        return fused_sequence(kernel, (basis, unitary), circuit, weights, projected, h0, c0)

    weight_q = cell.weight_q.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (projected, h0, c0, weight_q))


def test_the_numpy_bound_product_kernel_passes_gradcheck():
    cell = QLSTMCell(1, 2, n_qubits=3, seed=1, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    projected = torch.randn(2, 2, 12, generator=generator, dtype=torch.float64, requires_grad=True)
    engine = cell.executor.engine("dense")

    def run(projected, weight_q):
        kernel, operands = engine.product_sequence_kernel(weight_q.reshape(4, -1))
        assert type(operands[0].grad_fn).__name__ == "BoundBasisBackward"
        circuit, weights = cell.gate_circuit, cell.recurrence_weights()
        zeros = torch.zeros(2, 2, dtype=torch.float64)
        return fused_sequence(kernel, operands, circuit, weights, projected, zeros, zeros)

    weight_q = torch.randn(cell.weight_q.shape, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(run, (projected, weight_q.requires_grad_()))


def test_circuits_without_a_numpy_kernel_use_the_autograd_loop():
    cell = QLSTMCell(1, 2, n_qubits=2, n_qlayers=2, seed=0, dtype=torch.float64)
    assert cell.bind().product_kernel() is None  # re-uploading: inputs after a unitary
    cell.set_backend("statevector", method="gates")  # no NumPy kernel at all
    projected = torch.randn(2, 3, 8, dtype=torch.float64)
    h = c = torch.zeros(3, 2, dtype=torch.float64)
    output, h_n, _c_n = run_sequence(
        cell.bind(), cell.gate_circuit, cell.recurrence_weights(), projected, h, c
    )
    assert output.shape == (2, 3, 2) and torch.equal(output[-1], h_n)


def test_fused_recurrence_in_float32_matches_float64():
    cell64 = QLSTMCell(1, 5, n_qubits=4, seed=2, dtype=torch.float64)
    cell32 = QLSTMCell(1, 5, n_qubits=4, dtype=torch.float32)
    cell32.load_state_dict({k: v.float() for k, v in cell64.state_dict().items()})
    x = torch.randn(6, 4, 1, dtype=torch.float64)
    outputs = []
    for cell in (cell64, cell32):
        projected = cell.project_input(x.to(cell.weight_q.dtype))
        h = c = projected.new_zeros(4, 5)
        output, _h, _c = run_sequence(
            cell.bind(), cell.gate_circuit, cell.recurrence_weights(), projected, h, c
        )
        output.sum().backward()
        outputs.append((output, cell.weight_q.grad))
    (out64, grad64), (out32, grad32) = outputs
    assert out32.dtype == torch.float32 and grad32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out64, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad32.double(), grad64, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", ["gates", "adjoint"])
def test_every_statevector_method_trains_the_same_model(method):
    x = torch.randn(3, 2, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    results = []
    for backend_method in ("auto", method):
        model = QLSTM(
            1, 3, n_qubits=3, n_qlayers=2, depth=2, bidirectional=True, seed=8, dtype=torch.float64
        ).set_backend("statevector", method=backend_method)
        output, (h_n, c_n) = model(x)
        (output.sin().sum() + h_n.sum() + c_n.square().sum()).backward()
        results.append([output, h_n, c_n] + [p.grad for p in model.parameters()])
    for auto, other in zip(*results, strict=True):
        torch.testing.assert_close(auto, other, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hidden_size": 1000, "n_qubits": 4},
        {"hidden_size": 10, "n_qubits": 2, "n_qlayers": 5, "depth": 30},
        {"hidden_size": 10, "n_qubits": 13, "depth": 2},  # adjoint
    ],
)
def test_the_ends_of_the_hyperparameter_ranges_train(kwargs):
    model = QLSTM(1, seed=0, **kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    output, _ = model(torch.randn(2, 2, 1, generator=torch.Generator().manual_seed(0)))
    output.square().mean().backward()
    optimizer.step()
    assert torch.isfinite(output).all()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", ["rx", "ry", "rz", "p"])
def test_the_numpy_rotations_are_qiskits_and_their_slopes_the_derivatives(name):
    import numpy as np
    from qiskit.circuit.library import PhaseGate, RXGate, RYGate, RZGate

    gate = {"rx": RXGate, "ry": RYGate, "rz": RZGate, "p": PhaseGate}[name]
    theta = np.array([-2.1, 0.0, 0.7, 3.9])
    matrix, slope = rotation_with_slope(name, theta)
    for k, angle in enumerate(theta):
        np.testing.assert_allclose(matrix[k], gate(angle).to_matrix(), atol=1e-14)
    step = 1e-6
    central = (
        rotation_with_slope(name, theta + step)[0] - rotation_with_slope(name, theta - step)[0]
    )
    np.testing.assert_allclose(slope, central / (2 * step), atol=1e-8)


def test_z_strings_are_found_as_parity_characters_and_other_diagonals_are_not():
    import numpy as np

    from qlstm_qiskit.sim.product_kernel import parity_characters

    n = 3
    index = np.arange(2**n)
    bit = [(index >> q) & 1 for q in range(n)]  # qubit q's bit of each basis state
    z0, z12 = 1 - 2 * bit[0], 0.5 * (1 - 2 * (bit[1] ^ bit[2]))  # Z_0 and 0.5 Z_1 Z_2
    masks, scale = parity_characters(np.stack((z0, z12), 1).astype(float), n)
    assert masks.tolist() == [[False, False, True], [True, True, False]]  # qubit n-1 first
    assert scale.tolist() == [1.0, 0.5]
    toffoli_like = 1 - 2 * (bit[0] & bit[1])  # not a character: Z on a product of bits
    assert parity_characters(toffoli_like[:, None].astype(float), n) is None
