"""The steps of a bound statevector circuit: small dataclasses, each knowing how to run itself.

A :class:`~qlstm_qiskit.sim.statevector.BoundCircuit` is one *start* (``prepare(inputs)`` gives
the states ``(G, B, 2**n)`` after the first stage) followed by *steps* (``apply(state, inputs)``).
Their tensors are bound once per set of weights; only the input-dependent work runs per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .gates import apply_1q, apply_fixed, kron_rows, kron_states, kron_tree
from .layers import LocalLayer


class Step:
    """Base of the starts and steps: :func:`cast` converts their tensors attribute by
    attribute."""


def cast(value, like: torch.Tensor):
    """``value`` with every floating tensor inside (steps, lists, tuples) cast to ``like``'s
    precision (complex tensors to ``like.dtype``, real ones to its real dtype); steps are
    changed in place."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            return value.to(like.dtype)
        return value.to(like.real.dtype) if value.is_floating_point() else value
    if isinstance(value, Step):  # in place: binding runs once per forward, keep it cheap
        for name, item in list(vars(value).items()):
            setattr(value, name, cast(item, like))
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(cast(item, like) for item in value)
    return value


def generate(u: torch.Tensor, swaps: bool, phases: torch.Tensor) -> torch.Tensor:
    """``(-i P) u`` for a Pauli ``P`` given as (swaps amplitudes, phases)."""
    return (u.flip(-1) if swaps else u) * phases


# -- steps: state -> state ----------------------------------------------------------------------
@dataclass
class Unitary(Step):
    """Weight-only gates folded into one matrix ``(G, D, D)``: ``psi_out = psi_in @ matrix``."""

    matrix: torch.Tensor

    def apply(self, state: torch.Tensor, inputs: torch.Tensor | None) -> torch.Tensor:
        return torch.matmul(state, self.matrix)


@dataclass
class Permutation(Step):
    """A fixed permutation with phases: ``psi_out = phase * psi_in[source]`` (``phase`` ``None``
    when all ones)."""

    source: torch.Tensor
    phase: torch.Tensor | None

    def apply(self, state: torch.Tensor, inputs: torch.Tensor | None) -> torch.Tensor:
        state = state[..., self.source]
        return state if self.phase is None else state * self.phase


@dataclass
class FixedGate(Step):
    """A fixed multi-qubit gate that is not a permutation: applied by tensor contraction."""

    matrix: torch.Tensor
    qubits: tuple[int, ...]
    n_qubits: int

    def apply(self, state: torch.Tensor, inputs: torch.Tensor | None) -> torch.Tensor:
        return apply_fixed(state, self.matrix, self.qubits, self.n_qubits)


@dataclass
class LocalGates(Step):
    """A :class:`LocalLayer` with its weight-only runs bound; ``dense``: applied as one Kronecker
    product matrix, else qubit by qubit."""

    layer: LocalLayer
    bound: list
    like: torch.Tensor
    dense: bool

    def apply(self, state: torch.Tensor, inputs: torch.Tensor | None) -> torch.Tensor:
        matrices = self.layer.matrices(self.bound, inputs, self.like)  # (G, B|1, n, 2, 2)
        if self.dense:
            kron = kron_rows(matrices).transpose(-1, -2)  # (G, B|1, D, D)
            return torch.matmul(state.unsqueeze(-2), kron).squeeze(-2)
        for q in range(self.layer.n_qubits):
            state = apply_1q(state, matrices[..., q, :, :], q, self.layer.n_qubits)
        return state


# -- starts: inputs -> state --------------------------------------------------------------------
@dataclass
class ZeroStart(Step):
    """``|0...0>`` for every row (the circuit begins with a multi-qubit gate)."""

    n_circuits: int
    dim: int
    like: torch.Tensor

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        state = torch.zeros(
            self.n_circuits,
            inputs.shape[1],
            self.dim,
            dtype=self.like.dtype,
            device=self.like.device,
        )
        state[..., 0] = 1
        return state


@dataclass
class ProductStart(Step):
    """A first local layer on ``|0...0>``: the Kronecker product of each qubit's ``M |0>``."""

    layer: LocalLayer
    bound: list
    like: torch.Tensor
    n_circuits: int
    dim: int

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        matrices = self.layer.matrices(self.bound, inputs, self.like)  # (G, B|1, n, 2, 2)
        state = kron_states(matrices[..., 0])  # first columns: each qubit's M |0>
        return state.expand(self.n_circuits, inputs.shape[1], self.dim)


@dataclass
class ExpandedStart(Step):
    """A :class:`~qlstm_qiskit.sim.layers.ProductStage` as one real matrix product.

    With ``m`` input rotations per qubit, qubit ``q`` ends in ``u_q = sum_beta w_q[beta]
    E_q[beta]``: ``w_q`` is the Kronecker product of the ``(cos(t_k/2), sin(t_k/2))`` pairs and
    ``E_q[beta] = tail (-i P_{m-1})^beta_{m-1} ... (-i P_0)^beta_0 head |0>`` is fixed by the
    weights. So the state is ``W @ rows`` with ``W = kron(all pairs)`` real and ``rows =
    kron_q(E_q)``, followed by ``post`` (a :class:`Unitary` or :class:`Permutation` folded into
    the rows, or ``None``).

    ``index (n m,)``: the input of each pair, qubit ``n-1`` first; ``basis (G | 1, n, 2**m, 2)``:
    each qubit's ``E_q`` in qubit order.
    """

    index: torch.Tensor
    basis: torch.Tensor
    post: Unitary | Permutation | None = None
    rows: torch.Tensor | None = None  # the real rows (G, 2**V, 2 D), computed on first use

    def real_rows(self) -> torch.Tensor:
        if self.rows is None:
            rows = kron_rows(self.basis)
            if self.post is not None:
                rows = self.post.apply(rows, None)
            self.rows = torch.view_as_real(rows).flatten(-2)
        return self.rows

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        half = 0.5 * inputs[..., self.index]  # (G, B, V) with V = m n
        pairs = torch.stack((torch.cos(half), torch.sin(half)), -1)  # (G, B, V, 2)
        state = kron_tree(pairs) @ self.real_rows()  # (G, B, 2 D): real and imaginary parts
        return torch.view_as_complex(state.unflatten(-1, (-1, 2)))


@dataclass
class ElementwiseStart(Step):
    """A :class:`~qlstm_qiskit.sim.layers.ProductStage` on one 2-vector per qubit: ``u <-
    cos(t/2) u + sin(t/2) (-i P) u`` per input rotation, the ``tail`` matrices, then the
    Kronecker product. ``index (m n,)``: the inputs, column by column; ``u0 ([G, 1,] n, 2)``: the
    starting vectors; ``tail ([G, 1,] n, 2, 2)`` or ``None``."""

    index: torch.Tensor
    u0: torch.Tensor
    generators: list[tuple[bool, torch.Tensor]]
    tail: torch.Tensor | None

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        half = 0.5 * inputs[..., self.index].unflatten(-1, (len(self.generators), -1))[..., None]
        cos, sin = torch.cos(half), torch.sin(half)  # (G, B, m, n, 1)
        u = self.u0
        for k, (swaps, phases) in enumerate(self.generators):
            u = cos[:, :, k] * u + sin[:, :, k] * generate(u, swaps, phases)
        if self.tail is not None:
            u = (self.tail * u[..., None, :]).sum(-1)
        return kron_states(u)
