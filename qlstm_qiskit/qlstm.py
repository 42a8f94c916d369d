"""``QLSTM``: a multi-layer, optionally bidirectional quantum LSTM with ``torch.nn.LSTM``'s
contract."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from qiskit import QuantumCircuit
from torch import nn

from .backends import QuantumBackend, resolve_backend
from .cell import QLSTMCell, check_dtype, check_tensor, describe, shots_option
from .checks import check_bool, check_choice, check_fraction, check_int, check_seed
from .circuits import CircuitSpec
from .variants import CELLS


class QLSTM(nn.Module):
    r"""A multi-layer quantum LSTM (Chen et al. 2020, the TQ42 QLSTM layer) for PyTorch.

    Every layer and direction is a :class:`QLSTMCell`: each of its four gates (input, forget, cell,
    output) projects ``concat(h_{t-1}, x_t)`` to one feature per qubit, runs a variational Qiskit
    circuit and projects the ``n_qubits`` expectation values to ``hidden_size``; then
    ``c_t = sigma(f) * c_{t-1} + sigma(i) * tanh(g)`` and ``h_t = sigma(o) * tanh(c_t)``.
    Equivalent to::

        for layer in range(num_layers):             # dropout between layers when training
            for t in range(T):                      # t in reversed order for inversward / reverse
                h, c = cell_l{layer}(x[t], (h, c))

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as in
            ``torch.nn.LSTM`` (no ``proj_size``).
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
    ``batch_first`` or ``(T, input_size)`` unbatched; ``h_0, c_0`` are
    ``(D * num_layers, B, hidden_size)`` (``(D * num_layers, hidden_size)`` unbatched), zeros if
    omitted; ``D = 2`` if bidirectional else 1. ``batch_first`` does not apply to the states.

    Outputs: ``output, (h_n, c_n)``: ``output`` is ``(T, B, D * hidden_size)`` (batch first or
    unbatched like the input), the two directions concatenated; ``h_n, c_n`` like ``h_0``.

    Parameters: ``cell_l{k}`` (and ``cell_l{k}_reverse``) for layer ``k``, each a
    :class:`QLSTMCell` with ``weight_ih, weight_hh, bias_in, weight_q, weight_out, bias_out``
    (layer 0: ``input_size`` inputs; later layers ``D * hidden_size``), plus ``input_scale``
    with ``input_scaling`` and the maps' ``*_map`` parameters with ``cell="chen"`` (the table in
    :class:`QLSTMCell`), e.g. ``cell_l0.weight_q_map``.
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
        self.inversward = check_bool(owner, "inversward", inversward)
        self.cell = check_choice(owner, "cell", cell, CELLS)
        self.input_scaling = check_bool(owner, "input_scaling", input_scaling)
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
        circuit = {
            field: getattr(self.spec, field)
            for field in (
                "n_qubits",
                "n_qlayers",
                "depth",
                "encoding",
                "rotation",
                "entangling",
                "measure",
            )
        }
        self._cell_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                name = f"cell_l{layer}" + ("_reverse" if direction else "")
                cell = QLSTMCell(
                    layer_input,
                    hidden_size,
                    bias,
                    cell=self.cell,
                    input_scaling=self.input_scaling,
                    backend=self.backend,
                    device=device,
                    dtype=dtype,
                    **circuit,
                )
                self.add_module(name, cell)
                self._cell_names.append(name)
        self.reset_parameters()

    def cells(self) -> list[QLSTMCell]:
        """The cells in state order: layer 0 (forward, reverse), layer 1, ..."""
        return [getattr(self, name) for name in self._cell_names]

    def reset_parameters(self) -> None:
        """Re-initialise every cell (seeded by ``seed`` when given; see
        :meth:`QLSTMCell.reset_parameters`)."""
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        for cell in self.cells():
            cell.reset_parameters(generator)

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
        owner = "QLSTM.forward"
        layers = self.num_layers * self.num_directions
        shape = (layers, batch, self.hidden_size) if batched else (layers, self.hidden_size)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{owner}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        for name, state in zip(("h_0", "c_0"), hx, strict=True):
            check_tensor(owner, name, state, dtype, (len(shape),))
            if tuple(state.shape) != shape:
                raise ValueError(
                    f"{owner}: {name} must have shape {shape}, got {tuple(state.shape)}"
                )
        return tuple(state if batched else state.unsqueeze(1) for state in hx)

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        owner = "QLSTM.forward"
        check_tensor(owner, "input", input, self.cells()[0].weight_q.dtype, (2, 3))
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input must have last dimension input_size="
                f"{self.input_size}, got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 3
        x = (
            input.unsqueeze(1)
            if not batched
            else input.transpose(0, 1)
            if self.batch_first
            else input
        )
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0 or batch == 0:
            raise ValueError(
                f"{owner}: input must have at least one time step and one sequence, "
                f"got shape {tuple(input.shape)}"
            )
        if hx is None:
            zeros = x.new_zeros(self.num_layers * self.num_directions, batch, self.hidden_size)
            h0, c0 = zeros, zeros
        else:
            h0, c0 = self._check_states(hx, batch, batched, x.dtype)
        cells = self.cells()
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                reverse = bool(direction) != self.inversward
                out, h, c = self._run(cells[index], x, h0[index], c0[index], reverse)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        output = x if batched else x.squeeze(1)
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        h_n, c_n = torch.stack(h_n), torch.stack(c_n)
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)

    @staticmethod
    def _run(cell: QLSTMCell, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, reverse: bool):
        """One direction of one layer over ``x (T, B, features)``; returns ``(T, B, H), h, c``."""
        return cell.run(cell.project_input(x), h, c, reverse)  # projections of all steps at once

    def extra_repr(self) -> str:
        keywords = {
            "num_layers": (self.num_layers, 1),
            "bias": (self.bias, True),
            "batch_first": (self.batch_first, False),
            "dropout": (self.dropout, 0.0),
            "bidirectional": (self.bidirectional, False),
            "inversward": (self.inversward, False),
            "cell": (self.cell, "lstm"),
            "input_scaling": (self.input_scaling, False),
        }
        return describe(
            self, {"input_size": self.input_size, "hidden_size": self.hidden_size}, keywords
        )
