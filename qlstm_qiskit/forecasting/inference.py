"""Inference over a whole dataset: one batch, so that a device gets one job per time step.

On a device backend (``fake_<device>``, ``ibm_<device>``) every time step of every layer is one
estimator call, whatever the batch size; running the whole dataset as ONE batch therefore submits
``T × num_layers`` jobs for ``T`` time steps (``2 T × num_layers`` with ``cell="chen"``, whose
two maps are a second call per step), never one per sample or per gate. A step is split
over several jobs only where its ``rows × shots`` exceed the backend's ``max_executions`` (a cap
the user may set; none by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..backends.cost import CostPreview


def predict_dataset(
    model: torch.nn.Module, inputs: torch.Tensor, *, batch_size: int | None = None
) -> torch.Tensor:
    """``model(inputs)`` in evaluation mode without gradients, all of ``inputs`` as one batch
    (``batch_size=None``) or in chunks of ``batch_size`` along dimension 0 (more jobs on a
    device). A model returning a tuple (e.g. a :class:`~qlstm_qiskit.QLSTM`) gives its first
    element; chunks require a batch-first model. ``(N, ...) -> (N, ...)``: the model's output
    for all ``N`` rows, in order."""
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(
            f"predict_dataset: batch_size must be None or an int >= 1, got {batch_size!r}"
        )
    model.eval()
    chunks = [inputs] if batch_size is None else inputs.split(batch_size)
    outputs = []
    with torch.no_grad():
        for chunk in chunks:
            output = model(chunk)
            outputs.append(output[0] if isinstance(output, tuple) else output)
    return torch.cat(outputs) if len(outputs) > 1 else outputs[0]


def preview_work(model: torch.nn.Module, work: Callable[[], Any]) -> CostPreview:
    """What ``work()`` would submit on the device backends of ``model`` (a dry run: nothing is
    submitted, the estimators answer zeros): jobs, circuits, shots and estimated QPU seconds."""
    # imported here: the device layer loads qiskit-machine-learning, which a forecaster on
    # ``statevector`` never needs
    from ..backends.devices import preview

    with preview(model) as cost:
        work()
    return cost


def preview_dataset(
    model: torch.nn.Module, inputs: torch.Tensor, *, batch_size: int | None = None
) -> CostPreview:
    """What :func:`predict_dataset` would submit (see :func:`preview_work`)."""
    return preview_work(model, lambda: predict_dataset(model, inputs, batch_size=batch_size))
