"""The recurrence of one cell over the data of a ``PackedSequence``, as ``torch.nn.LSTM`` runs it.

A ``PackedSequence`` holds its sequences sorted longest first, time-major: step ``t`` is the rows
``offsets[t] : offsets[t] + batch_sizes[t]`` of ``data`` and belongs to the first
``batch_sizes[t]`` sequences. Each step therefore runs on the active prefix of the batch, and the
other sequences keep their state:

- forward: the active batch shrinks as sequences end, so each sequence's state stops at its own
  last element;
- reverse: the active batch grows as ``t`` goes down, so each sequence starts from its initial
  state at its own last element.

Both are the same update, ``h[:active] <- step(h[:active])``. The steps are the cell's own
per-step function (``QLSTMCell.step_with_output``: :func:`~qlstm_qiskit.recurrence.autograd_step`
or, for ``cell="chen"``, :func:`~qlstm_qiskit.recurrence.chen_step`; any backend, autograd,
projection included); a primitive backend gets one call per time step (two with
``cell="chen"``), with ``batch_sizes[t]`` rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch

#: one time step on the active rows: ``(x_projected (b, G n), h (b, R), c (b, H)) -> (output
#: (b, R), h, c)``
Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]


def packed_sequence(
    step: Step,
    projected: torch.Tensor,
    batch_sizes: Sequence[int],
    h: torch.Tensor,
    c: torch.Tensor,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run one cell over packed data.

    Args:
        step: the cell's step (:data:`Step`), its weights bound.
        projected: ``(N, G n)``, the input projections of the packed rows
            (``N = sum(batch_sizes)``).
        batch_sizes: the ``PackedSequence``'s batch sizes, one per time step (non-increasing).
        h, c: ``(B, R)`` and ``(B, H)`` initial states in the packed (sorted) order,
            ``B = batch_sizes[0]`` (``R = P`` with a projection, else ``H``).
        reverse: visit the time steps from the last to the first.

    Returns:
        ``output (N, R)`` in the packed layout of ``projected``, and ``h, c``: each sequence's
        state after its own last element (forward) or after its first element (reverse).
    """
    offsets = [0, *itertools.accumulate(batch_sizes)]
    steps = len(batch_sizes)
    outputs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        active = batch_sizes[t]
        rows = projected[offsets[t] : offsets[t + 1]]
        outputs[t], h_active, c_active = step(rows, h[:active], c[:active])
        if active == h.shape[0]:
            h, c = h_active, c_active
        else:
            h = torch.cat((h_active, h[active:]))
            c = torch.cat((c_active, c[active:]))
    return torch.cat(outputs), h, c
