"""``QLSTMCell``: one quantum LSTM step and its parameters (its argument checks and
``extra_repr`` text: :mod:`qlstm_qiskit.cell_checks`)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from qiskit import QuantumCircuit
from qiskit.exceptions import QiskitError
from torch import nn

from .backends import QuantumBackend, resolve_backend
from .bound_cache import BoundCache
from .cell_checks import (
    check_cell_projection,
    check_dtype,
    check_forward_args,
    check_proj_size,
    check_weight_hr,
    describe,
    shots_option,
)
from .checks import check_bool, check_choice, check_int, check_seed
from .circuits import CircuitSpec, gate_circuit
from .packed import packed_sequence
from .recurrence import (
    GATES,
    MAPS,
    CellWeights,
    MapWeights,
    autograd_step,
    chen_sequence,
    chen_step,
    run_sequence,
)
from .variants import CELLS, add_variant_parameters, normal_, reset_variant_parameters, uniform_


class QLSTMCell(nn.Module):
    r"""A quantum long short-term memory cell.

    Each gate is a classical projection, a variational quantum circuit and a classical projection:

    .. math::
        z_t &= W_{hh} h_{t-1} + W_{ih} x_t + b_{in} \quad (4 \cdot n\_qubits \text{ features})\\
        q_k &= \langle Z \rangle(\mathrm{VQC}(s_k \odot \mathrm{enc}(z_{t,k}); \theta_k)),\quad
               k \in (i, f, g, o) \\
        i, f, g, o &= W_{out,k} q_k + b_{out,k} \\
        c_t &= \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \qquad
        h_t = \sigma(o) \odot \tanh(c_t)

    with ``s_k = 1`` unless ``input_scaling=True`` (then ``s_k = input_scale[k]``, one trainable
    scale per qubit multiplying every angle of that qubit after the encoding nonlinearity, so that
    the projection in front of the circuit cannot absorb it; initialised to ones).

    With ``cell="chen"`` (Chen et al. 2020, six VQCs) the last line becomes

    .. math::
        m_t &= \sigma(o) \odot \tanh(c_t), \qquad
        h_t = \mathrm{VQC}_5(m_t), \qquad y_t = \mathrm{VQC}_6(m_t) \\
        \mathrm{VQC}_k(m) &= W_{out,k} \langle Z \rangle(\mathrm{VQC}(s_k \odot
              \mathrm{enc}(W_{in,k} m + b_{in,k}); \theta_k)) + b_{out,k}, \quad k \in (5, 6)

    VQC5 (circuit ``"state"``) and VQC6 (``"output_map"``) have the gates' circuit layout, each its
    own projections and circuit weights. ``h_t`` is the recurrent state and ``y_t`` the cell's
    output: :meth:`forward` returns ``(h_t, c_t)`` like ``nn.LSTMCell``;
    :meth:`forward_with_output` returns ``y_t, (h_t, c_t)`` (``y_t = h_t`` for ``cell="lstm"``).
    The chen cell runs on the autograd path (the fused NumPy path serves the default cell) and a
    primitive backend makes 2 primitive calls per time step (VQC5 and VQC6 read ``c_t``).

    Args:
        input_size: features in the input ``x``.
        hidden_size: features in the hidden state ``h``.
        bias: if ``False``, no ``bias_in`` and ``bias_out`` (nor their ``_map`` twins).
        cell: ``"lstm"`` (four VQCs, the default) or ``"chen"`` (six VQCs, see above).
        input_scaling: a trainable per-gate, per-qubit scale of the encoded angles
            (``input_scale``).
        n_qubits: qubits of each gate circuit (1..25); the projection feeds one feature per qubit.
        n_qlayers: data re-uploading blocks (1..5).
        depth: variational layers per block (1..30).
        encoding: ``"arctan"`` (H, RY(arctan z), RZ(arctan z^2)) or ``"angle"`` (RY(z)).
        rotation: trainable rotation per qubit: ``"rot"`` (RZ RY RZ), ``"rx"``, ``"ry"``, ``"rz"``.
        entangling: CNOTs ``"ring"``, ``"linear"``, ``"none"`` or ``"strong"`` (strongly
            entangling: range ``(l mod (n_qubits - 1)) + 1`` in variational layer ``l``).
        measure: readout Pauli ``"Z"``, ``"X"`` or ``"Y"`` on every qubit.
        backend: a backend name (see :func:`qlstm_qiskit.list_backends`) or a backend object
            (:func:`qlstm_qiskit.get_backend` with options).
        shots: shots per circuit evaluation, passed to a named sampling backend (``None``: the
            profile's default; rejected by exact backends such as ``statevector``).
        seed: seeds the parameter initialisation (``None``: torch's global generator).
        device, dtype: of the parameters (dtype float32 or float64; ``None``: torch's default).
        proj_size: ``0`` (default): no projection. ``> 0`` (below ``hidden_size``): the cell of a
            ``QLSTM`` with ``proj_size``, whose hidden state is projected, ``h_1 = W_hr (sigma(o)
            * tanh(c_1))`` with ``W_hr (proj_size, hidden_size)``, and fed back: ``weight_hh``
            takes ``proj_size`` features. ``W_hr`` is the QLSTM's parameter ``weight_hr_l{k}``
            (named as in ``torch.nn.LSTM``), so it is passed in: ``forward(..., weight_hr=W_hr)``.

    Inputs: ``input, (h_0, c_0)`` with ``input`` of shape ``(B, input_size)`` or ``(input_size)``
    (``B = 0`` allowed, as in ``torch.nn.LSTMCell``), ``h_0`` of shape ``(B, R)`` or ``(R)`` and
    ``c_0`` ``(B, hidden_size)`` or ``(hidden_size)``, ``R = proj_size`` if it is non-zero, else
    ``hidden_size``; omitted states are zeros.
    Outputs: ``(h_1, c_1)`` of the states' shapes.

    Parameters (``state_dict`` names; ``G = 4`` gates in the order input, forget, cell, output;
    ``M = 2`` maps in the order state, output_map; ``r`` rotations per qubit; ``R`` as above):

    ===============  ========================================  ====================================
    name             shape                                     present
    ===============  ========================================  ====================================
    weight_ih        ``(G * n_qubits, input_size)``            always
    weight_hh        ``(G * n_qubits, R)``                     always
    bias_in          ``(G * n_qubits)``                        ``bias``
    weight_q         ``(G, n_qlayers, depth, n_qubits, r)``    always (circuit weights)
    weight_out       ``(G, hidden_size, n_qubits)``            always
    bias_out         ``(G, hidden_size)``                      ``bias``
    input_scale      ``(G, n_qubits)``                         ``input_scaling``
    weight_in_map    ``(M * n_qubits, hidden_size)``           ``cell="chen"``
    bias_in_map      ``(M * n_qubits)``                        ``cell="chen"`` and ``bias``
    weight_q_map     ``(M, n_qlayers, depth, n_qubits, r)``    ``cell="chen"``
    weight_out_map   ``(M, hidden_size, n_qubits)``            ``cell="chen"``
    bias_out_map     ``(M, hidden_size)``                      ``cell="chen"`` and ``bias``
    input_scale_map  ``(M, n_qubits)``                         ``cell="chen"`` and ``input_scaling``
    ===============  ========================================  ====================================

    :meth:`circuits` shows where each circuit weight sits. The default cell's ``state_dict`` is
    unchanged by the variants: a model saved before them loads and gives the same outputs.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        cell: str = "lstm",
        input_scaling: bool = False,
        n_qubits: int = 4,
        n_qlayers: int = 1,
        depth: int = 1,
        encoding: str = "arctan",
        rotation: str = "rot",
        entangling: str = "ring",
        measure: str = "Z",
        backend: str | QuantumBackend = "statevector",
        shots: int | None = None,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        proj_size: int = 0,
    ) -> None:
        super().__init__()
        _owner = type(self).__name__
        self.input_size = check_int(_owner, "input_size", input_size, 1)
        self.hidden_size = check_int(_owner, "hidden_size", hidden_size, 1)
        self.proj_size = check_proj_size(_owner, proj_size, hidden_size)
        #: features of the recurrent state ``h``: ``proj_size`` if non-zero, else ``hidden_size``
        self.state_size = proj_size or hidden_size
        self.bias = check_bool(_owner, "bias", bias)
        self.cell = check_choice(_owner, "cell", cell, CELLS)
        self.input_scaling = check_bool(_owner, "input_scaling", input_scaling)
        check_cell_projection(_owner, self.cell, self.proj_size)
        self.spec = CircuitSpec.checked(
            _owner,
            n_qubits=n_qubits,
            n_qlayers=n_qlayers,
            depth=depth,
            encoding=encoding,
            rotation=rotation,
            entangling=entangling,
            measure=measure,
        )
        self.seed = check_seed(_owner, seed)
        self.backend = resolve_backend(_owner, backend, shots_option(_owner, shots))
        factory = {"device": device, "dtype": check_dtype(_owner, dtype)}
        n_features = len(GATES) * n_qubits
        self.weight_ih = nn.Parameter(torch.empty(n_features, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(n_features, self.state_size, **factory))
        self.bias_in = nn.Parameter(torch.empty(n_features, **factory)) if bias else None
        self.weight_q = nn.Parameter(torch.empty(len(GATES), *self.spec.weight_shape, **factory))
        self.weight_out = nn.Parameter(torch.empty(len(GATES), hidden_size, n_qubits, **factory))
        self.bias_out = (
            nn.Parameter(torch.empty(len(GATES), hidden_size, **factory)) if bias else None
        )
        add_variant_parameters(self, factory)  # input_scale and the chen maps (or None)
        self.gate_circuit = gate_circuit(self.spec)  # the layout the four gates share
        #: the gate circuit compiled for :attr:`backend` (``bind(weights)`` per sequence)
        self.executor = self.compile_for(self.backend, _owner)
        self.bound_cache = BoundCache()  # forward's bound weights, reused while valid
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Projections ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` like ``nn.Linear``; circuit weights
        ``0.01 * N(0, 1)`` like Chen et al.; input scales ones (an untrained scaled cell equals the
        unscaled one). ``generator``: defaults to one seeded with ``seed``. The chen cell's maps
        draw after the gates, so its gates start as those of an ``"lstm"`` cell of the same seed
        (:func:`~qlstm_qiskit.variants.reset_variant_parameters`)."""
        if generator is None and self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        bound_in = 1 / math.sqrt(self.input_size + self.state_size)
        bound_out = 1 / math.sqrt(self.spec.n_qubits)
        with torch.no_grad():
            uniform_(generator, (self.weight_ih, self.weight_hh, self.bias_in), bound_in)
            uniform_(generator, (self.weight_out, self.bias_out), bound_out)
            normal_(generator, self.weight_q)
            reset_variant_parameters(self, generator)

    # -- circuits and backend -------------------------------------------------------------------
    def circuit_names(self) -> tuple[str, ...]:
        """The names of the cell's VQCs: the four gates, then (``cell="chen"``) :data:`MAPS`."""
        return GATES + (MAPS if self.cell == "chen" else ())

    def circuits(self) -> dict[str, QuantumCircuit]:
        """The gate circuits by name (``input, forget, cell, output``; with ``cell="chen"`` also
        ``state`` and ``output_map``, VQC5 and VQC6); the weight parameters ``w[k]`` of gate
        ``g`` take the values ``weight_q[g].flatten()[k]`` (of a map ``m``:
        ``weight_q_map[m].flatten()[k]``)."""
        return {name: self.gate_circuit.named(name) for name in self.circuit_names()}

    def draw(self, gate: str = "input", **kwargs: Any):
        """Draw one circuit of :meth:`circuits` by name (``QuantumCircuit.draw`` arguments;
        default ``output="text"``)."""
        circuits = self.circuits()
        if gate not in circuits:
            raise ValueError(
                f"{type(self).__name__}.draw: gate must be one of {', '.join(circuits)}, "
                f"got {gate!r}"
            )
        kwargs.setdefault("output", "text")
        return circuits[gate].draw(**kwargs)

    def compile_for(self, backend: QuantumBackend, owner: str = "QLSTMCell"):
        """The gate circuit compiled for ``backend`` (an executor), without switching to it.

        Raises ``ValueError`` naming the backend when Qiskit cannot compile the circuit for it
        (e.g. more qubits than the device has)."""
        try:
            return backend.compile(self.gate_circuit)
        except QiskitError as exc:
            raise ValueError(
                f"{owner}: the gate circuit ({self.spec.n_qubits} qubits) cannot run on backend "
                f"{backend.name!r}: {exc}"
            ) from exc

    def set_backend(self, backend: str | QuantumBackend, **options: Any) -> QLSTMCell:
        """Run the same weights on another backend; returns ``self``. The backend is resolved
        and the circuit compiled before anything changes: on an error the cell is as before."""
        owner = f"{type(self).__name__}.set_backend"
        resolved = resolve_backend(owner, backend, options)
        executor = self.compile_for(resolved, owner)
        self.backend, self.executor = resolved, executor
        self.bound_cache.clear()
        return self

    # -- computation ----------------------------------------------------------------------------
    def bind(self):
        """Bind the circuit weights once for a sequence; pass the result to :meth:`step`. For
        ``cell="chen"`` a pair: the gates' bound weights and the maps' (two weight sets)."""
        return self.bind_weights(*self.circuit_weights())

    def circuit_weights(self) -> tuple[torch.Tensor, ...]:
        """``(weight_q,)``, with ``cell="chen"`` ``(weight_q, weight_q_map)``."""
        return (self.weight_q,) if self.cell == "lstm" else (self.weight_q, self.weight_q_map)

    def bind_weights(self, weight_q: torch.Tensor, weight_q_map: torch.Tensor | None = None):
        """:meth:`bind` of these tensors (of the parameters' shapes). :meth:`forward` binds
        through :attr:`bound_cache` (:class:`~qlstm_qiskit.bound_cache.BoundCache`): once per
        loop of calls while the weights are unchanged and their graph unconsumed."""
        gates = self.executor.bind(weight_q.reshape(len(GATES), -1))
        if weight_q_map is None:
            return gates
        return gates, self.executor.bind(weight_q_map.reshape(len(MAPS), -1))

    def recurrence_weights(self, weight_hr: torch.Tensor | None = None) -> CellWeights:
        """The classical weights used inside the recurrence (and the gates' input scales);
        ``weight_hr (proj_size, hidden_size)``: the projection, required exactly when
        ``proj_size > 0``."""
        check_weight_hr(type(self).__name__, weight_hr, self.proj_size, self.hidden_size)
        return CellWeights(
            self.weight_hh, self.weight_out, self.bias_out, weight_hr, self.input_scale
        )

    def map_weights(self) -> MapWeights:
        """The chen cell's map weights (``cell="chen"`` only)."""
        return MapWeights(
            self.weight_in_map,
            self.bias_in_map,
            self.weight_out_map,
            self.bias_out_map,
            self.input_scale_map,
        )

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., input_size) -> (..., 4 * n_qubits)``: the input part of every gate projection."""
        return F.linear(x, self.weight_ih, self.bias_in)

    def step(
        self,
        bound,
        x_projected: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        weight_hr: torch.Tensor | None = None,
    ):
        """One time step for a batch: ``x_projected (B, 4 * n_qubits)``, ``h (B, R)``,
        ``c (B, hidden)`` (``R``: see the class docstring) -> ``h, c``. The chen cell's output
        ``y_t`` is not ``h_t``: it needs :meth:`step_with_output`."""
        if self.cell == "chen":
            raise ValueError(
                f"{type(self).__name__}.step: cell='chen' has an output y_t besides (h, c); "
                "use step_with_output, which returns (y, h, c)"
            )
        weights = self.recurrence_weights(weight_hr)
        return autograd_step(bound, self.gate_circuit, weights, x_projected, h, c)

    def step_with_output(
        self,
        bound,
        x_projected: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        weight_hr: torch.Tensor | None = None,
    ):
        """:meth:`step` that also returns the step's output: ``y, h, c`` (``y = h`` for
        ``cell="lstm"``, ``VQC6(m_t)`` for ``cell="chen"``)."""
        if self.cell == "lstm":
            h, c = self.step(bound, x_projected, h, c, weight_hr)
            return h, h, c
        gates, maps = bound
        weights = self.recurrence_weights(weight_hr)
        h, c, y = chen_step(
            gates, maps, self.gate_circuit, weights, self.map_weights(), x_projected, h, c
        )
        return y, h, c

    def run(
        self,
        projected: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        reverse: bool = False,
        weight_hr: torch.Tensor | None = None,
        bound=None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The cell over a sequence: ``projected (T, B, 4 * n_qubits)`` from
        :meth:`project_input`, states ``h (B, R)``, ``c (B, hidden)`` -> ``output (T, B, R),
        h, c`` (``reverse``: from the last step to the first; ``output[t]`` still belongs to step
        ``t``). ``output[t]`` is ``h_t`` for ``cell="lstm"`` and ``y_t`` for ``cell="chen"``. An
        empty batch (``B = 0``, a shape, not data) evaluates no circuit: it returns empty results
        that, as in ``torch.nn.LSTM``, give every parameter a zero gradient. ``bound``: the
        result of :meth:`bind` (``None``: bind now).
        """
        weights = self.recurrence_weights(weight_hr)
        if projected.shape[1] == 0:
            return self._empty_batch(projected, h, c, weight_hr)
        circuit = self.gate_circuit
        bound = self.bind() if bound is None else bound
        if self.cell == "lstm":
            return run_sequence(bound, circuit, weights, projected, h, c, reverse)
        gates, maps = bound
        return chen_sequence(
            gates, maps, circuit, weights, self.map_weights(), projected, h, c, reverse
        )

    def _empty_batch(self, projected, h, c, weight_hr):
        """``output (T, 0, R), h, c`` without evaluating a circuit (no backend gets zero rows).
        Like ``torch.nn.LSTM``'s, they belong to the autograd graph: zero gradients for all."""
        weights = [*self.parameters(), *([] if weight_hr is None else [weight_hr])]
        zero = torch.stack([weight.sum() for weight in weights]).sum() * 0
        output = projected.new_zeros(*projected.shape[:2], self.state_size) + zero
        return output, h + zero, c + zero

    def run_packed(
        self,
        projected: torch.Tensor,
        batch_sizes: list[int],
        h: torch.Tensor,
        c: torch.Tensor,
        reverse: bool = False,
        weight_hr: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The cell over a ``PackedSequence``'s data: ``projected (N, 4 * n_qubits)`` from
        :meth:`project_input` of the packed rows, its ``batch_sizes``, states ``h (B, R)``,
        ``c (B, hidden)`` in the packed order -> ``output (N, R)`` packed alike, ``h, c`` (see
        :func:`~qlstm_qiskit.packed.packed_sequence`), the circuit weights bound once."""
        self.recurrence_weights(weight_hr)  # checks weight_hr before anything runs
        bound = self.bind()

        def step(x_projected, h, c):
            return self.step_with_output(bound, x_projected, h, c, weight_hr)

        return packed_sequence(step, projected, batch_sizes, h, c, reverse)

    def forward(
        self,
        input: torch.Tensor,
        hx: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        weight_hr: torch.Tensor | None = None,
    ):
        """One step, like ``nn.LSTMCell``: returns ``(h_1, c_1)``."""
        _output, state = self.forward_with_output(input, hx, weight_hr=weight_hr)
        return state

    def forward_with_output(
        self,
        input: torch.Tensor,
        hx: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        weight_hr: torch.Tensor | None = None,
    ):
        """:meth:`forward` that also returns the cell's output: ``y_1, (h_1, c_1)``, all of the
        states' shape. ``y_1 = h_1`` for ``cell="lstm"``; ``VQC6(m_1)`` for ``cell="chen"``."""
        x, h, c, batched = check_forward_args(f"{type(self).__name__}.forward", self, input, hx)
        bound = self.bound_cache.get(self.executor, self.circuit_weights(), self.bind_weights)
        projected = self.project_input(x).unsqueeze(0)
        output, h, c = self.run(projected, h, c, weight_hr=weight_hr, bound=bound)
        if batched:
            return output[0], (h, c)
        return output[0, 0], (h.squeeze(0), c.squeeze(0))

    def extra_repr(self) -> str:
        return describe(
            self,
            {"input_size": self.input_size, "hidden_size": self.hidden_size},
            {
                "bias": (self.bias, True),
                "proj_size": (self.proj_size, 0),
                "cell": (self.cell, "lstm"),
                "input_scaling": (self.input_scaling, False),
            },
        )
