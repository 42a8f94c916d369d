"""``QLSTM``: a multi-layer, optionally bidirectional quantum LSTM with ``torch.nn.LSTM``'s
contract."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from qiskit import QuantumCircuit
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .backends import QuantumBackend, resolve_backend
from .cell import QLSTMCell
from .cell_checks import (
    check_cell_projection,
    check_dtype,
    check_proj_size,
    check_tensor,
    describe,
    shots_option,
)
from .checks import check_bool, check_choice, check_fraction, check_int, check_seed
from .circuits import CircuitSpec
from .variants import CELLS


class QLSTM(nn.Module):
    r"""A multi-layer quantum LSTM (Chen et al. 2020, the TQ42 QLSTM layer) for PyTorch.

    Every layer and direction is a :class:`QLSTMCell`: each of its four gates (input, forget, cell,
    output) projects ``concat(h_{t-1}, x_t)`` to one feature per qubit, runs a variational Qiskit
    circuit and projects the ``n_qubits`` expectation values to ``hidden_size``; then
    ``c_t = sigma(f) * c_{t-1} + sigma(i) * tanh(g)`` and ``h_t = sigma(o) * tanh(c_t)``; with
    ``proj_size > 0``, ``h_t = W_hr (sigma(o) * tanh(c_t))`` (``W_hr = weight_hr_l{k}``), and the
    projected ``h_t`` is fed back. Equivalent to::

        for layer in range(num_layers):             # dropout between layers when training
            for t in range(T):                      # t in reversed order for inversward / reverse
                h, c = cell_l{layer}(x[t], (h, c), weight_hr=weight_hr_l{layer})  # if proj_size

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size: as in ``torch.nn.LSTM`` (``0 <= proj_size < hidden_size``).
        inversward: read the sequence in inverse order: a reverse-time pass whose ``output[t]``
            still belongs to ``input[t]``; ``h_n`` is then the state after ``input[0]``. With
            ``bidirectional`` the two passes swap directions.
        cell: ``"lstm"`` (four VQCs, the default) or ``"chen"``: Chen et al. 2020's six VQCs,
            ``m_t = sigma(o) * tanh(c_t)``, ``h_t = VQC5(m_t)`` the recurrent state and
            ``y_t = VQC6(m_t)`` the output. With ``"chen"``, ``output[t]`` is ``y_t`` and
            ``h_n`` is ``h_t``: ``output[-1] != h_n``; the next layer reads ``y``. It runs on
            the autograd path, and a primitive backend makes 2 primitive calls per time step.
        input_scaling: a trainable scale per gate and qubit of the encoded angles,
            ``angle = s * enc(z)`` (parameter ``input_scale``, initialised to ones).
        n_qubits, n_qlayers, depth, encoding, rotation, entangling, measure: the gate circuit (see
            :class:`QLSTMCell` and :mod:`qlstm_qiskit.circuits`); all layers share its layout.
        backend: a name from :func:`qlstm_qiskit.list_backends` or a backend object.
        shots: shots per circuit evaluation, passed to a named sampling backend (``None``: the
            profile's default; rejected by exact backends such as ``statevector``).
        seed: seeds the parameter initialisation (``None``: torch's global generator).
        device, dtype: of the parameters; dtype float32 or float64 (``None``: torch's default).

    Inputs: ``input, (h_0, c_0)``: ``input`` is ``(T, B, input_size)``, ``(B, T, input_size)`` with
    ``batch_first``, ``(T, input_size)`` unbatched, or a ``PackedSequence`` (from
    ``torch.nn.utils.rnn.pack_padded_sequence`` or ``pack_sequence``, sorted or with
    ``enforce_sorted=False``); ``h_0`` is ``(D * num_layers, B, R)`` and ``c_0``
    ``(D * num_layers, B, hidden_size)`` (without ``B`` unbatched), zeros if omitted; ``D = 2``
    if bidirectional else 1, ``R = proj_size`` if it is non-zero else ``hidden_size``.
    ``batch_first`` applies neither to the states nor to a ``PackedSequence``; with a
    ``PackedSequence`` the states are in the order of the original batch. ``T >= 1`` is required
    (``torch.nn.LSTM`` refuses ``T = 0`` too); ``B = 0`` gives empty outputs and runs no circuit.

    Outputs: ``output, (h_n, c_n)``: ``output`` is ``(T, B, D * R)`` (batch first or unbatched like
    the input; a ``PackedSequence`` with the input's ``batch_sizes``, ``sorted_indices`` and
    ``unsorted_indices`` for a packed input), the two directions concatenated; ``h_n, c_n`` like
    ``h_0, c_0``. With a ``PackedSequence`` each sequence's state stops at its own last element,
    and the reverse direction (and ``inversward``) starts at it.

    No check reads the data (NaN propagates as in ``torch.nn.LSTM``), so ``forward`` never waits
    for the device and works under ``torch.export.export`` and ``torch.compile``: while they
    trace, the recurrence takes its pure-torch path (the fused path computes in NumPy; see
    ``qlstm_qiskit.recurrence.run_sequence``). With ``proj_size > 0`` (the fused path's
    hand-written backward has no projection) or a ``PackedSequence`` it takes that path too.

    Parameters: ``cell_l{k}`` (and ``cell_l{k}_reverse``) for layer ``k``, each a
    :class:`QLSTMCell` with ``weight_ih, weight_hh, bias_in, weight_q, weight_out, bias_out``
    (layer 0: ``input_size`` inputs; later layers ``D * R``; ``weight_hh`` takes ``R``), plus
    ``input_scale`` with ``input_scaling`` and the maps' ``*_map`` parameters with
    ``cell="chen"`` (the table in :class:`QLSTMCell`), e.g. ``cell_l0.weight_q_map``; with
    ``proj_size > 0`` also ``weight_hr_l{k}`` (and ``weight_hr_l{k}_reverse``) of shape
    ``(proj_size, hidden_size)``, registered on the ``QLSTM`` under ``torch.nn.LSTM``'s names
    (none when ``proj_size = 0``).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        inversward: bool = False,
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
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = check_int(owner, "input_size", input_size, 1)
        self.hidden_size = check_int(owner, "hidden_size", hidden_size, 1)
        self.num_layers = check_int(owner, "num_layers", num_layers, 1)
        self.bias = check_bool(owner, "bias", bias)
        self.batch_first = check_bool(owner, "batch_first", batch_first)
        self.dropout = check_fraction(owner, "dropout", dropout)
        self.bidirectional = check_bool(owner, "bidirectional", bidirectional)
        self.proj_size = check_proj_size(owner, proj_size, self.hidden_size)
        #: features of the recurrent state ``h``: ``proj_size`` if non-zero, else ``hidden_size``
        self.state_size = proj_size or hidden_size
        self.inversward = check_bool(owner, "inversward", inversward)
        self.cell = check_choice(owner, "cell", cell, CELLS)
        self.input_scaling = check_bool(owner, "input_scaling", input_scaling)
        check_cell_projection(owner, self.cell, self.proj_size)
        self.spec = CircuitSpec.checked(
            owner,
            n_qubits=n_qubits,
            n_qlayers=n_qlayers,
            depth=depth,
            encoding=encoding,
            rotation=rotation,
            entangling=entangling,
            measure=measure,
        )
        self.seed = check_seed(owner, seed)
        self.backend = resolve_backend(owner, backend, shots_option(owner, shots))
        dtype = check_dtype(owner, dtype)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "QLSTM: dropout > 0 adds dropout after every layer but the last, so it "
                f"has no effect with num_layers=1 (got dropout={dropout})",
                stacklevel=2,
            )
        self.num_directions = 2 if bidirectional else 1
        circuit = asdict(self.spec)  # the circuit layout, passed to every cell
        self._cell_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else self.state_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"l{layer}" + ("_reverse" if direction else "")
                name = f"cell_{suffix}"
                cell = QLSTMCell(
                    layer_input,
                    hidden_size,
                    bias,
                    cell=self.cell,
                    input_scaling=self.input_scaling,
                    backend=self.backend,
                    device=device,
                    dtype=dtype,
                    proj_size=proj_size,
                    **circuit,
                )
                self.add_module(name, cell)
                self._cell_names.append(name)
                if proj_size:
                    projection = torch.empty(proj_size, hidden_size, device=device, dtype=dtype)
                    self.register_parameter(f"weight_hr_{suffix}", nn.Parameter(projection))
        self.reset_parameters()

    def cells(self) -> list[QLSTMCell]:
        """The cells in state order: layer 0 (forward, reverse), layer 1, ..."""
        return [getattr(self, name) for name in self._cell_names]

    def projections(self) -> list[torch.Tensor | None]:
        """The projections ``weight_hr_l{k}`` in state order (``None`` each when
        ``proj_size = 0``)."""
        return [
            getattr(self, name.replace("cell_", "weight_hr_")) if self.proj_size else None
            for name in self._cell_names
        ]

    def reset_parameters(self) -> None:
        """Re-initialise every cell (seeded by ``seed`` when given; see
        :meth:`QLSTMCell.reset_parameters`), then the projections ``U(-1/sqrt(hidden_size),
        1/sqrt(hidden_size))`` like ``torch.nn.LSTM``'s."""
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        for cell in self.cells():
            cell.reset_parameters(generator)
        bound = 1 / self.hidden_size**0.5
        with torch.no_grad():
            for projection in self.projections():
                if projection is not None:
                    values = torch.rand(
                        projection.shape, generator=generator, dtype=projection.dtype
                    )
                    projection.copy_((2 * values - 1) * bound)

    def circuits(self) -> dict[str, QuantumCircuit]:
        """The gate circuits by name (four; six with ``cell="chen"``, see
        :meth:`QLSTMCell.circuits`); all cells share them (each binds its own weights)."""
        return self.cells()[0].circuits()

    def draw(self, gate: str = "input", **kwargs: Any):
        """Draw one circuit of :meth:`circuits` by name (``QuantumCircuit.draw`` arguments;
        default ``output="text"``)."""
        return self.cells()[0].draw(gate, **kwargs)

    def set_backend(self, backend: str | QuantumBackend, **options: Any) -> QLSTM:
        """Run the same weights on another backend; returns ``self``. The backend is resolved
        and every cell's circuit compiled before anything changes: on an error (an unknown name
        or option, a circuit the device cannot run) the model is exactly as before."""
        owner = "QLSTM.set_backend"
        resolved = resolve_backend(owner, backend, options)
        executors = [cell.compile_for(resolved, owner) for cell in self.cells()]
        for cell, executor in zip(self.cells(), executors, strict=True):
            cell.backend, cell.executor = resolved, executor
        self.backend = resolved
        return self

    def _check_states(self, hx: Any, batch: int, batched: bool, dtype: torch.dtype):
        """``hx`` checked (metadata only) -> ``h_0 (D L, B, R)``, ``c_0 (D L, B, H)``."""
        owner = "QLSTM.forward"
        layers = (
            (self.num_layers * self.num_directions, batch)
            if batched
            else (self.num_layers * self.num_directions,)
        )
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{owner}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        for name, state, size in zip(
            ("h_0", "c_0"), hx, (self.state_size, self.hidden_size), strict=True
        ):
            shape = (*layers, size)
            check_tensor(owner, name, state, dtype, (len(shape),))
            if tuple(state.shape) != shape:
                raise ValueError(
                    f"{owner}: {name} must have shape {shape}, got {tuple(state.shape)}"
                )
        return tuple(state if batched else state.unsqueeze(1) for state in hx)

    def _check_input(self, name: str, value: Any, dims: tuple[int, ...]) -> None:
        owner = "QLSTM.forward"
        check_tensor(owner, name, value, self.cells()[0].weight_q.dtype, dims)
        if value.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: {name} must have last dimension input_size="
                f"{self.input_size}, got shape {tuple(value.shape)}"
            )

    def forward(
        self,
        input: torch.Tensor | PackedSequence,
        hx: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        owner = "QLSTM.forward"
        batch_sizes = None
        if isinstance(input, PackedSequence):  # as torch.nn.LSTM: unpack here, re-pack at the end
            x, packed_sizes, sorted_indices, unsorted_indices = input
            self._check_input("input.data", x, (2,))
            batch_sizes = packed_sizes.tolist()  # always on the CPU: no device synchronisation
            batched, batch = True, batch_sizes[0]
        else:
            self._check_input("input", input, (2, 3))
            batched = input.dim() == 3
            x = (
                input.unsqueeze(1)
                if not batched
                else input.transpose(0, 1)
                if self.batch_first
                else input
            )
            if x.shape[0] == 0:
                raise ValueError(
                    f"{owner}: input must have at least one time step (torch.nn.LSTM refuses an "
                    f"empty sequence too), got shape {tuple(input.shape)}"
                )
            batch = x.shape[1]
        layers = self.num_layers * self.num_directions
        if hx is None:
            h0 = x.new_zeros(layers, batch, self.state_size)
            c0 = x.new_zeros(layers, batch, self.hidden_size)
        else:
            h0, c0 = self._check_states(hx, batch, batched, x.dtype)
            if batch_sizes is not None and sorted_indices is not None:
                h0, c0 = h0.index_select(1, sorted_indices), c0.index_select(1, sorted_indices)
        cells, projections = self.cells(), self.projections()
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                cell, weight_hr = cells[index], projections[index]
                reverse = bool(direction) != self.inversward
                projected = cell.project_input(x)  # the projections of all steps at once
                if batch_sizes is None:
                    out, h, c = cell.run(projected, h0[index], c0[index], reverse, weight_hr)
                else:
                    out, h, c = cell.run_packed(
                        projected, batch_sizes, h0[index], c0[index], reverse, weight_hr
                    )
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        h_n, c_n = torch.stack(h_n), torch.stack(c_n)
        if batch_sizes is not None:
            if unsorted_indices is not None:  # the states back in the order of the input batch
                h_n, c_n = (
                    h_n.index_select(1, unsorted_indices),
                    c_n.index_select(1, unsorted_indices),
                )
            output = PackedSequence(x, packed_sizes, sorted_indices, unsorted_indices)
            return output, (h_n, c_n)
        output = x if batched else x.squeeze(1)
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)

    def extra_repr(self) -> str:
        keywords = {
            "num_layers": (self.num_layers, 1),
            "bias": (self.bias, True),
            "batch_first": (self.batch_first, False),
            "dropout": (self.dropout, 0.0),
            "bidirectional": (self.bidirectional, False),
            "proj_size": (self.proj_size, 0),
            "inversward": (self.inversward, False),
            "cell": (self.cell, "lstm"),
            "input_scaling": (self.input_scaling, False),
        }
        return describe(
            self, {"input_size": self.input_size, "hidden_size": self.hidden_size}, keywords
        )
