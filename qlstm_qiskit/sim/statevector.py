"""The statevector engine: a parsed circuit run on batches of statevectors, differentiated by
torch autograd.

States are ``(G, B, 2**n)``: ``G`` circuits of the same layout with different weights (the four
LSTM gates) times ``B`` input rows. The instruction list is split into *stages*: local layers
(maximal runs of single-qubit gates, :class:`~qlstm_qiskit.sim.layers.LocalLayer`), fixed
permutations with phases (:class:`~qlstm_qiskit.sim.gates.PhasedPermutation`, consecutive ones
merged) and other fixed multi-qubit gates. :meth:`StatevectorProgram.bind` does the weight-only
work once and returns a :class:`BoundCircuit` of :mod:`~qlstm_qiskit.sim.steps`; only the
input-dependent part runs per call of :meth:`BoundCircuit.expectation`. Two methods:

- ``dense``: every weight-only segment is folded into one ``2**n x 2**n`` unitary per circuit;
  input-dependent layers are applied as a Kronecker product. Fast for a few qubits.
- ``gates``: every gate is applied to the batch of states one by one (memory ``O(G B 2**n)``).

When the whole circuit is one input product layer followed by weight-only or fixed gates (an
:class:`~qlstm_qiskit.sim.steps.ExpandedStart` and nothing else),
:meth:`BoundCircuit.product_kernel` also hands it to
:class:`~qlstm_qiskit.sim.product_kernel.ProductKernel`, which the fused LSTM recurrence
differentiates by hand.
"""

from __future__ import annotations

import numpy as np
import torch

from .gates import PhasedPermutation, complex_dtype
from .layers import LocalLayer, ProductStage
from .product_binding import BasisBinding, BoundBasis
from .product_kernel import ProductKernel
from .program import Instruction, Program, check_inputs, diagonal_signs
from .steps import (
    ElementwiseStart,
    ExpandedStart,
    FixedGate,
    LocalGates,
    Permutation,
    ProductStart,
    Unitary,
    ZeroStart,
    cast,
    generate,
)

#: ``dense`` evaluates an input product layer as one real matrix product while it has at most this
#: many rows (``2**(input rotations)``); above, rotation by rotation.
EXPANDED_MAX_ROWS = 1024

#: a stage: a local layer, a merged permutation, or another fixed multi-qubit gate.
Stage = LocalLayer | PhasedPermutation | Instruction


def segment(program: Program) -> list[Stage]:
    """Group the instructions into local layers, merged permutations and other fixed gates."""
    n = program.n_qubits
    stages: list[Stage] = []
    run: list[Instruction] = []
    for op in [*program.instructions, None]:
        if op is not None and len(op.qubits) == 1:
            run.append(op)
            continue
        if run:
            stages.append(LocalLayer(n, run))
            run = []
        if op is None:
            break
        permutation = PhasedPermutation.of_gate(op.matrix, op.qubits, n)
        if permutation is None:
            stages.append(op)
        elif stages and isinstance(stages[-1], PhasedPermutation):
            stages[-1] = stages[-1].then(permutation)
        else:
            stages.append(permutation)
    return stages


def expands(fast: ProductStage) -> bool:
    """Whether the ``dense`` method evaluates ``fast`` as an
    :class:`~qlstm_qiskit.sim.steps.ExpandedStart` (at most :data:`EXPANDED_MAX_ROWS` rows)."""
    m, n = fast.index.shape
    return 2 ** (m * n) <= EXPANDED_MAX_ROWS


def kronecker_index(fast: ProductStage) -> np.ndarray:
    """The input of each pair in Kronecker order: qubit n-1 first, each qubit's columns in
    order."""
    return fast.index[:, ::-1].T.reshape(-1).copy()


def start_vectors(fast: ProductStage, weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``([G,] n, 2)``: each qubit's vector ``head |0>``."""
    u0 = fast.head.bound_matrices(weights, like)
    if u0 is None:
        u0 = torch.zeros(fast.index.shape[1], 2, dtype=like.dtype, device=like.device)
        u0[:, 0] = 1
        return u0
    return u0[..., 0]


def phase_tensors(fast: ProductStage, like: torch.Tensor) -> list:
    """The ``(swaps, phases)`` of each input rotation, phases as tensors like ``like``."""
    return [
        (swaps, torch.tensor(phases, dtype=like.dtype, device=like.device))
        for swaps, phases in fast.generators
    ]


def head_basis(fast: ProductStage, weights: torch.Tensor | None, like: torch.Tensor):
    """``([G,] n, 2**m, 2)``: each qubit's vectors before the tail (``weights`` may be ``None``
    when the head holds none)."""
    basis = start_vectors(fast, weights, like)[..., None, :]  # (..., n, 1, 2) -> (..., n, 2**m, 2)
    for swaps, phases in phase_tensors(fast, like):
        basis = torch.stack((basis, generate(basis, swaps, phases)), -2).flatten(-3, -2)
    return basis


def expanded_basis(fast: ProductStage, weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``basis (G | 1, n, 2**m, 2)`` of an :class:`~qlstm_qiskit.sim.steps.ExpandedStart`."""
    basis = head_basis(fast, weights, like)
    tail = fast.tail.bound_matrices(weights, like)
    return basis if tail is None else basis @ tail.transpose(-1, -2)


class StatevectorProgram:
    """A :class:`~qlstm_qiskit.sim.program.Program` segmented for the statevector engine.

    Args:
        program: the parsed circuit.
        dense: fold weight-only segments into unitaries (``dense``) or run gate by gate.
    """

    def __init__(self, program: Program, dense: bool) -> None:
        self.program = program
        self.dense = dense
        self.stages = segment(program)
        self._signs: np.ndarray | None = None
        self._product_plans: dict = {}  # per real dtype: (stage, kernel, binding) or None

    @property
    def signs(self) -> np.ndarray:
        """``(2**n, n_obs)`` observable diagonals (built on first use)."""
        if self._signs is None:
            self._signs = diagonal_signs(self.program.terms, self.program.n_qubits)
        return self._signs

    def bind(self, weights: torch.Tensor) -> BoundCircuit:
        """Do the weight-only work once. ``weights``: ``(G, n_weights)`` float32 or float64."""
        return BoundCircuit(self, weights)

    def product_sequence_kernel(self, weights: torch.Tensor) -> tuple[ProductKernel, tuple] | None:
        """What ``self.bind(weights).sequence_kernel(...)`` returns, ``(kernel, (basis,
        unitary))`` or ``None``, built faster where it can be: when the circuit is one input
        product layer followed by at most a fixed permutation, the kernel is built once per
        dtype and only the basis is bound, in NumPy as one autograd node
        (:class:`~qlstm_qiskit.sim.product_binding.BoundBasis`; in torch where that binding
        does not apply)."""
        plan = self._product_plan(weights.dtype)
        if plan is None:
            return self.bind(weights).sequence_kernel(weights.shape[0], 1)
        fast, kernel, binding = plan
        if binding is not None and weights.device.type == "cpu":
            return kernel, (BoundBasis.apply(binding, weights), None)
        like = torch.empty((), dtype=torch.complex128, device=weights.device)
        basis = expanded_basis(fast, weights.double(), like)
        return kernel, (basis.to(complex_dtype(weights.dtype)), None)

    def _product_plan(self, dtype: torch.dtype):
        if dtype not in self._product_plans:
            self._product_plans[dtype] = self._build_product_plan(dtype)
        return self._product_plans[dtype]

    def _build_product_plan(self, dtype: torch.dtype):
        first, *rest = self.stages or [None]
        if not (self.dense and isinstance(first, LocalLayer) and first.depends_on_input):
            return None
        fast = ProductStage.of_layer(first)  # the kernel needs 2**m vectors a qubit: any n
        if fast is None:
            return None
        if rest and not (len(rest) == 1 and isinstance(rest[0], PhasedPermutation)):
            return None  # a unitary follows: bound with the circuit
        real = torch.empty((), dtype=dtype).numpy().dtype
        permutation = None
        if rest:
            phase = rest[0].phases
            complex_ = np.result_type(real, np.complex64)
            permutation = (rest[0].source, None if phase is None else phase.astype(complex_))
        args = (kronecker_index(fast), self.signs.astype(real), self.program.n_qubits, permutation)
        kernel, binding = ProductKernel(*args), None
        if not BasisBinding.head_holds_weights(fast):
            like = torch.empty((), dtype=torch.complex128)
            binding = BasisBinding.of_stage(fast, head_basis(fast, None, like))
        return fast, kernel, binding


class BoundCircuit:
    """A :class:`StatevectorProgram` with its weights bound; call :meth:`expectation` per batch.

    Attributes:
        start: the first stage (``prepare(inputs)`` gives the states ``(G, B, D)``).
        steps: the rest (``apply(state, inputs)``), see :mod:`qlstm_qiskit.sim.steps`.
    """

    def __init__(self, engine: StatevectorProgram, weights: torch.Tensor) -> None:
        self.engine = engine
        program = engine.program
        self.n_circuits = weights.shape[0]
        self.n_qubits, self.dim = program.n_qubits, 2**program.n_qubits
        self.n_inputs = program.n_inputs
        target = torch.empty((), dtype=complex_dtype(weights.dtype), device=weights.device)
        # weight-only work runs in float64 (the dense products accumulate rounding), then the
        # bound tensors are cast once to the model's precision
        weights = weights.double()
        self.like = torch.empty((), dtype=torch.complex128, device=weights.device)
        stages = list(engine.stages)
        first = stages.pop(0) if stages and isinstance(stages[0], LocalLayer) else None
        self.start = self._start(first, weights)
        self.steps = []
        pending: list[Stage] = []  # weight-only stages waiting to be folded into a unitary
        for stage in [*stages, None]:
            folds = stage is not None and not (
                isinstance(stage, LocalLayer) and stage.depends_on_input
            )
            if engine.dense and folds:
                pending.append(stage)
                continue
            if len(pending) == 1 and isinstance(pending[0], PhasedPermutation):
                self.steps.append(self._step(pending[0], weights))  # no matrix needed
            elif pending:
                self.steps.append(Unitary(self._fold(pending, weights)))
            pending = []
            if stage is not None:
                self.steps.append(self._step(stage, weights))
        if (
            isinstance(self.start, ExpandedStart)
            and self.steps
            and isinstance(self.steps[0], (Unitary, Permutation))
        ):
            self.start.post = self.steps.pop(0)  # folded into the rows
        self.start, self.steps = cast(self.start, target), cast(self.steps, target)
        self.signs = torch.as_tensor(
            np.repeat(engine.signs, 2, axis=0), dtype=target.real.dtype, device=weights.device
        )  # (2 D, n_obs): rows for re and im
        self.like = target

    # -- binding --------------------------------------------------------------------------------
    def _start(self, first: LocalLayer | None, weights: torch.Tensor):
        like = self.like
        if first is None:
            return ZeroStart(self.n_circuits, self.dim, like)
        fast = ProductStage.of_layer(first) if first.depends_on_input else None
        if fast is None:
            return ProductStart(first, first.bind(weights, like), like, self.n_circuits, self.dim)
        if self.engine.dense and expands(fast):
            return ExpandedStart(
                torch.as_tensor(kronecker_index(fast), device=like.device),
                expanded_basis(fast, weights, like),
            )
        u0 = start_vectors(fast, weights, like)
        tail = fast.tail.bound_matrices(weights, like)
        generators = phase_tensors(fast, like)
        index = torch.as_tensor(fast.index.reshape(-1), device=like.device)
        if u0.dim() == 3:  # (G, n, 2): per-circuit starting vectors, broadcast over the batch
            u0 = u0[:, None]
        if tail is not None and tail.dim() == 4:
            tail = tail[:, None]
        return ElementwiseStart(index, u0, generators, tail)

    def _step(self, stage: Stage, weights: torch.Tensor):
        like = self.like
        if isinstance(stage, LocalLayer):
            return LocalGates(stage, stage.bind(weights, like), like, self.engine.dense)
        if isinstance(stage, PhasedPermutation):
            source = torch.as_tensor(stage.source, device=like.device)
            phase = (
                None
                if stage.phases is None
                else torch.as_tensor(stage.phases, dtype=like.dtype, device=like.device)
            )
            return Permutation(source, phase)
        matrix = torch.as_tensor(stage.matrix, dtype=like.dtype, device=like.device)
        return FixedGate(matrix, stage.qubits, self.n_qubits)

    def _fold(self, stages: list[Stage], weights: torch.Tensor) -> torch.Tensor:
        """Multiply weight-only stages into ``(G, D, D)`` with ``psi_out = psi_in @ result``."""
        identity = torch.eye(self.dim, dtype=self.like.dtype, device=self.like.device)
        state = identity.expand(self.n_circuits, self.dim, self.dim)  # row k: U e_k at the end
        for stage in stages:
            state = self._step(stage, weights).apply(state, None)
        return state

    # -- evaluation -----------------------------------------------------------------------------
    def product_kernel(self) -> tuple[ProductKernel, torch.Tensor, torch.Tensor | None] | None:
        """``(kernel, basis, unitary)`` when the whole bound circuit is one
        :class:`~qlstm_qiskit.sim.steps.ExpandedStart` (dense method, one re-uploading block of
        few inputs), else ``None``.

        ``basis (G | 1, n, 2**m, 2)`` holds each qubit's vectors ``E_q``, ``unitary (G, D, D)``
        the weight-dependent unitary that follows (``None`` if there is none or it is a fixed
        permutation, which the kernel applies itself); both carry the autograd graph back to the
        weights.
        """
        start = self.start
        if self.steps or not isinstance(start, ExpandedStart):
            return None
        post = start.post
        unitary = post.matrix if isinstance(post, Unitary) else None
        permutation = None
        if isinstance(post, Permutation):
            permutation = (
                post.source.cpu().numpy(),
                None if post.phase is None else post.phase.cpu().numpy(),
            )
        kernel = ProductKernel(
            start.index.cpu().numpy(), self.signs[0::2].cpu().numpy(), self.n_qubits, permutation
        )
        return kernel, start.basis, unitary

    def sequence_kernel(self, batch: int, steps: int) -> tuple[ProductKernel, tuple] | None:
        """``(kernel, (basis, unitary))`` of :meth:`product_kernel` for the recurrence, else
        ``None`` (``batch`` and ``steps`` do not change it)."""
        found = self.product_kernel()
        return None if found is None else (found[0], found[1:])

    def expectation(self, inputs: torch.Tensor) -> torch.Tensor:
        """Expectation values ``(G, B, n_obs)`` for inputs ``(G, B, n_inputs)``."""
        check_inputs(
            "BoundCircuit.expectation", inputs, self.n_circuits, self.n_inputs, self.signs.dtype
        )
        state = self.start.prepare(inputs)
        for step in self.steps:
            state = step.apply(state, inputs)
        # |psi_i|^2 weighted by the observables' diagonals, as one product over (re, im) pairs
        return torch.view_as_real(state).square().flatten(-2) @ self.signs
