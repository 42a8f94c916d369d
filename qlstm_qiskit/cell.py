"""``QLSTMCell``: one quantum LSTM step and its parameters; the input checks and ``extra_repr``
text shared with ``QLSTM``."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from qiskit import QuantumCircuit
from qiskit.exceptions import QiskitError
from torch import nn

from .backends import QuantumBackend, resolve_backend
from .checks import check_bool, check_int, check_seed
from .circuits import CircuitSpec, gate_circuit
from .packed import packed_sequence
from .recurrence import GATES, CellWeights, autograd_step, run_sequence

_FLOAT_DTYPES = (torch.float32, torch.float64)


def check_dtype(owner: str, dtype: torch.dtype | None) -> torch.dtype:
    """Resolve ``dtype`` (``None``: torch's default) and require float32 or float64."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{owner}: dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype


def check_tensor(owner: str, name: str, value: Any, dtype: torch.dtype, dims: tuple[int, ...]):
    """Require a tensor of ``dtype`` with one of the numbers of dimensions ``dims``.

    Only metadata is checked (type, dtype, dimensions), never the values: reading them would
    synchronise with the device on every call and stop ``torch.export``. NaN propagates, as in
    ``torch.nn.LSTM``; data is checked where it enters (the CSV readers)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(
            f"{owner}: {name} must have dtype {dtype} (the model's dtype), got {value.dtype}"
        )
    if value.dim() not in dims:
        expected = " or ".join(map(str, dims))
        raise ValueError(
            f"{owner}: {name} must have {expected} dimensions, got shape {tuple(value.shape)}"
        )


def check_proj_size(owner: str, proj_size: Any, hidden_size: int) -> int:
    """``torch.nn.LSTM``'s rule: ``0 <= proj_size < hidden_size``."""
    check_int(owner, "proj_size", proj_size, 0)
    if proj_size >= hidden_size:
        raise ValueError(
            f"{owner}: proj_size must be in the range 0..{hidden_size - 1} (smaller than "
            f"hidden_size={hidden_size}), got {proj_size}"
        )
    return proj_size


def shots_option(owner: str, shots: Any) -> dict[str, int]:
    """The backend options of a model's ``shots`` argument (none for ``None``)."""
    return {} if shots is None else {"shots": check_int(owner, "shots", shots, 1)}


class QLSTMCell(nn.Module):
    r"""A quantum long short-term memory cell.

    Each gate is a classical projection, a variational quantum circuit and a classical projection:

    .. math::
        z_t &= W_{hh} h_{t-1} + W_{ih} x_t + b_{in} \quad (4 \cdot n\_qubits \text{ features})\\
        q_k &= \langle Z \rangle(\mathrm{VQC}(\mathrm{enc}(z_{t,k}); \theta_k)),\quad
               k \in (i, f, g, o) \\
        i, f, g, o &= W_{out,k} q_k + b_{out,k} \\
        c_t &= \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \qquad
        h_t = \sigma(o) \odot \tanh(c_t)

    Args:
        input_size: features in the input ``x``.
        hidden_size: features in the hidden state ``h``.
        bias: if ``False``, no ``bias_in`` and ``bias_out``.
        n_qubits: qubits of each gate circuit (1..25); the projection feeds one feature per qubit.
        n_qlayers: data re-uploading blocks (1..5).
        depth: variational layers per block (1..30).
        encoding: ``"arctan"`` (H, RY(arctan z), RZ(arctan z^2)) or ``"angle"`` (RY(z)).
        rotation: trainable rotation per qubit: ``"rot"`` (RZ RY RZ), ``"rx"``, ``"ry"``, ``"rz"``.
        entangling: ``"ring"``, ``"linear"`` or ``"none"`` (CNOTs).
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

    Parameters (``G = 4`` gates in the order input, forget, cell, output):
        weight_ih ``(G * n_qubits, input_size)``, weight_hh ``(G * n_qubits, R)``,
        bias_in ``(G * n_qubits)``, weight_q ``(G, n_qlayers, depth, n_qubits, rotations)`` — the
        circuit weights (:meth:`circuits` shows where each sits), weight_out
        ``(G, hidden_size, n_qubits)``, bias_out ``(G, hidden_size)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
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
        self.gate_circuit = gate_circuit(self.spec)  # the layout the four gates share
        #: the gate circuit compiled for :attr:`backend` (``bind(weights)`` per sequence)
        self.executor = self.compile_for(self.backend, _owner)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Projections ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` like ``nn.Linear``; circuit weights
        ``0.01 * N(0, 1)`` like Chen et al. ``generator``: defaults to one seeded with ``seed``."""
        if generator is None and self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        bound_in = 1 / math.sqrt(self.input_size + self.state_size)
        bound_out = 1 / math.sqrt(self.spec.n_qubits)
        with torch.no_grad():
            for param, bound in (
                (self.weight_ih, bound_in),
                (self.weight_hh, bound_in),
                (self.bias_in, bound_in),
                (self.weight_out, bound_out),
                (self.bias_out, bound_out),
            ):
                if param is not None:
                    values = torch.rand(param.shape, generator=generator, dtype=param.dtype)
                    param.copy_((2 * values - 1) * bound)
            self.weight_q.copy_(
                0.01
                * torch.randn(self.weight_q.shape, generator=generator, dtype=self.weight_q.dtype)
            )

    # -- circuits and backend -------------------------------------------------------------------
    def circuits(self) -> dict[str, QuantumCircuit]:
        """The four gate circuits by name (``input, forget, cell, output``); their weight parameters
        ``w[k]`` take the values ``weight_q[gate].flatten()[k]``."""
        return {gate: self.gate_circuit.named(gate) for gate in GATES}

    def draw(self, gate: str = "input", **kwargs: Any):
        """Draw one gate circuit (``QuantumCircuit.draw`` arguments; default ``output="text"``)."""
        circuits = self.circuits()
        if gate not in circuits:
            raise ValueError(
                f"{type(self).__name__}.draw: gate must be one of {', '.join(GATES)}, got {gate!r}"
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
        return self

    # -- computation ----------------------------------------------------------------------------
    def bind(self):
        """Bind the circuit weights once for a sequence; pass the result to :meth:`step`."""
        return self.executor.bind(self.weight_q.reshape(len(GATES), -1))

    def recurrence_weights(self, weight_hr: torch.Tensor | None = None) -> CellWeights:
        """The classical weights used inside the recurrence; ``weight_hr (proj_size,
        hidden_size)``: the projection, required exactly when ``proj_size > 0``."""
        owner = f"{type(self).__name__}"
        if self.proj_size == 0 and weight_hr is not None:
            raise ValueError(f"{owner}: weight_hr must be None when proj_size=0, got a tensor")
        if self.proj_size:
            shape = (self.proj_size, self.hidden_size)
            if not isinstance(weight_hr, torch.Tensor):
                raise TypeError(
                    f"{owner}: weight_hr must be a torch.Tensor of shape {shape} "
                    f"(proj_size={self.proj_size}), got {type(weight_hr).__name__}"
                )
            if tuple(weight_hr.shape) != shape:
                raise ValueError(
                    f"{owner}: weight_hr must have shape {shape}, got {tuple(weight_hr.shape)}"
                )
        return CellWeights(self.weight_hh, self.weight_out, self.bias_out, weight_hr)

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
        ``c (B, hidden)`` (``R``: see the class docstring)."""
        weights = self.recurrence_weights(weight_hr)
        return autograd_step(bound, self.gate_circuit, weights, x_projected, h, c)

    def run(
        self,
        projected: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        reverse: bool = False,
        weight_hr: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The cell over a sequence: ``projected (T, B, 4 * n_qubits)`` from
        :meth:`project_input`, states ``h (B, R)``, ``c (B, hidden)`` -> ``output (T, B, R),
        h, c`` (``reverse``: from the last step to the first; ``output[t]`` still belongs to step
        ``t``). An empty batch (``B = 0``, a shape, not data) evaluates no circuit: it returns
        empty results that, as in ``torch.nn.LSTM``, give every parameter a zero gradient.
        """
        weights = self.recurrence_weights(weight_hr)
        if projected.shape[1] == 0:
            return self._empty_batch(projected, h, c, weight_hr)
        return run_sequence(self.bind(), self.gate_circuit, weights, projected, h, c, reverse)

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
        :func:`~qlstm_qiskit.packed.packed_sequence`)."""
        weights = self.recurrence_weights(weight_hr)
        return packed_sequence(
            self.bind(), self.gate_circuit, weights, projected, batch_sizes, h, c, reverse
        )

    def forward(
        self,
        input: torch.Tensor,
        hx: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        weight_hr: torch.Tensor | None = None,
    ):
        owner = f"{type(self).__name__}.forward"
        check_tensor(owner, "input", input, self.weight_q.dtype, (1, 2))
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input must have last dimension input_size="
                f"{self.input_size}, got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        batch = (x.shape[0],) if batched else ()
        if hx is None:
            h = x.new_zeros(x.shape[0], self.state_size)
            c = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{owner}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            for name, state, size in zip(
                ("h_0", "c_0"), hx, (self.state_size, self.hidden_size), strict=True
            ):
                check_tensor(owner, name, state, x.dtype, (len(batch) + 1,))
                if tuple(state.shape) != (*batch, size):
                    raise ValueError(
                        f"{owner}: {name} must have shape {(*batch, size)}, got "
                        f"{tuple(state.shape)}"
                    )
            h, c = (state if batched else state.unsqueeze(0) for state in hx)
        projected = self.project_input(x).unsqueeze(0)
        _output, h, c = self.run(projected, h, c, weight_hr=weight_hr)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))

    def extra_repr(self) -> str:
        return describe(
            self,
            {"input_size": self.input_size, "hidden_size": self.hidden_size},
            {"bias": (self.bias, True), "proj_size": (self.proj_size, 0)},
        )


_SPEC_DEFAULTS = CircuitSpec()


def describe(
    module: nn.Module, positional: dict[str, Any], keywords: dict[str, tuple[Any, Any]]
) -> str:
    """``extra_repr`` text: positional values, then non-default keywords, circuit and backend."""
    parts = [str(v) for v in positional.values()]
    parts += [f"{k}={v!r}" for k, (v, default) in keywords.items() if v != default]
    spec = module.spec
    for field in (
        "n_qubits",
        "n_qlayers",
        "depth",
        "encoding",
        "rotation",
        "entangling",
        "measure",
    ):
        if getattr(spec, field) != getattr(_SPEC_DEFAULTS, field):
            parts.append(f"{field}={getattr(spec, field)!r}")
    parts.append(f"backend={module.backend!r}")
    return ", ".join(parts)
