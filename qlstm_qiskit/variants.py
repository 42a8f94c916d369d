"""The cell variants' options and their parameters: ``cell="lstm"`` (four VQCs, the default) or
``"chen"`` (Chen et al. 2020's six VQCs), and ``input_scaling`` (a trainable per-qubit scale of
the encoded angles). :class:`~qlstm_qiskit.cell.QLSTMCell` registers and initialises the
parameters of its variant here; the equations are in :mod:`~qlstm_qiskit.recurrence`
(:func:`~qlstm_qiskit.recurrence.chen_step`, :class:`~qlstm_qiskit.recurrence.CellWeights`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .recurrence import GATES, MAPS

#: the cell variants: today's four-VQC LSTM cell, or Chen et al. 2020's six-VQC cell.
CELLS = ("lstm", "chen")
#: the parameters a variant adds to a cell, ``M = len(MAPS) = 2`` rows for the chen maps.
VARIANT_PARAMETERS = (
    "input_scale",
    "weight_in_map",
    "bias_in_map",
    "weight_q_map",
    "weight_out_map",
    "bias_out_map",
    "input_scale_map",
)


def optional_parameter(present: bool, shape: tuple[int, ...], factory) -> nn.Parameter | None:
    """An uninitialised parameter of ``shape`` (``factory``: device and dtype), or ``None``."""
    return nn.Parameter(torch.empty(shape, **factory)) if present else None


def add_variant_parameters(cell: nn.Module, factory) -> None:
    """Set every name of :data:`VARIANT_PARAMETERS` on ``cell``: a parameter where its variant
    (``cell.cell``, ``cell.input_scaling``, ``cell.bias``) has it, else ``None``.

    ``input_scale (4, n_qubits)``; for ``cell="chen"`` the maps' twins of the gate parameters:
    ``weight_in_map (M n, H)``, ``bias_in_map (M n)``, ``weight_q_map (M, *spec.weight_shape)``,
    ``weight_out_map (M, H, n)``, ``bias_out_map (M, H)``, ``input_scale_map (M, n)``."""
    n, hidden, spec = cell.spec.n_qubits, cell.hidden_size, cell.spec
    chen, bias, scaled = cell.cell == "chen", cell.bias, cell.input_scaling
    maps = len(MAPS)
    shapes = {
        "input_scale": (scaled, (len(GATES), n)),
        "weight_in_map": (chen, (maps * n, hidden)),
        "bias_in_map": (chen and bias, (maps * n,)),
        "weight_q_map": (chen, (maps, *spec.weight_shape)),
        "weight_out_map": (chen, (maps, hidden, n)),
        "bias_out_map": (chen and bias, (maps, hidden)),
        "input_scale_map": (chen and scaled, (maps, n)),
    }
    for name in VARIANT_PARAMETERS:
        present, shape = shapes[name]
        setattr(cell, name, optional_parameter(present, shape, factory))


def reset_variant_parameters(cell: nn.Module, generator: torch.Generator | None) -> None:
    """Initialise the parameters of :func:`add_variant_parameters` (call under ``no_grad``, after
    the gates' parameters, so that a chen cell's gates start as an lstm cell's of the same seed):
    the maps like the gates (projections ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, circuit weights
    ``0.01 * N(0, 1)``), the input scales ones (an untrained scaled cell equals the unscaled one).
    """
    if cell.cell == "chen":
        uniform_(generator, (cell.weight_in_map, cell.bias_in_map), 1 / math.sqrt(cell.hidden_size))
        bound_out = 1 / math.sqrt(cell.spec.n_qubits)
        uniform_(generator, (cell.weight_out_map, cell.bias_out_map), bound_out)
        normal_(generator, cell.weight_q_map)
    for scale in (cell.input_scale, cell.input_scale_map):
        if scale is not None:
            scale.fill_(1.0)


def uniform_(generator: torch.Generator | None, params, bound: float) -> None:
    """``U(-bound, bound)`` into every parameter of ``params`` that exists, in order."""
    for param in params:
        if param is not None:
            values = torch.rand(param.shape, generator=generator, dtype=param.dtype)
            param.copy_((2 * values - 1) * bound)


def normal_(generator: torch.Generator | None, param: torch.Tensor) -> None:
    """``0.01 * N(0, 1)`` into ``param`` (circuit weights, like Chen et al.)."""
    param.copy_(0.01 * torch.randn(param.shape, generator=generator, dtype=param.dtype))
