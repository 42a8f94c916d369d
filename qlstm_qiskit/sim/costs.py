"""Estimates of the work and memory of each simulation method, and the choice between them.

:func:`estimate` counts, for a parsed circuit and a workload (``circuits`` weight sets, ``batch``
rows, ``steps`` time steps of one sequence), the floating-point operations of the forward and
backward pass of every method, the array operations they issue (each costs a fixed overhead
whatever its size: what dominates small circuits) and the memory they hold, and turns them into
estimated seconds with the rates below. :func:`choose_method` picks the cheapest method whose
memory fits :data:`MEMORY_BUDGET_BYTES`. The rates are round figures for one core of a current
CPU, not measurements; only their ratios matter for the choice (``benchmarks/bench_configs.py``
prints the rates achieved).

Per amplitude of one row (``D = 2**n`` amplitudes), the counts used are: a 2x2 complex matrix on
one qubit 14 real flops; its reverse pass (2x2 overlap, then undoing it on the state and on the
gradient) 44; a dense ``D x D`` complex matrix ``8 D`` forward and ``16 D`` backward (input
gradient and matrix gradient); a permutation 2 forward, 4 backward (memory traffic, counted as
flops), and through torch autograd 4 times the forward; the readout ``6`` element-wise and
``4 n_obs`` in matrix products (forward and backward). In the block program a weight-only layer
runs as one ``K x K`` matrix product per chunk of qubits (:func:`~qlstm_qiskit.sim.block_ops.
chunk_ranges`, ``K = 2**k``): ``24 K`` matrix-product flops (forward, input gradient, matrix
gradient) and its input kept per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .adjoint import CHUNK_AMPLITUDES
from .block_ops import CHUNK_QUBITS, chunk_ranges
from .layers import LocalLayer, ProductStage
from .product_kernel import CHARACTER_MIN_QUBITS, parity_characters
from .program import Program, diagonal_signs
from .statevector import Stage, expands, segment

#: element-wise complex arithmetic on state-sized arrays, flop/s (memory bound)
ELEMENTWISE_FLOPS_PER_S = 1.5e9
#: complex matrix products (BLAS), flop/s
MATMUL_FLOPS_PER_S = 1.5e10
#: fixed cost of one NumPy call on small arrays, s
NUMPY_CALL_S = 3e-6
#: fixed cost of one torch operation with its autograd node (forward and backward), s
TORCH_CALL_S = 2e-5
#: the most memory a method may hold for one sequence; above, a method is not chosen
MEMORY_BUDGET_BYTES = 4 * 2**30
#: the methods :func:`estimate` knows; ``product`` and ``fused`` run in NumPy (CPU only)
ESTIMATED_METHODS = ("product", "fused", "dense", "gates", "adjoint")


@dataclass(frozen=True)
class StageCensus:
    """What the cost model needs of one stage: ``kind`` is ``"input"`` or ``"weights"`` (a
    layer of one-qubit gates, with or without inputs), ``"permutation"`` or ``"fixed"`` (another
    multi-qubit gate); ``qubits`` it acts on; ``pieces`` gate columns of a layer."""

    kind: str
    qubits: int
    pieces: int = 0


def census(stage: Stage) -> StageCensus:
    """The :class:`StageCensus` of a stage of :func:`~qlstm_qiskit.sim.statevector.segment`."""
    if isinstance(stage, LocalLayer):
        touched = sum(len(qubits) for qubits, columns in stage.groups if columns)
        pieces = sum(len(columns) for _qubits, columns in stage.groups)
        return StageCensus("input" if stage.depends_on_input else "weights", touched, pieces)
    if hasattr(stage, "source"):  # a PhasedPermutation
        return StageCensus("permutation", 0)
    return StageCensus("fixed", len(stage.qubits))


@dataclass
class Work:
    """Work of one training step's circuit evaluations (forward and backward)."""

    elementwise_flops: float = 0.0
    matmul_flops: float = 0.0
    numpy_calls: float = 0.0
    torch_calls: float = 0.0
    memory_bytes: float = 0.0

    @property
    def flops(self) -> float:
        return self.elementwise_flops + self.matmul_flops

    @property
    def seconds(self) -> float:
        return (
            self.elementwise_flops / ELEMENTWISE_FLOPS_PER_S
            + self.matmul_flops / MATMUL_FLOPS_PER_S
            + self.numpy_calls * NUMPY_CALL_S
            + self.torch_calls * TORCH_CALL_S
        )


def _layer(stage: StageCensus, dim: int) -> tuple[float, float, float]:
    """Per row, forward and backward flops of one stage applied gate by gate, and whether the
    flops are matrix products (1) or element-wise (0)."""
    if stage.kind in ("input", "weights"):
        return 14 * stage.qubits * dim, 44 * stage.qubits * dim, 0
    if stage.kind == "permutation":
        return 2 * dim, 4 * dim, 0
    return 8 * 2**stage.qubits * dim, 16 * 2**stage.qubits * dim, 1


def _add(work: Work, flops: float, matmul: bool) -> None:
    if matmul:
        work.matmul_flops += flops
    else:
        work.elementwise_flops += flops


def segment_is_dense(
    stages: list[StageCensus], n_qubits: int, rows: int, circuits: int, steps: int
) -> bool:
    """Whether a weight-only segment costs less folded into a unitary than gate by gate, for
    ``rows`` rows in all (circuits x batch x steps). A lone permutation is never folded."""
    if len(stages) == 1 and stages[0].kind == "permutation":
        return False
    dense = _segment_work(stages, n_qubits, rows, circuits, True)
    gates = _segment_work(stages, n_qubits, rows, circuits, False)
    dense.numpy_calls *= steps
    gates.numpy_calls *= steps
    return dense.seconds < gates.seconds


def _segment_work(
    stages: list[StageCensus], n_qubits: int, rows: int, circuits: int, dense: bool
) -> Work:
    """A weight-only segment's work on ``rows`` rows (NumPy calls: per step)."""
    dim = 2**n_qubits
    work = Work()
    if dense:  # 8 D^2 forward, 16 D^2 backward per row; the fold: the gates on D rows, autograd
        work.matmul_flops += 24 * dim * dim * rows
        work.numpy_calls += 4
        work.memory_bytes += 3 * circuits * dim * dim * 16
        for stage in stages:
            forward, _backward, matmul = _layer(stage, dim)
            _add(work, 3 * forward * dim * circuits, matmul)
            work.torch_calls += 2 + 7 * stage.qubits
        return work
    for stage in stages:
        if stage.kind == "weights":  # a matrix product per chunk of qubits (block_ops.ChunkOp)
            chunks = chunk_ranges(n_qubits)[: -(-stage.qubits // CHUNK_QUBITS)]
            sizes = [hi - lo for lo, hi in chunks]
            work.matmul_flops += 24 * dim * rows * sum(2**size for size in sizes)
            work.numpy_calls += 8 * len(sizes)
            work.torch_calls += 4 + 2 * stage.qubits
            work.memory_bytes += len(sizes) * rows * dim * 8  # each chunk keeps its input
            continue
        forward, backward, matmul = _layer(stage, dim)
        _add(work, (forward + backward) * rows, matmul)
        work.numpy_calls += 4 + 12 * stage.qubits + 4 * stage.pieces
    return work


@dataclass(frozen=True)
class Workload:
    """``circuits`` weight sets (4 LSTM gates), ``batch`` rows, ``steps`` time steps in one
    sequence (1: one evaluation), amplitudes of ``itemsize`` bytes (8: complex64)."""

    circuits: int = 4
    batch: int = 32
    steps: int = 1
    itemsize: int = 8


def estimate(program: Program, workload: Workload) -> dict[str, Work]:
    """The :class:`Work` of each available method of :data:`ESTIMATED_METHODS` (``product``
    only where the circuit is a product layer followed by weight-only gates)."""
    stages = segment(program)
    n, dim = program.n_qubits, 2**program.n_qubits
    rows = workload.circuits * workload.batch  # rows of one step
    total_rows = rows * workload.steps
    state_bytes = rows * dim * workload.itemsize
    start = stages.pop(0) if stages and isinstance(stages[0], LocalLayer) else None
    counted = [census(stage) for stage in stages]
    readout = Work(6 * dim * total_rows, 4 * len(program.terms) * dim * total_rows)
    results = {}

    # fused: the block program, each weight-only segment dense or gate by gate
    start_pieces = census(start).pieces if start else 0
    fused = Work(readout.elementwise_flops + 16 * dim * total_rows, readout.matmul_flops)
    fused.numpy_calls = workload.steps * (30 + 12 * start_pieces)
    fused.memory_bytes = workload.steps * state_bytes
    for segment_stages, is_input in _segments(counted):
        if is_input:
            (stage,) = segment_stages
            forward, backward, _ = _layer(stage, dim)  # keeps its input: no undo of the state
            fused.elementwise_flops += backward * total_rows
            fused.numpy_calls += workload.steps * (4 + 8 * stage.qubits + 10 * stage.pieces)
            fused.memory_bytes += workload.steps * state_bytes
            continue
        dense = segment_is_dense(segment_stages, n, total_rows, workload.circuits, workload.steps)
        part = _segment_work(segment_stages, n, total_rows, workload.circuits, dense)
        fused.elementwise_flops += part.elementwise_flops
        fused.matmul_flops += part.matmul_flops
        fused.numpy_calls += part.numpy_calls * workload.steps
        fused.torch_calls += part.torch_calls
        fused.memory_bytes += part.memory_bytes + dense * workload.steps * state_bytes
    results["fused"] = fused

    unitary_follows = bool(counted) and not (len(counted) == 1 and counted[0].kind == "permutation")
    if _product_form(start, unitary_follows) and all(stage.kind != "input" for stage in counted):
        product = Work(readout.elementwise_flops + 16 * dim * total_rows, readout.matmul_flops)
        product.numpy_calls = 45 * workload.steps
        product.memory_bytes = 2 * workload.steps * state_bytes
        n_obs = len(program.terms)
        if not unitary_follows and _parities(program, stages):  # no 2**n array (ProductKernel)
            product = Work(30 * n * n_obs * total_rows)
            product.numpy_calls = 50 * workload.steps
            product.memory_bytes = 3 * workload.steps * rows * n * n_obs * workload.itemsize
        elif unitary_follows:
            product.matmul_flops += 24 * dim * dim * total_rows
            product.torch_calls += sum(1 + 2 * stage.qubits for stage in counted)
            product.memory_bytes += 3 * workload.circuits * dim**2 * 16
        else:
            product.elementwise_flops += 6 * dim * total_rows
        results["product"] = product

    # torch autograd, gate by gate: every intermediate state is kept until the backward pass
    gates = Work(readout.elementwise_flops + 16 * dim * total_rows, readout.matmul_flops)
    gates.torch_calls = workload.steps * (10 + 4 * start_pieces)
    gates.memory_bytes = 2 * workload.steps * state_bytes
    for stage in counted:  # autograd's reverse of an element-wise gate: about 3 forward passes
        forward, _backward, matmul = _layer(stage, dim)
        _add(gates, 4 * forward * total_rows, matmul)
        gates.torch_calls += workload.steps * (2 + 7 * stage.qubits + 3 * stage.pieces)
        gates.memory_bytes += workload.steps * state_bytes * (1 + 2 * stage.qubits)
    results["gates"] = gates

    # torch autograd with dense unitaries; input layers after the first as Kronecker matrices
    dense = Work(readout.elementwise_flops + 16 * dim * total_rows, readout.matmul_flops)
    dense.torch_calls = workload.steps * 12
    dense.memory_bytes = 2 * workload.steps * state_bytes
    for segment_stages, is_input in _segments(counted):
        dense.matmul_flops += 24 * dim * dim * total_rows
        dense.memory_bytes += workload.steps * state_bytes
        if is_input:  # a (D, D) Kronecker matrix per row, kept for the backward pass
            dense.elementwise_flops += 12 * dim * dim * total_rows
            dense.memory_bytes += workload.steps * state_bytes * dim
            dense.torch_calls += workload.steps * (8 + 4 * segment_stages[0].pieces)
        else:
            for stage in segment_stages:
                forward, _backward, matmul = _layer(stage, dim)
                _add(dense, 3 * forward * dim, matmul)
                dense.torch_calls += 1 + 2 * stage.qubits
            dense.memory_bytes += 3 * workload.circuits * dim**2 * 16
    results["dense"] = dense

    # adjoint: forward, then the forward again and the walk back on two states; torch, no graph
    adjoint = Work(readout.elementwise_flops, readout.matmul_flops)
    instructions = len(program.instructions)
    adjoint.torch_calls = workload.steps * (20 + 14 * instructions)
    # a few complex128 states of one chunk of rows (sim.adjoint.CHUNK_AMPLITUDES), step by step
    adjoint.memory_bytes = 4 * 16 * min(rows * dim, CHUNK_AMPLITUDES)
    adjoint.elementwise_flops += 16 * dim * total_rows  # the first layer: a product state
    for stage in counted:
        forward, backward, matmul = _layer(stage, dim)
        _add(adjoint, (2 * forward + backward) * total_rows, matmul)
    results["adjoint"] = adjoint
    return results


def _segments(stages: list[StageCensus]) -> list[tuple[list[StageCensus], bool]]:
    """The stages after the first layer as input layers (one each) and maximal weight-only
    segments, in order: ``(stages, is_input)``."""
    segments: list[tuple[list[StageCensus], bool]] = []
    for stage in stages:
        if stage.kind == "input":
            segments.append(([stage], True))
        elif segments and not segments[-1][1]:
            segments[-1][0].append(stage)
        else:
            segments.append(([stage], False))
    return segments


#: above this many qubits :func:`_parities` does not look (its check holds ``2**n`` rows)
PARITY_CHECK_MAX_QUBITS = 20


def _parities(program: Program, stages: list) -> bool:
    """Whether the product kernel evaluates the observables as products of the qubits' ``<Z>``
    (:data:`~qlstm_qiskit.sim.product_kernel.CHARACTER_MIN_QUBITS`, :func:`~qlstm_qiskit.sim.
    product_kernel.parity_characters`); ``stages``: what follows the product layer."""
    n = program.n_qubits
    if not CHARACTER_MIN_QUBITS <= n <= PARITY_CHECK_MAX_QUBITS:
        return False
    signs = diagonal_signs(program.terms, n)
    if stages:  # the lone permutation: the signs seen before it
        seen = np.empty_like(signs)
        seen[stages[0].source] = signs
        signs = seen
    return parity_characters(signs, n) is not None


def _product_form(start: LocalLayer | None, unitary_follows: bool) -> bool:
    """Whether the first layer is the product kernel's product stage; with a unitary after it,
    also that the dense engine expands it (the kernel's basis then comes from the dense
    engine's :class:`~qlstm_qiskit.sim.steps.ExpandedStart`)."""
    if start is None or not start.depends_on_input:
        return False
    stage = ProductStage.of_layer(start)
    if stage is None:
        return False
    return not unitary_follows or expands(stage)


def choose_method(
    program: Program, workload: Workload, cpu: bool = True, budget: float = MEMORY_BUDGET_BYTES
) -> str:
    """The method of least estimated time whose memory fits ``budget`` (NumPy methods only on
    the CPU); ``adjoint`` (memory of a few states) when none fits."""
    works = estimate(program, workload)
    candidates = {
        method: work
        for method, work in works.items()
        if work.memory_bytes <= budget and (cpu or method not in ("product", "fused"))
    }
    if not candidates:
        return "adjoint"
    return min(candidates, key=lambda method: candidates[method].seconds)
