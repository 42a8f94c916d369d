"""The cost model of sim.costs and the method `auto` picks with it (no qubit cutoffs)."""

import pytest
import torch

from qlstm_qiskit import QLSTM
from qlstm_qiskit.circuits import CircuitSpec, gate_circuit
from qlstm_qiskit.sim import BlockKernel, CompiledCircuit, ProductKernel, Workload, costs, estimate
from qlstm_qiskit.sim.adjoint import AdjointBound
from qlstm_qiskit.sim.block_kernel import BlockBound
from qlstm_qiskit.sim.statevector import BoundCircuit


def compiled(n_qubits, n_qlayers=1, depth=1, method="auto", **options) -> CompiledCircuit:
    gate = gate_circuit(CircuitSpec(n_qubits, n_qlayers, depth, **options))
    return CompiledCircuit(gate.circuit, gate.inputs, gate.weights, gate.observables, method=method)


@pytest.mark.parametrize(
    "n_qubits, n_qlayers, depth, batch, steps, device, expected",
    [
        (4, 1, 1, 32, 8, "cpu", "product"),  # REF: the product kernel
        (2, 1, 1, 32, 8, "cpu", "product"),
        (4, 2, 2, 32, 8, "cpu", "fused"),  # re-uploading: the block program
        (6, 1, 1, 32, 8, "cpu", "product"),  # a permutation follows: any qubit count
        (6, 1, 2, 32, 8, "cpu", "fused"),  # a unitary follows, beyond the expanded start
        (8, 2, 2, 32, 8, "cpu", "fused"),
        (14, 1, 1, 32, 8, "cpu", "product"),  # no jump to adjoint at 14 qubits
        (20, 1, 1, 32, 8, "cpu", "product"),  # Z-strings of a product state: no 2**n array
        (22, 1, 1, 32, 8, "cpu", "adjoint"),  # memory-bound: every other method > 4 GiB
        (4, 1, 1, 32, 8, "meta", "dense"),  # off the CPU: no NumPy kernels
        (8, 2, 2, 32, 8, "meta", "gates"),
    ],
)
def test_auto_picks_the_cheapest_method_that_fits(
    n_qubits, n_qlayers, depth, batch, steps, device, expected
):
    circuit = compiled(n_qubits, n_qlayers, depth)
    assert circuit.choose(batch, steps, device=device) == expected


def test_a_small_budget_leaves_only_the_adjoint_method():
    program = compiled(8, 2, 2).program
    assert costs.choose_method(program, Workload(4, 32, 8), budget=1) == "adjoint"
    works = estimate(program, Workload(4, 32, 8))
    adjoint, fused, gates = (works[m].memory_bytes for m in ("adjoint", "fused", "gates"))
    assert adjoint <= fused < gates  # autograd keeps every intermediate state


def test_the_product_estimate_of_the_reference_circuit_by_hand():
    work = estimate(compiled(4).program, Workload(circuits=4, batch=32, steps=8, itemsize=8))
    product = work["product"]
    dim, rows = 16, 4 * 32 * 8
    readout_elementwise, readout_matmul = 6 * dim * rows, 4 * 4 * dim * rows
    start, permutation = 16 * dim * rows, 6 * dim * rows  # the ring: 2 D forward, 4 D backward
    assert product.elementwise_flops == readout_elementwise + start + permutation == 458_752
    assert product.matmul_flops == readout_matmul == 262_144
    assert product.numpy_calls == 45 * 8 and product.torch_calls == 0
    assert product.memory_bytes == 2 * 8 * (4 * 32 * dim * 8)  # two states per step
    seconds = 458_752 / costs.ELEMENTWISE_FLOPS_PER_S + 262_144 / costs.MATMUL_FLOPS_PER_S
    assert product.seconds == pytest.approx(seconds + 360 * costs.NUMPY_CALL_S)


def test_a_segment_is_folded_when_the_unitary_is_cheaper():
    rotations = costs.StageCensus("weights", 2, 3)
    ring = costs.StageCensus("permutation", 0)
    # 2 qubits: a 4 x 4 product beats 2 x 3 NumPy calls per gate on a 4-amplitude state
    assert costs.segment_is_dense([rotations, ring], 2, 4 * 32 * 8, 4, 8)
    # 10 qubits: 8 D = 8192 flops per amplitude against 14 per gate
    big = costs.StageCensus("weights", 10, 3)
    assert not costs.segment_is_dense([big, ring], 10, 4 * 32 * 8, 4, 8)
    assert not costs.segment_is_dense([ring], 2, 10**6, 4, 8)  # a lone permutation


@pytest.mark.parametrize(
    "method, bound_type",
    [
        ("dense", BoundCircuit),
        ("gates", BoundCircuit),
        ("adjoint", AdjointBound),
        ("fused", BlockBound),
    ],
)
def test_explicit_methods_are_kept(method, bound_type):
    circuit = compiled(3, 2, 1, method=method)
    assert circuit.choose(32, 8) == method
    bound = circuit.bind(torch.zeros(4, circuit.n_weights))
    assert isinstance(bound, bound_type)
    values = bound.expectation(torch.zeros(4, 2, circuit.n_inputs))
    torch.testing.assert_close(values, torch.ones(4, 2, 3))  # |0...0> stays: <Z> = 1


def test_auto_hands_the_recurrence_the_chosen_kernel():
    weights = torch.randn(4, compiled(4).n_weights)
    assert isinstance(compiled(4).bind(weights).sequence_kernel(32, 8)[0], ProductKernel)
    weights = torch.randn(4, compiled(4, 2, 2).n_weights)
    assert isinstance(compiled(4, 2, 2).bind(weights).sequence_kernel(32, 8)[0], BlockKernel)
    bound = compiled(4, 2, 2).bind(weights.to("meta"))
    assert bound.sequence_kernel(32, 8) is None and bound.sequence_method == "dense"


def test_auto_and_explicit_methods_train_the_same_model():
    x = torch.randn(3, 2, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    results = []
    for method in ("auto", "gates"):
        model = QLSTM(1, 3, n_qubits=3, n_qlayers=2, depth=2, seed=8, dtype=torch.float64)
        model.set_backend("statevector", method=method)
        output, (h_n, c_n) = model(x)
        (output.sin().sum() + h_n.sum() + c_n.square().sum()).backward()
        results.append([output, h_n, c_n] + [p.grad for p in model.parameters()])
    for auto, gates in zip(*results, strict=True):
        torch.testing.assert_close(auto, gates, rtol=0, atol=1e-10)
