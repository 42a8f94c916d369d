"""The model layer's argument checks (dtypes, tensors, ``proj_size`` and its ``weight_hr``,
shots) and ``extra_repr`` text, shared by :class:`~qlstm_qiskit.QLSTMCell` and
:class:`~qlstm_qiskit.QLSTM`. Only metadata is ever checked, never tensor values."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch
from torch import nn

from .checks import check_int
from .circuits import CircuitSpec

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


def check_forward_args(owner: str, cell: Any, input: Any, hx: Any):
    """``QLSTMCell.forward``'s arguments, like ``nn.LSTMCell``'s: ``input (B, input_size)`` or
    ``(input_size)``, ``hx = (h_0, c_0)`` of shapes ``(B, R)`` and ``(B, hidden_size)`` (without
    ``B`` for an unbatched input) or ``None`` (zeros). Returns ``x, h, c, batched`` with a batch
    dimension on all three."""
    check_tensor(owner, "input", input, cell.weight_q.dtype, (1, 2))
    if input.shape[-1] != cell.input_size:
        raise ValueError(
            f"{owner}: input must have last dimension input_size="
            f"{cell.input_size}, got shape {tuple(input.shape)}"
        )
    batched = input.dim() == 2
    x = input if batched else input.unsqueeze(0)
    if hx is None:
        h = x.new_zeros(x.shape[0], cell.state_size)
        return x, h, x.new_zeros(x.shape[0], cell.hidden_size), batched
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{owner}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
    batch = (x.shape[0],) if batched else ()
    for name, state, size in zip(
        ("h_0", "c_0"), hx, (cell.state_size, cell.hidden_size), strict=True
    ):
        check_tensor(owner, name, state, x.dtype, (len(batch) + 1,))
        if tuple(state.shape) != (*batch, size):
            raise ValueError(
                f"{owner}: {name} must have shape {(*batch, size)}, got {tuple(state.shape)}"
            )
    h, c = (state if batched else state.unsqueeze(0) for state in hx)
    return x, h, c, batched


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


def check_cell_projection(owner: str, cell: str, proj_size: int) -> None:
    """``proj_size`` must be 0 with ``cell="chen"``: that cell maps ``sigma(o) tanh(c)`` to
    ``h_t`` with a VQC, not with ``weight_hr``."""
    if cell == "chen" and proj_size:
        raise ValueError(
            f"{owner}: proj_size must be 0 with cell='chen' (the chen cell maps sigma(o) "
            f"tanh(c) to h_t with a VQC, not with weight_hr), got {proj_size}"
        )


def check_weight_hr(owner: str, weight_hr: Any, proj_size: int, hidden_size: int) -> None:
    """Require ``weight_hr`` to be ``None`` when ``proj_size`` is 0, else a tensor of shape
    ``(proj_size, hidden_size)``."""
    if proj_size == 0:
        if weight_hr is not None:
            raise ValueError(f"{owner}: weight_hr must be None when proj_size=0, got a tensor")
        return
    shape = (proj_size, hidden_size)
    if not isinstance(weight_hr, torch.Tensor):
        raise TypeError(
            f"{owner}: weight_hr must be a torch.Tensor of shape {shape} "
            f"(proj_size={proj_size}), got {type(weight_hr).__name__}"
        )
    if tuple(weight_hr.shape) != shape:
        raise ValueError(
            f"{owner}: weight_hr must have shape {shape}, got {tuple(weight_hr.shape)}"
        )


_SPEC_DEFAULTS = CircuitSpec()


def describe(
    module: nn.Module, positional: dict[str, Any], keywords: dict[str, tuple[Any, Any]]
) -> str:
    """``extra_repr`` text: positional values, then non-default keywords, circuit and backend."""
    parts = [str(v) for v in positional.values()]
    parts += [f"{k}={v!r}" for k, (v, default) in keywords.items() if v != default]
    spec = module.spec
    for field in (f.name for f in fields(CircuitSpec)):
        if getattr(spec, field) != getattr(_SPEC_DEFAULTS, field):
            parts.append(f"{field}={getattr(spec, field)!r}")
    parts.append(f"backend={module.backend!r}")
    return ", ".join(parts)
